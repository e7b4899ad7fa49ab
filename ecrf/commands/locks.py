"""Casebook and trial locks: a locked record takes no new data until a reasoned unlock."""

from __future__ import annotations

from typing import Any

from ecrf.accounts.model import User
from ecrf.commands.appending import append_as, required_reason, retry_stale
from ecrf.commands.outcome import Outcome
from ecrf.commands.subjects import load_casebook
from ecrf.errors import Conflict
from ecrf.permissions import require
from events import EventStore, NewEvent
from projections.casebook import Casebook

TRIAL_STREAM = "trial"


def trial_locked(store: EventStore) -> bool:
    """Tell whether the whole trial database is locked (the last lock event wins)."""
    return trial_lock_state(store)[0]


def trial_lock_state(store: EventStore) -> tuple[bool, dict[str, int]]:
    """Whether the trial is locked, and the trial stream's version that says so (for the
    write's ``depends``: the writer refuses it if a lock came in between, events.store)."""
    state, events = False, store.read_stream(TRIAL_STREAM)
    for event in events:
        if event.type in ("TrialLocked", "TrialUnlocked"):
            state = event.type == "TrialLocked"
    return state, {TRIAL_STREAM: len(events)}


def guard_writable(store: EventStore, book: Casebook | None) -> dict[str, int]:
    """Refuse a write on a locked trial or casebook (docs/locks.md lists every one); return
    the trial stream's version read, which the write passes as ``depends`` so that a trial
    lock recorded meanwhile (even in the same group commit) refuses it.

    Called by every command that writes to a subject or registers one; the lock commands
    check the locks themselves (an unlock is the one write a lock lets through).
    """
    locked, depends = trial_lock_state(store)
    if locked:
        raise Conflict("trial_locked", "the trial database is locked: no data can be entered")
    if book is not None and book.workflow.locked:
        raise Conflict("casebook_locked",
                       f"the casebook of {book.subject_id} is locked"
                       f" ({book.workflow.lock_reason}): ask a data manager to unlock it")
    return depends


@retry_stale
def lock_casebook(store: EventStore, user: User, subject_id: str, reason: Any) -> Outcome:
    """Lock a subject's casebook (data manager)."""
    require(user.role, "casebook.lock")
    book = load_casebook(store, user, subject_id)
    reason = required_reason(reason)
    locked, depends = trial_lock_state(store)
    if locked:
        raise Conflict("trial_locked", "the trial database is locked")
    if book.workflow.locked:
        raise Conflict("casebook_locked", "the casebook is already locked")
    return append_as(store, user, subject_id,
                     [NewEvent("CasebookLocked", {"reason": reason}, {"reason": reason})],
                     expected_version=book.version, idempotency_key=None, depends=depends)


@retry_stale
def unlock_casebook(store: EventStore, user: User, subject_id: str, reason: Any) -> Outcome:
    """Unlock a subject's casebook with a reason (data manager)."""
    require(user.role, "casebook.unlock")
    book = load_casebook(store, user, subject_id)
    reason = required_reason(reason)
    locked, depends = trial_lock_state(store)
    if locked:
        raise Conflict("trial_locked", "the trial database is locked")
    if not book.workflow.locked:
        raise Conflict("casebook_not_locked", "the casebook is not locked")
    return append_as(store, user, subject_id,
                     [NewEvent("CasebookUnlocked", {"reason": reason}, {"reason": reason})],
                     expected_version=book.version, idempotency_key=None, depends=depends)


def set_trial_lock(store: EventStore, user: User, locked: bool, reason: Any) -> Outcome:
    """Lock or unlock the whole trial database (data manager)."""
    require(user.role, "trial.lock" if locked else "trial.unlock")
    reason = required_reason(reason)
    if trial_locked(store) == locked:
        raise Conflict("trial_lock_unchanged",
                       f"the trial is already {'locked' if locked else 'unlocked'}")
    event = NewEvent("TrialLocked" if locked else "TrialUnlocked", {"reason": reason},
                     {"reason": reason})
    return append_as(store, user, TRIAL_STREAM, [event],
                     expected_version=store.stream_version(TRIAL_STREAM), idempotency_key=None)
