"""What a successful command returns to its caller."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from events import EventStore, RecordedEvent
from events.checkpoints import receipt_for

#: Events that record (or change) a form entry: their answer shows derived values and the
#: automatic queries the write opened.
ENTRY_WRITES = frozenset({"EntryCorrected", "EntryVoided"})
#: The metadata key by which a system query names the write whose edit check opened it.
CAUSED_BY = "caused_by_position"


@dataclass(frozen=True)
class Outcome:
    """What a write created, named as it is: the entry (forms, corrections, voids, source
    verification) or the query (query steps); the derived values and automatic queries of an
    entry write; the signed receipt."""

    subject_id: str
    entry_id: str | None
    position: int
    stream_version: int
    replayed: bool = False
    events: tuple[RecordedEvent, ...] = field(default=(), repr=False, compare=False)
    #: The signed checkpoint of the head right after the write (its own last event): a pure
    #: function of that event and the key, so a replayed request gets the very same receipt.
    receipt: dict[str, Any] | None = field(default=None, compare=False)
    query_id: str | None = None
    derived: dict[str, Any] | None = field(default=None, compare=False)
    #: The queries the edit checks opened because of this write ({query_id, entry_id, field,
    #: check, text}); None for writes that are not entries.
    automatic_queries: tuple[dict[str, Any], ...] | None = field(default=None, compare=False)

    @classmethod
    def of(cls, event: RecordedEvent, *, replayed: bool = False,
           events: tuple[RecordedEvent, ...] = (),
           receipt: dict[str, Any] | None = None, last: RecordedEvent | None = None
           ) -> Outcome:
        """The outcome of a write whose first event is ``event`` (and last ``last``, or the
        last of ``events``): its position is the first event's, its stream version the
        casebook's after the whole write, so it can be sent back as If-Match."""
        data = event.data
        entry_write = _is_entry_write(event)
        final = last or (events[-1] if events else event)
        return cls(event.stream_id, None if event.type.startswith("Query") else
                   data.get("entry_id"), event.position, final.stream_version, replayed,
                   events, receipt, query_id=data.get("query_id"),
                   derived=dict(data.get("derived") or {}) if entry_write else None,
                   automatic_queries=() if entry_write else None)


def _is_entry_write(event: RecordedEvent) -> bool:
    data = event.data
    return event.type in ENTRY_WRITES or ("entry_id" in data and "form" in data
                                          and "values" in data)


def automatic_queries_of(events: list[RecordedEvent], write_position: int
                         ) -> tuple[dict[str, Any], ...]:
    """The automatic queries that name ``write_position`` as their cause, in log order."""
    return tuple({"query_id": e.data["query_id"], "entry_id": e.data["entry_id"],
                  "field": e.data.get("field"), "check": e.data.get("automatic"),
                  "text": e.data.get("text")}
                 for e in events if e.type == "QueryOpened"
                 and e.metadata.get(CAUSED_BY) == write_position)


def write_receipt(store: EventStore, last: RecordedEvent) -> dict[str, Any] | None:
    """The receipt of a write whose last event is ``last`` (None on an unsigned store)."""
    return receipt_for(last, store.signer) if store.signer is not None else None


def replayed_outcome(store: EventStore, first: RecordedEvent) -> Outcome:
    """The outcome of an earlier write, found by its first event, with that write's receipt
    and the automatic queries it opened: the first answer again, from the log alone."""
    last = store.appended_with(first)[-1]
    outcome = Outcome.of(first, replayed=True, receipt=write_receipt(store, last), last=last)
    if outcome.automatic_queries is None:
        return outcome
    later = [e for e in store.read_stream(first.stream_id) if e.position > last.position]
    return replace(outcome, automatic_queries=automatic_queries_of(later, last.position))
