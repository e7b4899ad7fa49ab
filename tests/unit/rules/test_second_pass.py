"""Issue #15, the clinical rules' second pass: ICH is not ICANS, fever by CTCAE, lab baselines,
corticosteroid indication, censored durations. Each rule with the boundaries the issue names.

Casebooks are folded from events in memory (the projections are pure functions of the events).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ecrf.forms.registry import FORMS
from events import RecordedEvent
from projections.casebook import Casebook, fold_casebook
from projections.efficacy import coded_indication, efficacy
from projections.rules.ctcae import fever_run_hours
from projections.rules.icans import icans_grade
from projections.safety import safety
from projections.trial_config import TrialConfig

ADULT = 40
RAISED_ICP = ("none", "focal_edema",
              "diffuse_edema_or_posturing_or_cn_vi_palsy_or_papilledema_or_cushing_triad")


class Book:
    """Events of one subject (ITP-900, day 0 on 2026-02-06), folded on demand."""

    def __init__(self) -> None:
        self.events: list[RecordedEvent] = []
        self.form("registration", subject_id="ITP-900", site_id="SITE-09", sex="M",
                  birth_date="1970-01-01", consent_date="2026-01-05",
                  screening_date="2026-01-06")

    def form(self, form: str, **values: Any) -> str:
        position = len(self.events) + 1
        entry_id = f"E{position}"
        self.events.append(RecordedEvent(
            position, "ITP-900", position, FORMS[form].event_type, 1,
            {"entry_id": entry_id, "form": form, "values": values},
            {"actor": "unit", "role": "site_staff"}, datetime(2026, 3, 1, tzinfo=UTC),
            f"h{position}"))
        return entry_id

    def treated(self, ld: tuple[str, ...] = ("2026-02-01",)) -> Book:
        for day in ld:
            self.form("lymphodepletion", visit="LD", administered_on=day, height_cm=170,
                      weight_kg=70, fludarabine_mg=50, cyclophosphamide_mg=500)
        self.form("car_t_infusion", visit="D0", infused_at="2026-02-06T10:00:00+00:00",
                  product_lot="L", dose_cells_per_kg=1e6, weight_kg=70)
        return self

    def vitals(self, at: str, temperature: float, **values: Any) -> str:
        return self.form("vital_signs", visit="UNSCHEDULED", measured_at=at,
                         temperature_c=temperature, **values)

    def neuro(self, **values: Any) -> str:
        return self.form("neuro_assessment", visit="UNSCHEDULED",
                         assessed_at="2026-02-10T09:00:00+00:00", ice_score=10,
                         consciousness="awake", **values)

    @property
    def book(self) -> Casebook:
        book = fold_casebook(self.events)
        assert book is not None
        return book


# -- 1. intracranial haemorrhage is not ICANS ------------------------------------------------


@pytest.mark.parametrize("icp", RAISED_ICP)
def test_an_ich_with_any_oedema_value_is_icans_grade_0_when_ice_10_and_awake(icp: str) -> None:
    assessment = {"ice_score": 10, "consciousness": "awake", "raised_icp": icp,
                  "intracranial_hemorrhage": True}
    assert icans_grade(assessment, ADULT) == 0


@pytest.mark.parametrize(("icp", "grade"), list(zip(RAISED_ICP, (0, 3, 4), strict=True)))
def test_without_an_ich_the_raised_icp_domain_still_grades(icp: str, grade: int) -> None:
    for ich in (False, None):
        assessment = {"ice_score": 10, "consciousness": "awake", "raised_icp": icp,
                      "intracranial_hemorrhage": ich}
        assert icans_grade(assessment, ADULT) == grade


def test_an_ich_leaves_the_other_domains_grading() -> None:
    assessment = {"ice_score": 5, "consciousness": "awake", "raised_icp": "focal_edema",
                  "intracranial_hemorrhage": True, "seizure": "focal_or_generalized_resolving"}
    assert icans_grade(assessment, ADULT) == 3  # the seizure, not the oedema
    assert icans_grade({**assessment, "seizure": "none"}, ADULT) == 2  # ICE 5


def test_an_unknown_raised_icp_value_is_still_refused_with_an_ich() -> None:
    with pytest.raises(ValueError, match="raised_icp"):
        icans_grade({"raised_icp": "bogus", "intracranial_hemorrhage": True}, ADULT)


def test_the_safety_view_says_why_and_flags_an_unreported_ich() -> None:
    b = Book().treated()
    neuro = b.neuro(raised_icp="focal_edema", intracranial_hemorrhage=True)
    view = safety(b.book)
    assert view["icans"]["computed_max_grade"] == 0
    [excluded] = view["icans"]["ich_exclusions"]
    assert excluded["entry_id"] == neuro and excluded["raised_icp"] == "focal_edema"
    assert "not ICANS" in excluded["reason"] and "raised-ICP" in excluded["reason"]
    [finding] = view["unreported_ich"]
    assert (finding["entry_id"], finding["date"]) == (neuro, "2026-02-10")
    assert "report it as an adverse event" in finding["detail"]


def test_an_ich_reported_as_an_adverse_event_is_not_flagged() -> None:
    b = Book().treated()
    b.neuro(intracranial_hemorrhage=True)
    b.form("adverse_event", term="Intracranial haemorrhage", category="bleeding",
           onset_date="2026-02-09", ctcae_grade=3, serious=False, relatedness_car_t="unlikely",
           relatedness_lymphodepletion="unlikely", outcome="recovering")
    assert safety(b.book)["unreported_ich"] == []


def test_an_unrelated_adverse_event_does_not_report_the_ich() -> None:
    b = Book().treated()
    b.neuro(intracranial_hemorrhage=True)
    b.form("adverse_event", term="Headache", category="other", onset_date="2026-02-10",
           ctcae_grade=1, serious=False, relatedness_car_t="unlikely",
           relatedness_lymphodepletion="unlikely", outcome="recovered")
    assert len(safety(b.book)["unreported_ich"]) == 1


# -- 2. fever by CTCAE from the vital signs --------------------------------------------------


def _fever(*vitals: tuple[str, float], **values: Any) -> list[dict[str, Any]]:
    b = Book().treated()
    for at, temperature in vitals:
        b.vitals(at, temperature, **values)
    return safety(b.book)["fever"]


@pytest.mark.parametrize(("temperature", "grade"),
                         [(37.9, None), (38.0, 1), (39.0, 1), (39.1, 2), (40.0, 2), (40.1, 3)])
def test_fever_grade_bands_40_0_is_grade_2_and_40_1_grade_3(temperature: float,
                                                            grade: int | None) -> None:
    rows = _fever(("2026-02-07T08:00:00+00:00", temperature))
    if grade is None:
        assert rows == []
    else:
        [row] = rows
        assert (row["date"], row["max_temperature_c"], row["grade"]) == (
            "2026-02-07", temperature, grade)


def test_a_run_above_40_of_exactly_24_hours_is_grade_3() -> None:
    rows = _fever(("2026-02-07T08:00:00+00:00", 40.5), ("2026-02-07T20:00:00+00:00", 40.2),
                  ("2026-02-08T08:00:00+00:00", 40.3))
    assert [r["grade"] for r in rows] == [3, 3]
    assert rows[1]["hours_above_40"] == 24.0


def test_a_run_above_40_of_24_hours_and_one_minute_is_grade_4() -> None:
    rows = _fever(("2026-02-07T08:00:00+00:00", 40.5), ("2026-02-07T20:00:00+00:00", 40.2),
                  ("2026-02-08T08:01:00+00:00", 40.3))
    assert [r["grade"] for r in rows] == [4, 4]


def test_a_measurement_at_40_0_breaks_the_run() -> None:
    rows = _fever(("2026-02-07T08:00:00+00:00", 40.5), ("2026-02-07T20:00:00+00:00", 40.0),
                  ("2026-02-08T09:00:00+00:00", 40.3))
    assert [r["grade"] for r in rows] == [3, 3]


def test_the_sites_own_hours_above_40_makes_grade_4_only_above_24() -> None:
    assert _fever(("2026-02-07T08:00:00+00:00", 40.4), hours_above_40=24)[0]["grade"] == 3
    assert _fever(("2026-02-07T08:00:00+00:00", 40.4), hours_above_40=24.5)[0]["grade"] == 4
    # a duration above 40 says nothing about a measurement of 39.5
    assert _fever(("2026-02-07T08:00:00+00:00", 39.5), hours_above_40=30)[0]["grade"] == 2


@pytest.mark.parametrize("hours", ["30", -5, True, float("nan"), [30]])
def test_a_stored_hours_above_40_the_form_would_refuse_is_not_read(hours: Any) -> None:
    # an event written around the API (someone with the database file): no 500, no grade 4
    assert _fever(("2026-02-07T08:00:00+00:00", 40.4), hours_above_40=hours)[0]["grade"] == 3


def test_fever_other_cause_does_not_change_the_ctcae_grade() -> None:
    rows = _fever(("2026-02-07T08:00:00+00:00", 39.5), fever_other_cause=True)
    assert rows[0]["grade"] == 2


def test_one_row_per_clinical_day_with_the_days_entries_and_maximum() -> None:
    b = Book().treated()
    first = b.vitals("2026-02-07T01:00:00+08:00", 38.4)  # UTC: the 6th; the site's date: the 7th
    second = b.vitals("2026-02-07T18:00:00+00:00", 39.4)
    b.vitals("2026-02-08T08:00:00+00:00", 37.0)
    [row] = safety(b.book)["fever"]
    assert row == {"date": "2026-02-07", "max_temperature_c": 39.4, "grade": 2,
                   "hours_above_40": None, "entry_ids": [first, second]}


def test_fever_run_hours_is_measured_by_instant_whatever_the_offsets() -> None:
    start = datetime(2026, 2, 7, 8, tzinfo=UTC)
    series = [(start, 40.5), (start + timedelta(hours=25), 40.5), (start - timedelta(hours=1),
                                                                   39.0)]
    assert fever_run_hours(series) == {0: 25.0, 1: 25.0}


# -- 3. one baseline for lab grading --------------------------------------------------------


def _chemistry(b: Book, at: str, alt: float, form: str = "chemistry") -> str:
    return b.form(form, visit="UNSCHEDULED" if form == "chemistry" else "SCR",
                  collected_at=at, alt=alt, alt_uln=40, platelets=20)


def test_a_chemistry_before_lymphodepletion_is_the_baseline_not_the_screening_labs() -> None:
    b = Book()
    _chemistry(b, "2026-01-06T08:00:00+00:00", 30, form="screening_labs")
    pre_ld = _chemistry(b, "2026-01-30T08:00:00+00:00", 100)  # abnormal: 2.5 x ULN
    b.treated(ld=("2026-02-01", "2026-02-02"))
    later = _chemistry(b, "2026-02-10T08:00:00+00:00", 160)  # 4 x ULN, 1.6 x baseline
    rows = {r["entry_id"]: r for r in safety(b.book)["lab_toxicities"] if r["test"] == "alt"}
    # against the abnormal pre-LD baseline 160 is 1.6 x baseline: grade 1 (not 2 by the ULN)
    assert rows[later]["grade"] == 1
    assert rows[later]["baseline"] == {"value": 100, "collected_at": "2026-01-30T08:00:00+00:00",
                                       "date": "2026-01-30", "entry_id": pre_ld,
                                       "form": "chemistry"}
    assert rows[pre_ld]["baseline"] is None  # the baseline itself is graded on its limits


def test_a_value_on_the_first_lymphodepletion_day_is_still_baseline_the_next_day_is_not() -> None:
    b = Book()
    _chemistry(b, "2026-01-06T08:00:00+00:00", 100, form="screening_labs")
    on_ld = _chemistry(b, "2026-02-01T23:00:00+00:00", 30)
    _chemistry(b, "2026-02-02T08:00:00+00:00", 200)
    b.treated(ld=("2026-02-01", "2026-02-02"))
    rows = safety(b.book)["lab_toxicities"]
    assert {r["baseline"]["entry_id"] for r in rows if r["baseline"] and r["test"] == "alt"} == {
        on_ld}


def test_the_screening_setting_keeps_the_screening_labs_as_baseline() -> None:
    b = Book()
    screening = _chemistry(b, "2026-01-06T08:00:00+00:00", 100, form="screening_labs")
    _chemistry(b, "2026-01-30T08:00:00+00:00", 30)
    b.treated()
    later = _chemistry(b, "2026-02-10T08:00:00+00:00", 160)
    config = TrialConfig(lab_baseline="screening")
    rows = {r["entry_id"]: r for r in safety(b.book, config=config)["lab_toxicities"]}
    assert rows[later]["baseline"]["entry_id"] == screening
    with pytest.raises(ValueError, match="lab_baseline"):
        safety(b.book, config=TrialConfig(lab_baseline="first"))


def test_without_lymphodepletion_the_baseline_is_the_last_value_by_the_infusion() -> None:
    b = Book()
    _chemistry(b, "2026-01-06T08:00:00+00:00", 30, form="screening_labs")
    day0_morning = _chemistry(b, "2026-02-06T07:00:00+00:00", 100)
    b.treated(ld=())
    after = _chemistry(b, "2026-02-06T12:00:00+00:00", 200)  # after the 10:00 infusion
    rows = {r["entry_id"]: r for r in safety(b.book)["lab_toxicities"] if r["test"] == "alt"}
    assert rows[after]["baseline"]["entry_id"] == day0_morning


def test_before_any_treatment_there_is_no_baseline_yet() -> None:
    b = Book()
    _chemistry(b, "2026-01-06T08:00:00+00:00", 100, form="screening_labs")
    _chemistry(b, "2026-01-20T08:00:00+00:00", 160)
    assert all(r["baseline"] is None for r in safety(b.book)["lab_toxicities"])


# -- 4. corticosteroid dependence needs an indication ---------------------------------------


def _steroid(b: Book, indication: str | None, **values: Any) -> str:
    extra = {} if indication is None else {"indication": indication}
    return b.form("concomitant_medication", drug="prednisone", category="corticosteroid",
                  start_date="2026-02-08", end_date="2026-05-01", **extra, **values)


def _responder() -> Book:
    b = Book().treated()
    for day, value in ((7, 120), (14, 130), (21, 140), (28, 150), (60, 150), (84, 160)):
        b.form("platelet_count", visit="UNSCHEDULED",
               collected_at=f"{(datetime(2026, 2, 6) + timedelta(days=day)).date()}T08:00:00"
                            "+00:00", platelets=value)
    return b


def test_a_corticosteroid_course_for_another_indication_does_not_make_dependence() -> None:
    b = _responder()
    other = _steroid(b, "other", indication_other="adrenal replacement")
    result = efficacy(b.book)
    assert result["corticosteroid_dependent"] is False
    assert result["best_response"] == "CR"
    assert result["corticosteroid_courses"] == []
    [course] = result["corticosteroid_courses_not_counted"]
    assert (course["entry_id"], course["indication"], course["indication_other"]) == (
        other, "other", "adrenal replacement")


def test_an_itp_course_of_two_months_makes_the_subject_dependent_and_is_shown() -> None:
    b = _responder()
    itp = _steroid(b, "itp")
    result = efficacy(b.book)
    assert result["corticosteroid_dependent"] is True
    assert result["best_response"] == "NR"
    assert [(c["entry_id"], c["indication"], c["form"]) for c in result[
        "corticosteroid_courses"]] == [(itp, "itp", "concomitant_medication")]


def test_corticosteroid_rescue_therapy_counts() -> None:
    b = _responder()
    rescue = b.form("rescue_therapy", agent="dexamethasone", category="corticosteroid",
                    start_date="2026-02-08", end_date="2026-05-01")
    result = efficacy(b.book)
    assert result["corticosteroid_dependent"] is True
    assert [c["entry_id"] for c in result["corticosteroid_courses"]] == [rescue]


@pytest.mark.parametrize(("stored", "coded"), [
    ("itp", "itp"), ("other", "other"), ("ITP", "itp"), ("chronic ITP", "itp"),
    ("immune thrombocytopenia", "itp"), ("stress dose for surgery", "other"),
    ("split", "other"), (None, "unknown"), ("  ", "unknown")])
def test_entries_stored_with_free_text_indications_are_read_as_they_are(stored, coded) -> None:
    assert coded_indication(stored) == coded


def test_a_stored_free_text_indication_of_another_cause_does_not_count() -> None:
    b = _responder()
    _steroid(b, "stress dose for surgery")  # an entry recorded before the enum
    result = efficacy(b.book)
    assert result["corticosteroid_dependent"] is False
    assert result["corticosteroid_courses_not_counted"][0]["indication_other"] == (
        "stress dose for surgery")


def test_a_stored_entry_without_indication_still_counts() -> None:
    b = _responder()
    _steroid(b, None)
    result = efficacy(b.book)
    assert result["corticosteroid_dependent"] is True
    assert result["corticosteroid_courses"][0]["indication"] == "unknown"


# -- 5. a censored duration says so ---------------------------------------------------------


def test_an_ongoing_first_response_is_censored() -> None:
    result = efficacy(_responder().book)
    assert result["best_response"] == "CR"
    assert result["duration_censored"] is True
    assert result["duration_of_response_days"] == 84 - 7


def test_a_lost_response_is_not_censored() -> None:
    b = _responder()
    for day in (90, 97):
        b.form("platelet_count", visit="UNSCHEDULED",
               collected_at=f"{(datetime(2026, 2, 6) + timedelta(days=day)).date()}T08:00:00"
                            "+00:00", platelets=10)
    result = efficacy(b.book)
    assert result["loss_of_response"] is True
    assert result["duration_censored"] is False
    assert result["duration_of_response_days"] == 90 - 7


def test_without_a_response_duration_censored_is_null() -> None:
    b = Book().treated()
    b.form("platelet_count", visit="UNSCHEDULED", collected_at="2026-02-13T08:00:00+00:00",
           platelets=10)
    result = efficacy(b.book)
    assert result["best_response"] == "NR"
    assert result["duration_censored"] is None
    assert efficacy(Book().book)["duration_censored"] is None  # not infused


def test_a_lone_measurement_above_40_shows_0_hours_and_grade_3() -> None:
    [row] = _fever(("2026-02-07T08:00:00+00:00", 40.4))
    assert (row["grade"], row["hours_above_40"]) == (3, 0.0)
