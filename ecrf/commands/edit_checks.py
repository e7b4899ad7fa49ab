"""Automatic queries: open one per soft edit-check finding, once; close it when resolved."""

from __future__ import annotations

import uuid

from ecrf.accounts.model import User
from ecrf.commands.appending import append_as
from ecrf.errors import Conflict
from events import EventStore, NewEvent
from projections.casebook import fold_casebook
from projections.edit_checks import findings
from projections.trial_config import TrialConfig

SYSTEM = User("system", "system", ("*",), "eCRF edit checks")


def run_edit_checks(store: EventStore, subject_id: str, config: TrialConfig) -> None:
    """Reconcile the subject's automatic queries with its current edit-check findings.

    Runs after the user's own write has committed, so it never fails that write: if another
    writer moves the stream meanwhile, it retries, and the next write reconciles anyway.
    """
    for _attempt in range(3):
        try:
            _reconcile(store, subject_id, config)
            return
        except Conflict:
            continue


def _reconcile(store: EventStore, subject_id: str, config: TrialConfig) -> None:
    book = fold_casebook(store.read_stream(subject_id))
    if book is None:
        return
    current = {f.key: f for f in findings(book, config=config)}
    automatic = {(q.automatic, q.entry_id, q.field): q
                 for q in book.workflow.queries.values() if q.automatic}
    events = [NewEvent("QueryOpened", {"query_id": uuid.uuid4().hex, "entry_id": f.entry_id,
                                       "field": f.field, "text": f.text,
                                       "automatic": f.check})
              for key, f in current.items() if key not in automatic]
    events += [NewEvent("QueryClosed", {"query_id": q.query_id,
                                        "text": "closed automatically: the data no longer "
                                                "trip the edit check"})
               for key, q in automatic.items()
               if key not in current and q.state in ("open", "answered")]
    if events:
        append_as(store, SYSTEM, subject_id, events, expected_version=book.version,
                  idempotency_key=None)
