"""The audit trail, replay and diff: an inspector reconstructs every value, who, when and why."""

from __future__ import annotations

import csv
import io

import pytest

from tests.api.conftest import PASSWORD
from tests.scenario import Subject


@pytest.fixture
def history(store, as_user):
    """A responder whose record went through every kind of event."""
    subject = Subject(store, "ITP-001")
    subject.screening_labs(platelets=12)
    subject.lymphodepletion()
    subject.infuse()
    counts = {day: subject.platelets(day, value)
              for day, value in [(7, 40), (14, 60), (21, 130), (28, 140)]}
    subject.correct(counts[7], platelets=44)
    mistaken = subject.platelets(30, 999)
    subject.void(mistaken)
    hemoglobin = subject.platelets(35, 150, hemoglobin=100, hemoglobin_lln=120)
    subject.correct(hemoglobin, hemoglobin=None, hemoglobin_lln=None, reason="not measured")
    monitor = as_user("monitor")
    query = monitor.post("/subjects/ITP-001/queries", {
        "entry_id": counts[14], "field": "platelets", "text": "please confirm"}).json
    monitor.post(f"/subjects/ITP-001/entries/{counts[21]}/verify")
    as_user("staff").post(f"/subjects/ITP-001/queries/{query['query_id']}/answer",
                          {"text": "confirmed as per source"})
    as_user("investigator").post("/subjects/ITP-001/signatures",
                                 {"password": PASSWORD, "meaning": "review"})
    return {"counts": counts, "mistaken": mistaken, "hemoglobin": hemoglobin}


def test_subject_audit_trail_has_a_row_for_every_kind_of_event(as_user, history):
    rows = as_user("auditor").get("/subjects/ITP-001/audit-trail").json["rows"]
    actions = {r["action"] for r in rows}
    assert {"entered", "corrected", "cleared", "voided", "query_opened", "query_answered",
            "verified", "signed"} <= actions
    corrected = next(r for r in rows if r["action"] == "corrected")
    assert (corrected["field"], corrected["old_value"], corrected["new_value"]) == (
        "platelets", 40.0, 44.0)
    assert (corrected["actor"], corrected["role"], corrected["reason"]) == (
        "scenario.staff", "site_staff", "transcription error")
    cleared = [r for r in rows if r["action"] == "cleared"]
    assert {(r["field"], r["old_value"]) for r in cleared} == {("hemoglobin", 100.0),
                                                               ("hemoglobin_lln", 120.0)}
    assert all(r["position"] and r["recorded_at"] for r in rows)


def test_trial_audit_filters_pages_and_exports_csv(as_user, history, store):
    auditor = as_user("auditor")
    everything = auditor.get("/audit?limit=5000").json["rows"]
    only_corrections = auditor.get("/audit?type=EntryCorrected").json["rows"]
    assert {r["event_type"] for r in only_corrections} == {"EntryCorrected"}
    assert len(only_corrections) == 3
    by_monitor = auditor.get("/audit?user=monitor").json["rows"]
    assert {r["action"] for r in by_monitor} == {"query_opened", "verified"}
    first = auditor.get("/audit?limit=10").json
    second = auditor.get(f"/audit?limit=10&after={first['next_after']}").json
    assert first["rows"][-1]["position"] < second["rows"][0]["position"]
    assert first["rows"] + second["rows"] == everything[:len(first["rows"]) + len(
        second["rows"])]
    reply = auditor.get("/audit?format=csv")
    assert reply.mimetype == "text/csv"
    parsed = list(csv.DictReader(io.StringIO(reply.get_data(as_text=True))))
    assert len(parsed) == len(everything)
    assert parsed[0]["subject_id"] == "ITP-001"


def test_bad_audit_filters_are_400(as_user):
    auditor = as_user("auditor")
    assert auditor.get("/audit?from=yesterday").status_code == 400
    assert auditor.get("/audit?limit=0").json["error"]["fields"]["limit"]


def test_every_audit_view_is_itself_recorded(as_user, history, store):
    auditor = as_user("auditor")
    auditor.get("/audit?subject=ITP-001")
    auditor.get("/subjects/ITP-001/audit-trail")
    views = [e.data for e in store.read_stream("audit-log")]
    assert {"view": "trial_audit_trail", "filters": {
        "subject": "ITP-001"}} in views
    assert {"view": "subject_audit_trail", "filters": {"subject_id": "ITP-001"}} in views
    meta = store.read_stream("audit-log")[-1].metadata
    assert (meta["actor"], meta["role"]) == ("auditor", "auditor")


def test_site_staff_cannot_read_the_audit_trail(staff, history, store):
    before = store.count()
    assert staff.get("/audit").status_code == 403
    assert store.count() == before


def test_replay_before_a_correction_equals_the_casebook_then(as_user, history, store):
    auditor = as_user("auditor")
    stream = store.read_stream("ITP-001")
    correction = next(e for e in stream if e.type == "EntryCorrected")
    before = correction.position - 1
    replay = auditor.get(f"/subjects/ITP-001/replay?position={before}").json
    casebook_then = auditor.get(f"/subjects/ITP-001?position={before}").json
    assert replay["casebook"] == casebook_then
    day7 = next(e for e in replay["casebook"]["entries"]
                if e["entry_id"] == history["counts"][7])
    assert day7["values"]["platelets"] == 40.0
    assert replay["efficacy"]["baseline_platelets"] == 12.0
    assert {"eligibility", "safety", "schedule", "verification"} <= set(replay)
    by_time = auditor.get("/subjects/ITP-001/replay?as_of="
                          + correction.recorded_at.isoformat().replace("+00:00", "Z")).json
    assert by_time["as_of_position"] >= correction.position


def test_diff_lists_field_changes_and_derived_changes(as_user, history, store):
    stream = store.read_stream("ITP-001")
    day21 = next(e for e in stream if e.data.get("entry_id") == history["counts"][21])
    auditor = as_user("auditor")
    diff = auditor.get(f"/subjects/ITP-001/diff?from={day21.position - 1}"
                       f"&to={stream[-1].position}").json
    fields = {(c["entry_id"], c["field"]) for c in diff["entries"]}
    assert (history["counts"][7], "platelets") in fields
    assert (history["mistaken"], None) in fields
    derived = {(c["projection"], c["key"]): (c["from"], c["to"]) for c in diff["derived"]}
    assert derived[("efficacy", "best_response")] == ("R", "CR")  # 40, 60 then 130, 140
    assert auditor.get("/subjects/ITP-001/diff?from=x&to=3").status_code == 400
