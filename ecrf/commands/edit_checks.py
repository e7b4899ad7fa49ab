"""Automatic queries: open one per soft edit-check finding, once; close it when resolved."""

from __future__ import annotations

import uuid
from dataclasses import replace

from ecrf.accounts.model import User
from ecrf.commands.appending import append_as
from ecrf.commands.outcome import CAUSED_BY, Outcome, automatic_queries_of
from ecrf.errors import Conflict
from events import EventStore, NewEvent, RecordedEvent
from projections.casebook import Casebook, apply
from projections.casebook_cache import keep_casebook, latest_casebook
from projections.edit_checks import findings
from projections.trial_config import TrialConfig

SYSTEM = User("system", "system", ("*",), "eCRF edit checks")


def run_edit_checks(store: EventStore, book: Casebook, outcome: Outcome,
                    config: TrialConfig) -> Outcome:
    """Reconcile the subject's automatic queries with its edit-check findings after a write.

    ``book`` is the casebook the command read; when the write followed it directly, its
    events are folded in rather than read back (otherwise the writer decided it on a later
    casebook, which is read). Runs after the user's own write has committed, so it never
    fails that write; a casebook that moves meanwhile is reconciled again by the writer.
    """
    if outcome.replayed:
        return outcome
    if outcome.events and outcome.events[0].stream_version == book.version + 1:
        for event in outcome.events:
            apply(book, event)
    else:
        fresh = latest_casebook(store, book.subject_id)
        if fresh is None:  # pragma: no cover - a subject's stream is never empty
            return outcome
        book = fresh
    cause = outcome.events[-1].position if outcome.events else outcome.position
    try:
        opened = _reconcile(store, book, config, cause)
    except Conflict:  # a lock came in between: the next write reconciles
        return outcome
    finally:  # the next request starts from it, with the answers the checks worked out
        keep_casebook(store, book)
    return replace(outcome, automatic_queries=automatic_queries_of(opened, cause)) \
        if outcome.automatic_queries is not None else outcome


class _NothingToReconcile(Exception):
    """The casebook as it now stands needs no automatic query opened or closed."""


def _reconcile(store: EventStore, book: Casebook, config: TrialConfig, cause: int
               ) -> list[RecordedEvent]:
    """Open and close automatic queries; each event names the write that caused it."""
    events = _reconciling_events(book, config, cause)
    if not events:
        return []

    def decide(now: Casebook) -> list[NewEvent]:
        again = _reconciling_events(now, config, cause)
        if not again:
            raise _NothingToReconcile
        return again

    try:
        return list(append_as(store, SYSTEM, book.subject_id, events,
                              expected_version=book.version, idempotency_key=None,
                              decide=decide).events)
    except _NothingToReconcile:
        return []


def _reconciling_events(book: Casebook, config: TrialConfig, cause: int) -> list[NewEvent]:
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
    return events
