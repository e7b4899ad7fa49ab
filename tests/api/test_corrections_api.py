"""Corrections and voids of entries, the casebook as of a past moment, and subject statuses.

A correction is an ``EntryCorrected`` event (changes, reason, who, when), a void an
``EntryVoided`` event (reason); the entry itself is never changed in place. Every refusal
leaves the event count unchanged.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from tests.api.conftest import registration
from tests.api.examples import valid

REASON = "transcription error: the source document says 45"


def submit(api, subject_id: str, form: str, payload: dict) -> str:
    reply = api.post(f"/subjects/{subject_id}/forms/{form}", payload)
    assert reply.status_code == 201, reply.json
    return reply.json["entry_id"]


def correct(api, subject_id: str, entry_id: str, changes: Any, reason: Any = REASON,
            **kw: Any):
    body = {"changes": changes, "reason": reason}
    return api.post(f"/subjects/{subject_id}/entries/{entry_id}/corrections", body, **kw)


def void(api, subject_id: str, entry_id: str, reason: Any = "entered for the wrong subject"):
    return api.post(f"/subjects/{subject_id}/entries/{entry_id}/void", {"reason": reason})


def event_of(store, reply):
    """The event a successful request appended (the system may append queries after it)."""
    assert reply.status_code == 201, reply.json
    [event] = [e for e in store.read_stream(reply.json["subject_id"])
               if e.position == reply.json["position"]]
    return event


def entry_of(api, subject_id: str, entry_id: str, **query: Any) -> dict | None:
    reply = api.get(f"/subjects/{subject_id}", query_string=query)
    assert reply.status_code == 200, reply.json
    return next((e for e in reply.json["entries"] if e["entry_id"] == entry_id), None)


def assert_refused(reply, store, before: int, status: int, code: str,
                   field: str | None = None) -> None:
    assert reply.status_code == status, reply.json
    assert reply.json["error"]["code"] == code, reply.json
    if field is not None:
        assert reply.json["error"]["fields"][field], reply.json
    assert store.count() == before


@pytest.fixture
def count_entry(staff, subject) -> str:
    """A D7 platelet count of 42 (with its hemoglobin and white cells)."""
    return submit(staff, subject, "platelet_count", valid("platelet_count"))


# -- corrections accepted -------------------------------------------------------------------


def test_correction_is_recorded_and_the_casebook_shows_the_new_value_and_its_history(
        as_user, subject, count_entry, store):
    investigator = as_user("investigator")
    before = store.count()
    reply = correct(investigator, subject, count_entry, {"platelets": 45})
    assert reply.status_code == 201, reply.json
    assert reply.json["entry_id"] == count_entry
    assert store.count() > before
    event = event_of(store, reply)
    assert event.type == "EntryCorrected"
    assert event.data["entry_id"] == count_entry
    assert event.data["changes"] == {"platelets": 45}
    assert event.data["reason"] == REASON
    entry = entry_of(investigator, subject, count_entry)
    assert entry["values"]["platelets"] == 45
    assert entry["values"]["hemoglobin"] == 112  # the other values are kept
    original, correction = entry["versions"]
    assert original["kind"] == "original"
    assert (original["actor"], original["role"], original["reason"]) == (
        "staff", "site_staff", None)
    assert correction["kind"] == "correction"
    assert (correction["actor"], correction["role"], correction["reason"]) == (
        "investigator", "investigator", REASON)
    assert correction["changes"] == {"platelets": 45}
    assert correction["position"] == reply.json["position"]
    assert dt.datetime.fromisoformat(correction["recorded_at"]) >= dt.datetime.fromisoformat(
        original["recorded_at"])


def test_corrections_apply_in_order_and_each_is_a_version(staff, subject, count_entry):
    assert correct(staff, subject, count_entry, {"platelets": 45}).status_code == 201
    assert correct(staff, subject, count_entry, {"platelets": 47, "hemoglobin": 110},
                   reason="second look at the source").status_code == 201
    entry = entry_of(staff, subject, count_entry)
    assert entry["values"]["platelets"] == 47
    assert entry["values"]["hemoglobin"] == 110
    assert [v["kind"] for v in entry["versions"]] == ["original", "correction", "correction"]
    assert [v["changes"] for v in entry["versions"][1:]] == [
        {"platelets": 45}, {"platelets": 47, "hemoglobin": 110}]


def test_correction_stores_only_what_changed_and_dates_as_entered(staff, subject, count_entry,
                                                                  store):
    reply = correct(staff, subject, count_entry, {"platelets": 42,
                                                  "collected_at": "2026-02-10T10:30:00+08:00"})
    assert event_of(store, reply).data["changes"] == {
        "collected_at": "2026-02-10T10:30:00+08:00"}


def test_the_same_moment_in_another_offset_is_a_correction_of_the_value_entered(
        staff, subject, count_entry, store):
    # The site gave +08:00; writing the same instant in UTC changes the entered value (and may
    # change its clinical date), so it is recorded as a correction, not refused (#11 item 3).
    reply = correct(staff, subject, count_entry, {"collected_at": "2026-02-10T01:30:00Z"})
    assert reply.status_code == 201, reply.json
    assert event_of(store, reply).data["changes"] == {
        "collected_at": "2026-02-10T01:30:00+00:00"}


def test_an_optional_value_can_be_cleared_by_a_correction(staff, subject, count_entry):
    reply = correct(staff, subject, count_entry, {"transfused_within_72h": None})
    assert reply.status_code == 201, reply.json
    assert "transfused_within_72h" not in entry_of(staff, subject, count_entry)["values"]


def test_a_correction_is_accepted_after_end_of_study(staff, subject, count_entry):
    submit(staff, subject, "end_of_study", valid("end_of_study"))
    assert correct(staff, subject, count_entry, {"platelets": 45}).status_code == 201


def test_a_correction_of_a_dose_recomputes_its_flags(staff, subject):
    entry_id = submit(staff, subject, "lymphodepletion", valid("lymphodepletion"))
    assert correct(staff, subject, entry_id, {"fludarabine_mg": 60}).status_code == 201
    derived = entry_of(staff, subject, entry_id)["derived"]
    assert derived["fludarabine_mg_m2"] == 36.14
    assert derived["flags"] == ["fludarabine_dose_deviation"]
    assert correct(staff, subject, entry_id, {"fludarabine_mg": 50}).status_code == 201
    derived = entry_of(staff, subject, entry_id)["derived"]
    assert derived["fludarabine_mg_m2"] == 30.12
    assert "flags" not in derived


def test_a_correction_of_a_date_out_of_its_window_is_flagged(staff, subject, count_entry):
    submit(staff, subject, "car_t_infusion", valid("car_t_infusion"))
    # the count was entered before the infusion, so it had no window yet
    assert "flags" not in entry_of(staff, subject, count_entry)["derived"]
    reply = correct(staff, subject, count_entry, {"collected_at": "2026-02-15T09:30:00+08:00"})
    assert reply.status_code == 201, reply.json
    assert entry_of(staff, subject, count_entry)["derived"]["flags"] == ["outside_visit_window"]


def test_a_registration_can_be_corrected_but_not_its_subject_or_site(staff, subject, store):
    entry_id = store.read_stream(subject)[0].data["entry_id"]
    assert correct(staff, subject, entry_id, {"screening_date": "2026-01-07"}).status_code == 201
    before = store.count()
    reply = correct(staff, subject, entry_id, {"subject_id": "ITP-009"})
    assert_refused(reply, store, before, 422, "validation_failed", "changes.subject_id")


# -- corrections refused --------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    {"changes": {"platelets": 45}},
    {"changes": {"platelets": 45}, "reason": None},
    {"changes": {"platelets": 45}, "reason": ""},
    {"changes": {"platelets": 45}, "reason": "   \n\t"},
    {"changes": {"platelets": 45}, "reason": 12},
], ids=["missing", "null", "empty", "blank", "not_text"])
def test_a_correction_without_a_reason_is_refused(staff, subject, count_entry, store, body):
    before = store.count()
    reply = staff.post(f"/subjects/{subject}/entries/{count_entry}/corrections", body)
    assert_refused(reply, store, before, 422, "reason_required", "reason")


@pytest.mark.parametrize("changes", [
    {"platelets": 42},
    {"platelets": 42.0},
    {"collected_at": "2026-02-10T09:30:00+08:00"},  # the same moment, as first entered
    {"platelets": 42, "transfused_within_72h": False, "visit": "D7"},
], ids=["same_number", "same_number_as_float", "same_moment", "several_same"])
def test_a_correction_that_changes_nothing_is_refused(staff, subject, count_entry, store,
                                                      changes):
    before = store.count()
    reply = correct(staff, subject, count_entry, changes)
    assert_refused(reply, store, before, 422, "no_change")


@pytest.mark.parametrize("changes", [{}, None, [], ["platelets", 45], "platelets=45"],
                         ids=["empty", "null", "empty_list", "list", "text"])
def test_a_correction_without_changes_is_refused(staff, subject, count_entry, store, changes):
    before = store.count()
    reply = correct(staff, subject, count_entry, changes)
    assert_refused(reply, store, before, 422, "validation_failed", "changes")


INVALID_RESULTS = [
    ("platelet_count", {"platelets": 5000}, "validation_failed", "changes.platelets"),
    ("platelet_count", {"platelets": -1}, "validation_failed", "changes.platelets"),
    ("platelet_count", {"platelets": "45"}, "validation_failed", "changes.platelets"),
    ("platelet_count", {"platelets": None}, "validation_failed", "changes.platelets"),
    ("platelet_count", {"collected_at": "2026-02-10T09:30:00"}, "validation_failed",
     "changes.collected_at"),
    ("platelet_count", {"hemoglobin_lln": None}, "validation_failed", "changes.hemoglobin_lln"),
    ("platelet_count", {"surprise": 1}, "validation_failed", "changes.surprise"),
    ("platelet_count", {"visit": "D99"}, "unknown_visit", "changes.visit"),
    ("rescue_therapy", {"end_date": "2026-02-11"}, "validation_failed", "changes.end_date"),
    ("rescue_therapy", {"start_date": "2026-02-14"}, "validation_failed", "changes.end_date"),
    ("concomitant_medication", {"end_date": "2025-10-31"}, "validation_failed",
     "changes.end_date"),
    ("adverse_event", {"onset_date": "2026-02-07"}, "validation_failed", "changes.end_date"),
    ("adverse_event", {"ctcae_grade": 5}, "validation_failed", "changes.outcome"),
    ("adverse_event", {"seriousness": []}, "validation_failed", "changes.seriousness"),
    ("adverse_event", {"outcome": "unknown_outcome"}, "validation_failed", "changes.outcome"),
    ("visit", {"missed": True, "visit_date": None}, "validation_failed", "changes.reason"),
    ("itp_history", {"splenectomy_preventive": None}, "validation_failed",
     "changes.splenectomy_preventive"),
    ("itp_history", {"prior_therapies": [{"agent": "rituximab", "line": 12,
                                          "start_date": "2024-01-01", "best_response": "NR",
                                          "intolerance": False}]},
     "validation_failed", "changes.prior_therapies"),
    ("itp_history", {"diagnosis_date": "2026-02-01"}, "validation_failed",
     "changes.diagnosis_date"),
    ("screening_labs", {"pregnancy_test": "not_applicable"}, "validation_failed",
     "changes.pregnancy_test"),
    ("neuro_assessment", {"capd_score": 20}, "validation_failed", "changes.capd_score"),
    ("lymphodepletion", {"height_cm": 300}, "validation_failed", "changes.height_cm"),
    ("car_t_infusion", {"dose_cells_per_kg": 0}, "validation_failed",
     "changes.dose_cells_per_kg"),
]


@pytest.mark.parametrize(("form", "changes", "code", "field"), INVALID_RESULTS,
                         ids=[f"{form}:{next(iter(changes))}" for form, changes, *_ in
                              INVALID_RESULTS])
def test_a_correction_whose_result_is_invalid_is_refused_with_the_field_named(
        staff, subject, store, form, changes, code, field):
    entry_id = submit(staff, subject, form, valid(form))
    values = entry_of(staff, subject, entry_id)["values"]
    before = store.count()
    reply = correct(staff, subject, entry_id, changes)
    assert_refused(reply, store, before, 422, code, field)
    assert entry_of(staff, subject, entry_id)["values"] == values


def test_a_nested_error_of_a_correction_names_the_item_and_field(staff, subject, store):
    entry_id = submit(staff, subject, "itp_history", valid("itp_history"))
    therapy = {"agent": "rituximab", "line": 12, "start_date": "2024-01-01",
               "best_response": "NR", "intolerance": False}
    reply = correct(staff, subject, entry_id, {"prior_therapies": [therapy]})
    assert reply.status_code == 422
    assert reply.json["error"]["fields"]["changes.prior_therapies"]["0"]["line"]


def test_a_voided_entry_cannot_be_corrected(staff, subject, count_entry, store):
    assert void(staff, subject, count_entry).status_code == 201
    before = store.count()
    reply = correct(staff, subject, count_entry, {"platelets": 45})
    assert_refused(reply, store, before, 409, "entry_voided")


def test_correcting_an_unknown_entry_is_404(staff, subject, store):
    before = store.count()
    reply = correct(staff, subject, "0" * 32, {"platelets": 45})
    assert_refused(reply, store, before, 404, "entry_not_found")


def test_correcting_an_entry_of_an_unknown_subject_is_404(staff, subject, count_entry, store):
    before = store.count()
    reply = correct(staff, "ITP-404", count_entry, {"platelets": 45})
    assert_refused(reply, store, before, 404, "subject_not_found")


@pytest.mark.parametrize("username", ["monitor", "auditor", "dm"])
def test_only_data_entry_roles_may_correct_or_void(as_user, subject, count_entry, store,
                                                   username):
    api = as_user(username)
    before = store.count()
    assert_refused(correct(api, subject, count_entry, {"platelets": 45}), store, before, 403,
                   "forbidden")
    assert_refused(void(api, subject, count_entry), store, before, 403, "forbidden")


def test_another_sites_staff_cannot_correct_or_void(as_user, subject, count_entry, store):
    other = as_user("staff2")
    before = store.count()
    assert_refused(correct(other, subject, count_entry, {"platelets": 45}), store, before, 404,
                   "subject_not_found")
    assert_refused(void(other, subject, count_entry), store, before, 404, "subject_not_found")


def test_a_correction_body_with_unknown_keys_is_refused(staff, subject, count_entry, store):
    before = store.count()
    reply = staff.post(f"/subjects/{subject}/entries/{count_entry}/corrections",
                       {"changes": {"platelets": 45}, "reason": REASON, "who": "me"})
    assert_refused(reply, store, before, 422, "validation_failed", "who")


# -- voids ----------------------------------------------------------------------------------


def test_a_void_is_recorded_and_the_casebook_marks_the_entry(staff, subject, count_entry,
                                                             store):
    before = store.count()
    reply = void(staff, subject, count_entry, "entered for the wrong subject")
    assert store.count() > before
    event = event_of(store, reply)
    assert event.type == "EntryVoided"
    assert event.data["entry_id"] == count_entry
    entry = entry_of(staff, subject, count_entry)
    assert entry["voided"] is True
    assert entry["void_reason"] == "entered for the wrong subject"
    assert entry["values"]["platelets"] == 42  # still in the record
    assert [v["kind"] for v in entry["versions"]] == ["original", "void"]
    assert entry["versions"][-1]["reason"] == "entered for the wrong subject"
    assert entry["versions"][-1]["actor"] == "staff"


def test_a_voided_infusion_no_longer_counts_and_a_new_one_is_accepted(staff, subject, store):
    first = submit(staff, subject, "car_t_infusion", valid("car_t_infusion"))
    assert void(staff, subject, first, "recorded on the wrong subject").status_code == 201
    second = submit(staff, subject, "car_t_infusion",
                    valid("car_t_infusion", product_lot="LOT-2026-0043"))
    assert second != first
    before = store.count()
    reply = staff.post(f"/subjects/{subject}/forms/car_t_infusion", valid("car_t_infusion"))
    assert reply.status_code == 409
    assert reply.json["error"]["code"] == "already_infused"
    assert store.count() == before


def test_a_voided_end_of_study_allows_new_forms_again(staff, subject):
    ended = submit(staff, subject, "end_of_study", valid("end_of_study"))
    assert void(staff, subject, ended, "ended by mistake").status_code == 201
    submit(staff, subject, "platelet_count", valid("platelet_count"))


def test_a_voided_lymphodepletion_day_no_longer_counts_for_the_course(staff, subject, store):
    days = ["2026-01-28", "2026-01-29", "2026-01-30", "2026-01-31", "2026-02-01"]
    ids = [submit(staff, subject, "lymphodepletion", valid("lymphodepletion", administered_on=d))
           for d in days]
    assert void(staff, subject, ids[0], "duplicate of another day").status_code == 201
    reply = staff.post(f"/subjects/{subject}/forms/lymphodepletion",
                       valid("lymphodepletion", administered_on="2026-02-02"))
    assert "flags" not in event_of(store, reply).data["derived"]


@pytest.mark.parametrize("body", [{}, {"reason": None}, {"reason": ""}, {"reason": "  "},
                                  {"reason": 3}],
                         ids=["missing", "null", "empty", "blank", "not_text"])
def test_a_void_without_a_reason_is_refused(staff, subject, count_entry, store, body):
    before = store.count()
    reply = staff.post(f"/subjects/{subject}/entries/{count_entry}/void", body)
    assert_refused(reply, store, before, 422, "reason_required", "reason")
    assert entry_of(staff, subject, count_entry)["voided"] is False


def test_an_entry_cannot_be_voided_twice(staff, subject, count_entry, store):
    assert void(staff, subject, count_entry).status_code == 201
    before = store.count()
    assert_refused(void(staff, subject, count_entry), store, before, 409, "entry_voided")


def test_voiding_an_unknown_entry_is_404(staff, subject, store):
    before = store.count()
    assert_refused(void(staff, subject, "f" * 32), store, before, 404, "entry_not_found")


def test_a_registration_cannot_be_voided(staff, subject, store):
    entry_id = store.read_stream(subject)[0].data["entry_id"]
    before = store.count()
    assert_refused(void(staff, subject, entry_id), store, before, 409,
                   "registration_not_voidable")


def test_a_void_body_with_changes_is_refused(staff, subject, count_entry, store):
    before = store.count()
    reply = staff.post(f"/subjects/{subject}/entries/{count_entry}/void",
                       {"reason": "wrong subject", "changes": {"platelets": 1}})
    assert_refused(reply, store, before, 422, "validation_failed", "changes")


# -- the casebook as it stood then ------------------------------------------------------------


@pytest.fixture
def corrected(staff, subject, store) -> dict[str, Any]:
    """A count of 42 corrected to 45: the positions and times of both events."""
    original = staff.post(f"/subjects/{subject}/forms/platelet_count", valid("platelet_count"))
    assert original.status_code == 201, original.json
    time.sleep(0.05)  # so that a moment strictly between the two can be named
    correction = correct(staff, subject, original.json["entry_id"], {"platelets": 45})
    assert correction.status_code == 201, correction.json
    events = {e.position: e for e in store.read_stream(subject)}
    return {"entry_id": original.json["entry_id"],
            "original": events[original.json["position"]],
            "correction": events[correction.json["position"]]}


def test_the_casebook_at_a_position_before_the_correction_shows_the_old_value(
        staff, subject, corrected):
    entry_id = corrected["entry_id"]
    then = entry_of(staff, subject, entry_id, position=corrected["correction"].position - 1)
    assert then["values"]["platelets"] == 42
    assert [v["kind"] for v in then["versions"]] == ["original"]
    now = entry_of(staff, subject, entry_id, position=corrected["correction"].position)
    assert now["values"]["platelets"] == 45
    assert entry_of(staff, subject, entry_id)["values"]["platelets"] == 45


def _between(corrected: dict[str, Any]) -> dt.datetime:
    first, second = corrected["original"].recorded_at, corrected["correction"].recorded_at
    assert first < second
    return first + (second - first) / 2


def _platelets_as_of(api, subject_id: str, corrected: dict[str, Any], as_of: str) -> float:
    reply = api.get(f"/subjects/{subject_id}", query_string={"as_of": as_of})
    assert reply.status_code == 200, reply.json
    assert reply.json["position"] < corrected["correction"].position
    [entry] = [e for e in reply.json["entries"] if e["entry_id"] == corrected["entry_id"]]
    return entry["values"]["platelets"]


@pytest.mark.parametrize("spelling", ["+00:00", "Z"])
def test_the_casebook_as_of_a_moment_before_the_correction_shows_the_old_value(
        staff, subject, corrected, spelling):
    between = _between(corrected).isoformat().replace("+00:00", spelling)
    assert _platelets_as_of(staff, subject, corrected, between) == 42
    later = (corrected["correction"].recorded_at + dt.timedelta(seconds=1)).isoformat()
    assert entry_of(staff, subject, corrected["entry_id"],
                    as_of=later)["values"]["platelets"] == 45


@pytest.mark.parametrize("hours", [8, -5])
def test_as_of_means_the_same_moment_whatever_its_offset(staff, subject, corrected, hours):
    local = _between(corrected).astimezone(dt.timezone(dt.timedelta(hours=hours)))
    assert _platelets_as_of(staff, subject, corrected, local.isoformat()) == 42


def test_the_casebook_before_an_entry_existed_does_not_show_it(staff, subject, corrected):
    position = corrected["original"].position - 1
    assert entry_of(staff, subject, corrected["entry_id"], position=position) is None


def test_the_casebook_before_a_void_shows_the_entry_current(staff, subject, count_entry, store):
    reply = void(staff, subject, count_entry)
    assert entry_of(staff, subject, count_entry,
                    position=reply.json["position"] - 1)["voided"] is False
    assert entry_of(staff, subject, count_entry)["voided"] is True


def test_the_casebook_before_the_subject_existed_is_404(staff, subject, store):
    position = store.read_stream(subject)[0].position - 1
    reply = staff.get(f"/subjects/{subject}", query_string={"position": position})
    assert reply.status_code == 404
    assert reply.json["error"]["code"] == "subject_not_found"


@pytest.mark.parametrize(("query", "code"), [
    ({"position": "abc"}, "invalid_position"),
    ({"position": "-1"}, "invalid_position"),
    ({"position": "1.5"}, "invalid_position"),
    ({"as_of": "yesterday"}, "invalid_as_of"),
    ({"as_of": "2026-02-10T09:30:00"}, "invalid_as_of"),  # no offset
    ({"as_of": "2026-02-10T09:30:00Z", "position": "3"}, "ambiguous_as_of"),
], ids=["position_text", "position_negative", "position_fraction", "as_of_text",
        "as_of_naive", "both"])
def test_a_bad_as_of_is_400(staff, subject, query, code):
    reply = staff.get(f"/subjects/{subject}", query_string=query)
    assert reply.status_code == 400, reply.json
    assert reply.json["error"]["code"] == code


# -- statuses in the subject list -------------------------------------------------------------


def status_of(api, subject_id: str) -> str:
    reply = api.get("/subjects")
    assert reply.status_code == 200, reply.json
    return {row["subject_id"]: row["status"] for row in reply.json["subjects"]}[subject_id]


def test_the_subject_list_follows_the_status_from_screening_to_ended(staff, as_user, subject):
    assert status_of(staff, subject) == "screening"
    investigator = as_user("investigator")
    submit(investigator, subject, "ie_checklist", valid("ie_checklist",
                                                        investigator_confirms_eligible=False))
    assert status_of(staff, subject) == "screening"
    submit(investigator, subject, "ie_checklist", valid("ie_checklist"))
    assert status_of(staff, subject) == "enrolled"
    submit(staff, subject, "car_t_infusion", valid("car_t_infusion"))
    assert status_of(staff, subject) == "infused"
    submit(staff, subject, "vital_signs", valid("vital_signs", visit="D0",
                                                measured_at="2026-02-03T14:00:00+08:00"))
    assert status_of(staff, subject) == "infused"
    submit(staff, subject, "platelet_count", valid("platelet_count"))
    assert status_of(staff, subject) == "in_follow_up"
    submit(staff, subject, "end_of_study", valid("end_of_study"))
    assert status_of(staff, subject) == "ended"


def test_the_subject_list_shows_each_subjects_own_status(staff, subject):
    assert staff.post("/subjects", registration("ITP-002")).status_code == 201
    submit(staff, "ITP-002", "leukapheresis", valid("leukapheresis"))
    reply = staff.get("/subjects")
    rows = {row["subject_id"]: row for row in reply.json["subjects"]}
    assert {k: v["status"] for k, v in rows.items()} == {"ITP-001": "screening",
                                                         "ITP-002": "enrolled"}
    assert rows["ITP-002"]["site_id"] == "SITE-01"


def test_voiding_or_correcting_what_made_the_status_moves_it_back(staff, as_user, subject):
    investigator = as_user("investigator")
    checklist = submit(investigator, subject, "ie_checklist", valid("ie_checklist"))
    infusion = submit(staff, subject, "car_t_infusion", valid("car_t_infusion"))
    assert void(staff, subject, infusion, "wrong subject").status_code == 201
    assert status_of(staff, subject) == "enrolled"
    assert correct(investigator, subject, checklist,
                   {"investigator_confirms_eligible": False}).status_code == 201
    assert status_of(staff, subject) == "screening"
