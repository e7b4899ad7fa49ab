"""What a successful command returns to its caller."""

from __future__ import annotations

from dataclasses import dataclass, field

from events import RecordedEvent


@dataclass(frozen=True)
class Outcome:
    """The appended (or, on a retried request, the first) event's identifiers."""

    subject_id: str
    entry_id: str | None
    position: int
    stream_version: int
    replayed: bool = False
    events: tuple[RecordedEvent, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def of(cls, event: RecordedEvent, *, replayed: bool = False,
           events: tuple[RecordedEvent, ...] = ()) -> Outcome:
        return cls(event.stream_id, event.data.get("entry_id"), event.position,
                   event.stream_version, replayed, events)
