"""From events to the rows of the trial-wide audit and query read models (pure: no database).

The audit rows are those of ``projections.audit_trail.audit_rows`` (the same ``event_rows``
step), kept as JSON text beside the columns the filters use, so that the read model answers
byte-for-byte what the fold answers. An event's rows depend only on its subject's casebook
just before it, so they never change once written: catching up appends the new events' rows.
Queries change as the subject's stream grows: they are re-derived from the subject's casebook.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from events import RecordedEvent
from projections.audit_trail import event_rows
from projections.casebook import REGISTRATION, Casebook, apply

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """A moment as whole microseconds since 1970 UTC: exact, and compared alike everywhere."""
    return (moment - EPOCH) // MICROSECOND


def audit_records(book: Casebook, event: RecordedEvent) -> list[dict[str, Any]]:
    """The ``rm_audit_rows`` rows of one event, given the casebook just before it."""
    records: list[dict[str, Any]] = []
    for seq, row in enumerate(event_rows(book, event)):
        if not records:  # the filter compares datetime.fromisoformat(row["recorded_at"])
            recorded_us = micros(datetime.fromisoformat(row["recorded_at"]))
        records.append({
            "position": row["position"], "seq": seq, "subject_id": row["subject_id"],
            "site_id": row["site_id"], "actor": row["actor"], "role": row["role"],
            "event_type": row["event_type"], "recorded_us": recorded_us,
            "row": json.dumps(row, ensure_ascii=False)})
    return records


#: How the API's JSON provider writes a body (Flask's default: sorted keys, compact, ASCII).
API_JSON: dict[str, Any] = {"ensure_ascii": True, "sort_keys": True, "separators": (",", ":")}


def query_records(book: Casebook, registered_position: int) -> list[dict[str, Any]]:
    """The ``rm_queries`` rows of one casebook, one per query, in the order opened.

    ``row`` is the query with its ``subject_id`` as the API writes it (``API_JSON``), so a
    list can be answered without decoding and encoding every row again; only ``age_days``,
    which depends on the moment of the request, is added then (its key sorts first).
    """
    return [{"subject_id": book.subject_id, "query_id": query.query_id,
             "site_id": book.site_id, "registered_position": registered_position,
             "opened_position": query.opened_position, "state": query.state,
             "opened_us": micros(datetime.fromisoformat(query.opened_at)),
             "row": json.dumps({**query.to_dict(), "subject_id": book.subject_id},
                               **API_JSON)}
            for query in book.workflow.queries.values()]


@dataclass
class SubjectFold:
    """A subject's casebook, where its stream starts, and the audit rows after a position."""

    book: Casebook
    registered_position: int
    audit: list[dict[str, Any]] = field(default_factory=list)


def fold_subject(events: Sequence[RecordedEvent], after: int,
                 casebook_of: Callable[[Sequence[RecordedEvent]], Casebook | None] | None = None
                 ) -> SubjectFold | None:
    """Fold one stream as ``audit_rows`` does; keep the audit rows of events after ``after``.

    With ``casebook_of`` (projections.casebook_cache), the events up to ``after`` are not
    folded again: their casebook is taken from it (a fork), and only the later ones applied.
    None when the stream is no subject's (it does not start with a registration).
    """
    fold: SubjectFold | None = None
    if casebook_of is not None and events and events[0].type == REGISTRATION \
            and events[0].position <= after:
        done = bisect.bisect_right([e.position for e in events], after)
        book = casebook_of(events[:done])
        if book is not None:
            fold = SubjectFold(book, events[0].position)
            events = events[done:]
    for event in events:
        if event.type == REGISTRATION and event.stream_version == 1:
            values = event.data["values"]
            fold = SubjectFold(Casebook(values["subject_id"], values["site_id"]), event.position)
        if fold is None:
            continue
        if event.position > after:
            fold.audit.extend(audit_records(fold.book, event))
        apply(fold.book, event)
    return fold
