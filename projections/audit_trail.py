"""The field-level audit trail: who changed which value of which entry, when, why, from what.

A pure fold over a subject's events: one row per field entered, corrected, cleared or voided,
plus one row per workflow step (query, verification, signature, lock), so that an inspector can
reconstruct every value and its history (21 CFR 11.10(e): earlier values never obscured).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from events import RecordedEvent
from projections.casebook import REGISTRATION, Casebook, apply

COLUMNS = ("position", "recorded_at", "subject_id", "site_id", "entry_id", "form", "visit", "field",
           "old_value", "new_value", "action", "event_type", "actor", "role", "reason")
WORKFLOW_ACTIONS = {
    "QueryOpened": "query_opened", "QueryAnswered": "query_answered",
    "QueryClosed": "query_closed", "QueryReopened": "query_reopened",
    "QueryCancelled": "query_cancelled", "EntryVerified": "verified",
    "CasebookSigned": "signed", "CasebookLocked": "locked", "CasebookUnlocked": "unlocked",
}


def audit_rows(events: Iterable[RecordedEvent]) -> Iterator[dict[str, Any]]:
    """Yield the audit rows of the subject streams among ``events`` (in position order)."""
    books: dict[str, Casebook] = {}
    for event in events:
        book = books.get(event.stream_id)
        if event.type == REGISTRATION and event.stream_version == 1:
            book = books[event.stream_id] = Casebook(event.data["values"]["subject_id"],
                                                      event.data["values"]["site_id"])
        if book is None:
            continue
        yield from event_rows(book, event)
        apply(book, event)


def event_rows(book: Casebook, event: RecordedEvent) -> Iterator[dict[str, Any]]:
    """Yield the audit rows of one event, given the casebook as it was just before it."""
    head, tails = event_parts(book, event)
    for tail in tails:
        yield {**head, **tail}


def event_parts(book: Casebook, event: RecordedEvent
                ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One event's audit rows as the keys they share and the keys that follow in each:
    row = ``{**head, **tail}``, head's keys first and never repeated in a tail, so that a row's
    JSON text is the head's text followed by the tail's (``readmodel.trail.stored_texts``)."""
    data, meta = event.data, event.metadata
    head = {"position": event.position, "recorded_at": event.recorded_at.isoformat(),
            "subject_id": book.subject_id, "site_id": book.site_id, "event_type": event.type,
            "actor": meta.get("actor"), "role": meta.get("role"),
            "reason": data.get("reason") or meta.get("reason")}
    if "entry_id" in data and "values" in data and "form" in data:
        values = data["values"]
        head.update(entry_id=data["entry_id"], form=data["form"], visit=values.get("visit"))
        return head, [{"field": field, "old_value": None, "new_value": value,
                       "action": "entered"} for field, value in values.items()]
    if event.type == "EntryCorrected":
        entry = book.entries[data["entry_id"]]
        head.update(entry_id=entry.entry_id, form=entry.form, visit=entry.visit)
        return head, [{"field": field, "old_value": entry.values.get(field),
                       "new_value": value, "action": "cleared" if value is None else "corrected"}
                      for field, value in data["changes"].items()]
    if event.type == "EntryVoided":
        entry = book.entries[data["entry_id"]]
        head.update(entry_id=entry.entry_id, form=entry.form, visit=entry.visit)
        return head, [{"field": None, "old_value": None, "new_value": None, "action": "voided"}]
    if event.type in WORKFLOW_ACTIONS:
        return head, [{**_workflow_target(book, event), "action": WORKFLOW_ACTIONS[event.type]}]
    return head, []


def _workflow_target(book: Casebook, event: RecordedEvent) -> dict[str, Any]:
    data = event.data
    query = book.workflow.queries.get(data.get("query_id", ""))
    entry_id = data.get("entry_id") or (query.entry_id if query else None)
    entry = book.entries.get(entry_id or "")
    new_value: Any = data.get("text")
    if event.type == "CasebookSigned":
        new_value = f"{data['meaning']} by {data['printed_name']} (covers position " \
                    f"{data['covers_position']})"
    return {"entry_id": entry_id, "form": entry.form if entry else None,
            "visit": entry.visit if entry else None,
            "field": (data.get("field") if event.type == "QueryOpened"
                      else query.field if query else None),
            "old_value": None, "new_value": new_value}
