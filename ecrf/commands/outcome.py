"""What a successful command returns to its caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from events import EventStore, RecordedEvent
from events.checkpoints import receipt_for


@dataclass(frozen=True)
class Outcome:
    """The appended (or, on a retried request, the first) event's identifiers."""

    subject_id: str
    entry_id: str | None
    position: int
    stream_version: int
    replayed: bool = False
    events: tuple[RecordedEvent, ...] = field(default=(), repr=False, compare=False)
    #: The signed checkpoint of the head right after the write (its own last event): a pure
    #: function of that event and the key, so a replayed request gets the very same receipt.
    receipt: dict[str, Any] | None = field(default=None, compare=False)

    @classmethod
    def of(cls, event: RecordedEvent, *, replayed: bool = False,
           events: tuple[RecordedEvent, ...] = (),
           receipt: dict[str, Any] | None = None) -> Outcome:
        return cls(event.stream_id, event.data.get("entry_id"), event.position,
                   event.stream_version, replayed, events, receipt)


def write_receipt(store: EventStore, last: RecordedEvent) -> dict[str, Any] | None:
    """The receipt of a write whose last event is ``last`` (None on an unsigned store)."""
    return receipt_for(last, store.signer) if store.signer is not None else None


def replayed_outcome(store: EventStore, first: RecordedEvent) -> Outcome:
    """The outcome of an earlier write, found by its first event, with that write's receipt."""
    last = store.appended_with(first)[-1] if store.signer is not None else first
    return Outcome.of(first, replayed=True, receipt=write_receipt(store, last))
