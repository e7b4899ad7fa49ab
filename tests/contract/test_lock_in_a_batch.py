"""A trial lock and a submission queued in the same group commit (issue #13): no entry may be
recorded after the TrialLocked event. The store's own SQLite/PostgreSQL log, real commands."""

from __future__ import annotations

import pytest

from ecrf.accounts.model import User
from ecrf.commands.forms import submit_form
from ecrf.commands.locks import set_trial_lock
from events import verify_chain
from tests.batching import HeldCommit, in_thread, queue_in_order
from tests.scenario import STAFF, Subject

DM = User("lock.dm", "data_manager", ("*",), "Lock Manager")


def platelets(n: int) -> dict:
    return {"visit": "UNSCHEDULED", "collected_at": "2026-03-02T08:00:00Z", "platelets": n}


@pytest.mark.parametrize("held_subject", ["ITP-001", "ITP-002"],
                         ids=["casebook-moved-so-rebased", "casebook-unmoved"])
def test_no_submission_is_recorded_after_a_trial_lock_of_the_same_batch(store, held_subject):
    """The held submission either moves ITP-001 (the late one is then decided again by the
    writer, through its rebase) or another casebook (the late one goes in as checked)."""
    Subject(store, "ITP-001").screening_labs(platelets=14)
    Subject(store, "ITP-002").screening_labs(platelets=14)
    with HeldCommit(store) as held:
        blocker = in_thread(lambda: submit_form(store, STAFF, held_subject, "platelet_count",
                                                platelets(30)))
        assert held.reached.wait(30)
        lock, late = queue_in_order(store, [
            lambda: set_trial_lock(store, DM, True, "database lock"),
            lambda: submit_form(store, STAFF, "ITP-001", "platelet_count", platelets(31)),
        ])
        held.release()
    for outcome in (blocker, lock, late):
        outcome.join()
    assert blocker.error is None and lock.error is None
    log = store.read_all()
    locked_at = next(e.position for e in log if e.type == "TrialLocked")
    after = [(e.position, e.type) for e in log if e.position > locked_at
             and e.stream_id == "ITP-001" and e.type == "PlateletCountRecorded"]
    assert after == [], f"entries recorded after the trial lock at {locked_at}: {after}"
    assert late.error is not None and getattr(late.error, "code", None) == "trial_locked"
    assert verify_chain(store.engine).ok
