"""Automatic queries: open one per soft edit-check finding, once; close it when resolved."""

from __future__ import annotations

import uuid
from dataclasses import replace

from ecrf.accounts.model import User
from ecrf.commands.appending import append_as
from ecrf.commands.outcome import CAUSED_BY, Outcome, automatic_queries_of
from ecrf.errors import Conflict
from events import EventStore, NewEvent, RecordedEvent
from projections.casebook import Casebook, apply, fold_casebook
from projections.edit_checks import findings
from projections.trial_config import TrialConfig

SYSTEM = User("system", "system", ("*",), "eCRF edit checks")


def run_edit_checks(store: EventStore, book: Casebook, outcome: Outcome,
                    config: TrialConfig) -> Outcome:
    """Reconcile the subject's automatic queries with its edit-check findings after a write.

    ``book`` is the casebook the command read; the events it just recorded are folded in
    rather than read back. Runs after the user's own write has committed, so it never fails
    that write: if another writer moved the stream meanwhile, it re-reads and tries again
    (and the next write reconciles anyway).
    """
    if outcome.replayed:
        return outcome
    for event in outcome.events:
        apply(book, event)
    cause = outcome.events[-1].position if outcome.events else outcome.position
    for _attempt in range(3):
        try:
            opened = _reconcile(store, book, config, cause)
            return replace(outcome, automatic_queries=automatic_queries_of(opened, cause)) \
                if outcome.automatic_queries is not None else outcome
        except Conflict:
            fresh = fold_casebook(store.read_stream(book.subject_id))
            if fresh is None:
                return outcome
            book = fresh
    return outcome


def _reconcile(store: EventStore, book: Casebook, config: TrialConfig, cause: int
               ) -> list[RecordedEvent]:
    """Open and close automatic queries; each event names the write that caused it."""
    subject_id = book.subject_id
    current = {f.key: f for f in findings(book, config=config)}
    automatic = {(q.automatic, q.entry_id, q.field): q
                 for q in book.workflow.queries.values() if q.automatic}
    because = {CAUSED_BY: cause}
    events = [NewEvent("QueryOpened", {"query_id": uuid.uuid4().hex, "entry_id": f.entry_id,
                                       "field": f.field, "text": f.text,
                                       "automatic": f.check}, because)
              for key, f in current.items() if key not in automatic]
    events += [NewEvent("QueryClosed", {"query_id": q.query_id,
                                        "text": "closed automatically: the data no longer "
                                                "trip the edit check"}, because)
               for key, q in automatic.items()
               if key not in current and q.state in ("open", "answered")]
    if not events:
        return []
    return list(append_as(store, SYSTEM, subject_id, events, expected_version=book.version,
                          idempotency_key=None).events)
