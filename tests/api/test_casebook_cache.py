"""The casebook cache hands out casebooks equal to folding the stream afresh, at every version,
and what a caller applies to its casebook never reaches the cache or another caller."""

from __future__ import annotations

from dataclasses import replace

import pytest
from msgspec import structs

from ecrf.accounts.service import load_user
from ecrf.commands.edit_checks import SYSTEM
from ecrf.commands.locks import lock_casebook, unlock_casebook
from ecrf.commands.subjects import load_casebook
from ecrf.commands.workflow import (
    answer_query,
    close_query,
    open_query,
    sign_casebook,
    verify_entry,
)
from events import RecordedEvent
from projections.casebook import apply, fold_casebook
from projections.casebook_cache import CasebookCache
from tests.api.conftest import PASSWORD
from tests.scenario import Subject


def _rich_subject(store) -> Subject:
    """Entries, corrections, a void, queries in several states, a verification voided by a
    correction, a signature invalidated by a later event, a lock and an unlock."""
    subject = Subject(store, "ITP-001")
    labs = subject.screening_labs(platelets=14)
    first = subject.platelets(7, 41)
    second = subject.platelets(14, 55)
    monitor, investigator = load_user(store, "monitor"), load_user(store, "investigator")
    manager, staff = load_user(store, "dm"), load_user(store, "staff")
    verify_entry(store, monitor, "ITP-001", first)
    query = open_query(store, monitor, "ITP-001", second, "platelets", "please check")
    answer_query(store, staff, "ITP-001", query.query_id, "checked against the lab report")
    other = open_query(store, monitor, "ITP-001", labs, None, "source document?")
    close_query(store, monitor, "ITP-001", other.query_id, "seen")
    subject.correct(first, platelets=42)  # voids the verification
    sign_casebook(store, investigator, "ITP-001", PASSWORD, "approval")
    subject.void(second)  # invalidates the signature
    lock_casebook(store, manager, "ITP-001", "interim analysis")
    unlock_casebook(store, manager, "ITP-001", "analysis done")
    subject.platelets(21, 60)
    return subject


def test_every_version_from_the_cache_equals_a_fresh_fold(store):
    _rich_subject(store)
    events = store.read_stream("ITP-001")
    assert {"EntryCorrected", "EntryVoided", "CasebookSigned", "QueryClosed",
            "CasebookUnlocked"} <= {e.type for e in events}
    cache = CasebookCache()
    for version in range(1, len(events) + 1):  # forward, one event at a time
        assert cache.casebook(events[:version]).to_dict() == \
            fold_casebook(events[:version]).to_dict()
    for version in range(len(events), 0, -3):  # older reads after newer ones
        assert cache.casebook(events[:version]).to_dict() == \
            fold_casebook(events[:version]).to_dict()


def test_what_a_caller_applies_to_its_casebook_reaches_no_one_else(store):
    _rich_subject(store)
    events = store.read_stream("ITP-001")
    cache = CasebookCache()
    mine = cache.casebook(events[:-4])
    expected = fold_casebook(events[:-4]).to_dict()
    for event in events[-4:]:  # a correction-free tail: a void, lock, unlock, new entry
        apply(mine, event)
    theirs = cache.casebook(events[:-4])
    assert theirs.to_dict() == expected
    assert cache.casebook(events).to_dict() == fold_casebook(events).to_dict()
    # a correction applied to a fork leaves the kept entry and its history as they were
    entry = next(e for e in theirs.current("platelet_count"))
    correction = RecordedEvent(
        events[-1].position + 1, "ITP-001", events[-1].stream_version + 1, "EntryCorrected",
        1, {"entry_id": entry.entry_id, "form": entry.form, "changes": {"platelets": 99},
            "reason": "typo"}, {"actor": SYSTEM.username}, events[-1].recorded_at,
        "0" * 64)
    apply(theirs, correction)
    again = cache.casebook(events[:-4])
    assert again.to_dict() == expected
    assert again.entries[entry.entry_id].values["platelets"] != 99


def test_a_stream_whose_event_differs_from_the_kept_one_is_folded_afresh(store):
    _rich_subject(store)
    events = store.read_stream("ITP-001")
    cache = CasebookCache()
    cache.casebook(events[:6])
    elsewhere = [*events[:5], structs.replace(events[5], position=events[5].position + 1000)]
    book = cache.casebook([*elsewhere, *events[6:8]])
    assert book.to_dict() == fold_casebook([*elsewhere, *events[6:8]]).to_dict()
    assert cache.casebook(events[:6]).position == events[5].position


def test_remembered_projections_answer_what_a_fresh_fold_answers(store, as_user, app):
    """Efficacy, safety and eligibility are remembered per casebook version: asked again,
    as of every position, before and after later writes, they equal the projection of a
    fresh fold of the stream up to that position."""
    import json

    from projections.efficacy import efficacy
    from projections.eligibility import eligibility
    from projections.safety import safety

    subject = _rich_subject(store)
    auditor, config = as_user("auditor"), app.extensions["ecrf"].trial
    projections = {"efficacy": efficacy, "safety": safety, "eligibility": eligibility}

    def expected(name, position):
        book = fold_casebook(store.read_stream("ITP-001"), up_to_position=position)
        body = projections[name](book, config=config)
        return json.loads(json.dumps({"subject_id": "ITP-001",
                                      "as_of_position": book.position, **body}))

    positions = [e.position for e in store.read_stream("ITP-001")]
    for _round in range(2):  # the second round is answered from what was remembered
        for name in projections:
            for position in [*positions[::3], positions[-1]]:
                reply = auditor.get(f"/subjects/ITP-001/{name}?position={position}")
                assert reply.status_code == 200
                assert reply.json == expected(name, position), (name, position)
            assert auditor.get(f"/subjects/ITP-001/{name}").json == \
                expected(name, store.read_stream("ITP-001")[-1].position)
            # the bytes sent from memory are the app's own encoding of a fresh answer
            position = positions[-1]
            book = fold_casebook(store.read_stream("ITP-001"), up_to_position=position)
            fresh = app.json.response({"subject_id": "ITP-001", "as_of_position": position,
                                       **projections[name](book, config=config)})
            reply = auditor.get(f"/subjects/ITP-001/{name}?position={position}")
            assert reply.get_data() == fresh.get_data()
            assert reply.headers["Content-Type"] == fresh.headers["Content-Type"]
        subject.platelets(28, 80)  # a later write: a new version


def test_a_remembered_answer_is_used_only_for_the_settings_it_was_made_with(
        store, as_user, app):
    """Answers are keyed by the settings object's id; an entry left by other settings under
    the same key (an id reused after those settings were freed) is not served."""
    from ecrf.api import projections as api_projections

    Subject(store, "ITP-001").screening_labs(platelets=14)
    auditor = as_user("auditor")
    fresh = auditor.get("/subjects/ITP-001/efficacy").json
    results = api_projections._RESULTS[store]
    key = next(k for k in results if k[0] == "efficacy" and k[1] == "ITP-001")
    other_settings = replace(app.extensions["ecrf"].trial, week12_day=1)
    results[key] = (other_settings, {"stale": True})
    assert auditor.get("/subjects/ITP-001/efficacy").json == fresh


def test_remembered_edit_check_findings_equal_a_fresh_check_at_every_version(store):
    """Each entry's findings are remembered on the entry: a casebook carried forward event by
    event (as the cache and the commands carry them) finds exactly what a fresh fold finds,
    through corrections that clear and cause findings, a void, and forks."""
    from projections.edit_checks import findings

    subject = Subject(store, "ITP-001")
    subject.screening_labs(platelets=14)
    high = subject.platelets(7, 1500)  # outside the expected range: a finding
    low = subject.platelets(14, 55, hemoglobin=230, hemoglobin_lln=120)
    subject.correct(high, platelets=150)  # the finding goes
    subject.correct(low, hemoglobin=20)  # another value, still a finding
    subject.void(low)  # and gone with the entry
    again = subject.platelets(21, 1800)
    subject.correct(again, platelets=90, reason="decimal point")
    events = store.read_stream("ITP-001")
    carried = fold_casebook(events[:1])
    forks = []
    seen = set()
    for version in range(2, len(events) + 1):
        apply(carried, events[version - 1])
        fresh = fold_casebook(events[:version])
        assert findings(carried) == findings(fresh), version
        seen |= {f.key for f in findings(fresh)}
        forks.append((version, carried.fork()))
        carried = carried.fork()
    assert {("unexpected_value", high, "platelets"), ("unexpected_value", low, "hemoglobin"),
            ("unexpected_value", again, "platelets")} <= seen  # the case tripped the checks
    for version, fork in forks:  # what later versions remembered changed no earlier fork
        assert findings(fork) == findings(fold_casebook(events[:version])), version


def test_a_casebook_folded_for_a_rebase_in_a_batch_that_failed_is_never_served(store):
    """The writer rebases an append on the stream as it stands inside its batch, earlier
    appends of the batch included, before they commit. A casebook folded there must not be
    kept: if the batch fails, a later append takes the same position and version, and the
    kept casebook would pass for the fold of a stream it never belonged to."""
    from ecrf.commands.forms import submit_form
    from events import NewEvent
    from tests.api.conftest import platelet_count
    from tests.batching import HeldCommit, InsertHook, in_thread, queue_in_order

    Subject(store, "ITP-001").screening_labs(platelets=14)
    staff = load_user(store, "staff")
    version = len(store.read_stream("ITP-001"))
    failing = [True]

    def fail_while_armed(_rows):
        if failing[0]:
            raise RuntimeError("the disk failed after the insert, before the commit")

    with InsertHook(store, after=fail_while_armed), HeldCommit(store) as held:
        blocker = in_thread(lambda: store.append("HOLD", [NewEvent("Held", {})],
                                                 expected_version=0))
        assert held.reached.wait(30)
        first, second = queue_in_order(store, [  # one batch; the second rebased on the first
            lambda: submit_form(store, staff, "ITP-001", "platelet_count",
                                platelet_count(platelets=111)),
            lambda: submit_form(store, staff, "ITP-001", "platelet_count",
                                platelet_count(platelets=222))])
        held.release()
        for outcome in (blocker, first, second):
            outcome.join()
    failing[0] = False
    assert all(isinstance(o.error, RuntimeError) for o in (blocker, first, second))
    assert len(store.read_stream("ITP-001")) == version  # nothing of the batch was stored
    later = submit_form(store, staff, "ITP-001", "platelet_count",
                        platelet_count(platelets=333))
    assert later.events[0].stream_version == version + 1
    book = load_casebook(store, staff, "ITP-001")
    assert book.to_dict() == fold_casebook(store.read_stream("ITP-001")).to_dict()
    assert [e.values["platelets"] for e in book.current("platelet_count")][-1:] == [333]


@pytest.mark.parametrize("name", ["eligibility", "safety", "efficacy"])
def test_a_remembered_answer_is_not_sent_to_another_sites_user(store, as_user, name):
    """As of now, a remembered answer is found from the stream's last event before any
    casebook is made; it is sent only to a user who sees the subject's site. Another site's
    user gets the 404 of a subject that does not exist, byte for byte."""
    subject = Subject(store, "ITP-001")
    subject.screening_labs(platelets=14)
    mine = as_user("staff").get(f"/subjects/ITP-001/{name}")
    assert mine.status_code == 200  # remembered now
    theirs = as_user("staff2")
    refused = theirs.get(f"/subjects/ITP-001/{name}")
    unknown = theirs.get(f"/subjects/ITP-404/{name}")
    assert refused.status_code == unknown.status_code == 404
    assert refused.json["error"]["code"] == unknown.json["error"]["code"] == \
        "subject_not_found"
    assert refused.json["error"]["message"].replace("ITP-001", "X") == \
        unknown.json["error"]["message"].replace("ITP-404", "X")
    assert as_user("staff").get(f"/subjects/ITP-001/{name}").get_data() == mine.get_data()
    subject.platelets(7, 40)  # a new version: a new answer, made and remembered for it
    assert as_user("staff").get(f"/subjects/ITP-001/{name}").json["as_of_position"] == \
        store.read_stream("ITP-001")[-1].position
