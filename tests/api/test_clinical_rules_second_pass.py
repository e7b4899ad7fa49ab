"""Issue #15 through the API, as a site enters it: the safety and efficacy views give the answers.

The subject of the `subject` fixture (tests/api/examples.py): lymphodepletion from 2026-01-29,
infusion on 2026-02-03.
"""

from __future__ import annotations

import pytest

from events import NewEvent
from tests.api.examples import valid


def _submit(api, subject, form, payload):
    reply = api.post(f"/subjects/{subject}/forms/{form}", payload)
    assert reply.status_code == 201, reply.json
    return reply.json["entry_id"]


@pytest.fixture
def infused(staff, subject):
    _submit(staff, subject, "screening_labs", valid("screening_labs"))  # ALT 22, ULN 40
    _submit(staff, subject, "lymphodepletion", valid("lymphodepletion"))
    _submit(staff, subject, "car_t_infusion", valid("car_t_infusion"))
    return subject


def test_an_ich_with_focal_oedema_is_not_icans_and_is_flagged_to_report(staff, infused):
    neuro = _submit(staff, infused, "neuro_assessment", valid(
        "neuro_assessment", ice_score=10, raised_icp="focal_edema",
        intracranial_hemorrhage=True, tremor_or_myoclonus=False))
    view = staff.get(f"/subjects/{infused}/safety").json
    assert view["icans"]["computed_max_grade"] == 0  # grade 3 before the second pass
    assert view["icans"]["ich_exclusions"][0]["entry_id"] == neuro
    assert [f["entry_id"] for f in view["unreported_ich"]] == [neuro]
    _submit(staff, infused, "adverse_event", valid(
        "adverse_event", term="Subdural haematoma", category="bleeding",
        onset_date="2026-02-07", end_date=None, ctcae_grade=3, serious=False,
        outcome="recovering"))
    assert staff.get(f"/subjects/{infused}/safety").json["unreported_ich"] == []


def test_an_unreported_ich_opens_an_automatic_query_closed_by_reporting_it(staff, infused):
    neuro = _submit(staff, infused, "neuro_assessment", valid(
        "neuro_assessment", intracranial_hemorrhage=True))
    [query] = [q for q in staff.get(f"/subjects/{infused}/queries").json["queries"]
               if q["automatic"] == "ich_not_reported_as_ae"]
    assert (query["entry_id"], query["field"], query["state"]) == (
        neuro, "intracranial_hemorrhage", "open")
    assert "report it as an adverse event" in query["text"]
    _submit(staff, infused, "adverse_event", valid(
        "adverse_event", term="Intracranial haemorrhage", category="bleeding",
        onset_date="2026-02-07", end_date=None, ctcae_grade=3, serious=False,
        outcome="recovering"))
    [closed] = [q for q in staff.get(f"/subjects/{infused}/queries").json["queries"]
                if q["automatic"] == "ich_not_reported_as_ae"]
    assert closed["state"] == "closed"


def test_fever_rows_from_vital_signs_with_grade_4_after_more_than_24_hours(staff, infused):
    for at, temperature in (("2026-02-04T08:00:00+08:00", 40.6),
                            ("2026-02-04T20:00:00+08:00", 40.4),
                            ("2026-02-05T08:01:00+08:00", 40.2),
                            ("2026-02-06T08:00:00+08:00", 38.0)):
        _submit(staff, infused, "vital_signs", valid(
            "vital_signs", visit="UNSCHEDULED", measured_at=at, temperature_c=temperature,
            fever_other_cause=True))  # another cause: no CRS fever, but still CTCAE fever
    fever = staff.get(f"/subjects/{infused}/safety").json["fever"]
    assert [(r["date"], r["max_temperature_c"], r["grade"]) for r in fever] == [
        ("2026-02-04", 40.6, 4), ("2026-02-05", 40.2, 4), ("2026-02-06", 38.0, 1)]
    assert all(len(r["entry_ids"]) >= 1 for r in fever)


def test_the_sites_hours_above_40_give_grade_4(staff, infused):
    _submit(staff, infused, "vital_signs", valid(
        "vital_signs", visit="UNSCHEDULED", measured_at="2026-02-05T08:00:00+08:00",
        temperature_c=40.3, hours_above_40=26))
    [row] = staff.get(f"/subjects/{infused}/safety").json["fever"]
    assert (row["grade"], row["hours_above_40"]) == (4, 26.0)


def test_hours_above_40_below_0_is_refused_with_a_field_message(staff, infused, store):
    before = store.count()
    reply = staff.post(f"/subjects/{infused}/forms/vital_signs",
                       valid("vital_signs", hours_above_40=-2))
    assert reply.status_code == 422
    assert "hours_above_40" in reply.json["error"]["fields"]
    assert store.count() == before


def test_a_chemistry_before_lymphodepletion_is_the_baseline_shown_in_the_row(staff, subject):
    _submit(staff, subject, "screening_labs", valid("screening_labs"))  # ALT 22 on 2026-01-06
    pre_ld = _submit(staff, subject, "chemistry", valid(
        "chemistry", visit="UNSCHEDULED", collected_at="2026-01-27T09:00:00+08:00", alt=100))
    _submit(staff, subject, "lymphodepletion", valid("lymphodepletion"))
    _submit(staff, subject, "car_t_infusion", valid("car_t_infusion"))
    later = _submit(staff, subject, "chemistry", valid("chemistry", alt=160))
    rows = staff.get(f"/subjects/{subject}/safety").json["lab_toxicities"]
    [row] = [r for r in rows if r["entry_id"] == later and r["test"] == "alt"]
    assert row["grade"] == 1  # 1.6 x the abnormal baseline; 4 x ULN would be grade 2
    assert row["baseline"] == {"value": 100.0, "collected_at": "2026-01-27T09:00:00+08:00",
                               "date": "2026-01-27", "entry_id": pre_ld, "form": "chemistry"}


def _responder(staff, subject):
    _submit(staff, subject, "screening_labs", valid("screening_labs"))  # platelets 18
    _submit(staff, subject, "lymphodepletion", valid("lymphodepletion"))
    _submit(staff, subject, "car_t_infusion", valid("car_t_infusion"))
    for day, value in (("2026-02-10", 120), ("2026-02-17", 130), ("2026-02-24", 140),
                       ("2026-04-01", 150), ("2026-04-28", 160)):
        _submit(staff, subject, "platelet_count", valid(
            "platelet_count", visit="UNSCHEDULED", collected_at=f"{day}T09:30:00+08:00",
            platelets=value))


def test_a_corticosteroid_course_for_another_indication_does_not_count(staff, subject):
    _responder(staff, subject)
    other = _submit(staff, subject, "concomitant_medication", valid(
        "concomitant_medication", start_date="2026-02-05", end_date="2026-04-20",
        indication="other", indication_other="stress dose for surgery"))
    result = staff.get(f"/subjects/{subject}/efficacy").json
    assert (result["corticosteroid_dependent"], result["best_response"]) == (False, "CR")
    assert result["corticosteroid_courses"] == []
    assert [c["entry_id"] for c in result["corticosteroid_courses_not_counted"]] == [other]
    assert result["duration_censored"] is True


def test_an_itp_corticosteroid_course_makes_the_responder_dependent(staff, subject):
    _responder(staff, subject)
    itp = _submit(staff, subject, "concomitant_medication", valid(
        "concomitant_medication", start_date="2026-02-05", end_date="2026-04-20"))
    result = staff.get(f"/subjects/{subject}/efficacy").json
    assert (result["corticosteroid_dependent"], result["best_response"]) == (True, "NR")
    assert [(c["entry_id"], c["indication"]) for c in result["corticosteroid_courses"]] == [
        (itp, "itp")]


@pytest.mark.parametrize(("changes", "field"), [
    ({"indication": None}, "indication"), ({"indication": "ITP"}, "indication"),
    ({"indication": "other"}, "indication_other")])
def test_a_corticosteroid_without_a_coded_indication_is_refused(staff, subject, store, changes,
                                                                field):
    before = store.count()
    reply = staff.post(f"/subjects/{subject}/forms/concomitant_medication",
                       valid("concomitant_medication", **changes))
    assert reply.status_code == 422, reply.json
    assert field in reply.json["error"]["fields"]
    assert store.count() == before


# -- entries stored before indication was coded -------------------------------------------------


@pytest.fixture
def legacy_steroid(staff, subject, store):
    """A corticosteroid entry in the shape stored before the enum: free-text indication."""
    _responder(staff, subject)
    version = len(store.read_stream(subject))
    values = {"drug": "hydrocortisone", "category": "corticosteroid", "dose": 20,
              "dose_unit": "mg", "start_date": "2026-02-05", "end_date": "2026-04-20",
              "indication": "stress dose for surgery"}
    store.append(subject, [NewEvent("ConcomitantMedicationRecorded", {
        "entry_id": "legacy-steroid", "form": "concomitant_medication", "values": values},
        {"actor": "staff", "role": "site_staff"})], expected_version=version)
    return "legacy-steroid"


def test_a_stored_free_text_indication_is_read_as_it_is(staff, subject, legacy_steroid):
    result = staff.get(f"/subjects/{subject}/efficacy").json
    assert result["corticosteroid_dependent"] is False
    [course] = result["corticosteroid_courses_not_counted"]
    assert (course["entry_id"], course["indication"], course["indication_other"]) == (
        legacy_steroid, "other", "stress dose for surgery")
    [entry] = [e for e in staff.get(f"/subjects/{subject}").json["entries"]
               if e["entry_id"] == legacy_steroid]
    assert entry["values"]["indication"] == "stress dose for surgery"  # the event is not rewritten


def test_correcting_a_legacy_entry_needs_a_coded_indication(staff, subject, legacy_steroid,
                                                            store):
    path = f"/subjects/{subject}/entries/{legacy_steroid}/corrections"
    before = store.count()
    reply = staff.post(path, {"changes": {"dose": 25}, "reason": "dose misread"})
    assert reply.status_code == 422, reply.json
    assert any("indication" in name for name in reply.json["error"]["fields"])
    assert store.count() == before
    reply = staff.post(path, {"changes": {"dose": 25, "indication": "other",
                                          "indication_other": "stress dose for surgery"},
                              "reason": "dose misread; indication coded"})
    assert reply.status_code == 201, reply.json
