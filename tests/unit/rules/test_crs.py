"""ASTCT CRS grading from vital signs (clinical-rules.md "Safety", Lee et al. 2019 Table 3)."""

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from projections.rules.crs import crs_grade, daily_crs_grades

FEVER = {"temperature_c": 38.5}


@pytest.mark.parametrize(
    ("vitals", "grade"),
    [({}, 0), ({"temperature_c": 37.9}, 0), ({"temperature_c": 38.0}, 1), (FEVER, 1)],
)
def test_grade_1_is_fever_of_at_least_38_alone(vitals: dict[str, Any], grade: int) -> None:
    assert crs_grade(vitals) == grade


def test_fever_due_to_another_cause_is_not_crs() -> None:
    vitals = {**FEVER, "fever_other_cause": True, "hypotension": True, "vasopressors": 2}
    assert crs_grade(vitals) == 0


@pytest.mark.parametrize(
    "vitals",
    [
        {"hypotension": True},
        {"oxygen": "mechanical_ventilation"},
        {"temperature_c": 37.0, "vasopressors": 1},
    ],
)
def test_without_fever_hypotension_or_hypoxia_is_not_crs(vitals: dict[str, Any]) -> None:
    assert crs_grade(vitals) == 0


@pytest.mark.parametrize(
    ("vitals", "grade"),
    [
        ({"hypotension": True}, 2),
        ({"oxygen": "low_flow_nasal_cannula", "oxygen_flow_l_min": 2}, 2),
        ({"vasopressors": 1}, 3),
        ({"oxygen": "positive_pressure"}, 4),
        ({"temperature_c": 36.8}, 0),
        ({}, 0),
        ({"fever_other_cause": True, "temperature_c": 39.0, "vasopressors": 1}, 3),
    ],
)
def test_after_tocilizumab_or_steroids_no_fever_is_needed(
    vitals: dict[str, Any], grade: int
) -> None:
    assert crs_grade({**vitals, "anticytokine_or_steroid_given": True}) == grade


def test_after_tocilizumab_fever_alone_is_still_grade_1() -> None:
    assert crs_grade({**FEVER, "anticytokine_or_steroid_given": True}) == 1


@pytest.mark.parametrize(
    ("vitals", "grade"),
    [
        ({"hypotension": False}, 1),
        ({"hypotension": True}, 2),
        ({"hypotension": True, "vasopressors": 0}, 2),
        ({"vasopressors": 1}, 3),
        ({"hypotension": True, "vasopressors": 1}, 3),
        ({"vasopressors": 2}, 4),
        ({"vasopressors": 5}, 4),
    ],
)
def test_hypotension_without_vasopressor_g2_one_vasopressor_g3_several_g4(
    vitals: dict[str, Any], grade: int
) -> None:
    assert crs_grade({**FEVER, **vitals}) == grade


@pytest.mark.parametrize(("vasopressors", "grade"), [(0, 3), (1, 3), (2, 3), (3, 4)])
def test_vasopressin_does_not_count_as_a_second_vasopressor(vasopressors: int, grade: int) -> None:
    vitals = {**FEVER, "hypotension": True, "vasopressors": vasopressors, "vasopressin": True}
    assert crs_grade(vitals) == grade


@pytest.mark.parametrize(
    ("oxygen", "flow", "grade"),
    [
        ("none", None, 1),
        ("low_flow_nasal_cannula", None, 2),
        ("low_flow_nasal_cannula", 1, 2),
        ("low_flow_nasal_cannula", 6, 2),
        ("low_flow_nasal_cannula", 6.1, 3),
        ("high_flow_nasal_cannula", None, 3),
        ("high_flow_nasal_cannula", 40, 3),
        ("facemask", None, 3),
        ("non_rebreather", None, 3),
        ("venturi", None, 3),
        ("positive_pressure", None, 4),
        ("mechanical_ventilation", None, 4),
    ],
)
def test_hypoxia_low_flow_up_to_6_l_g2_high_flow_or_mask_g3_positive_pressure_g4(
    oxygen: str, flow: float | None, grade: int
) -> None:
    assert crs_grade({**FEVER, "oxygen": oxygen, "oxygen_flow_l_min": flow}) == grade


@pytest.mark.parametrize(
    ("vitals", "grade"),
    [
        ({"hypotension": True, "oxygen": "facemask"}, 3),
        ({"vasopressors": 1, "oxygen": "low_flow_nasal_cannula"}, 3),
        ({"vasopressors": 2, "oxygen": "low_flow_nasal_cannula"}, 4),
        ({"hypotension": True, "oxygen": "mechanical_ventilation"}, 4),
    ],
)
def test_more_severe_of_hypotension_and_hypoxia_sets_the_grade(
    vitals: dict[str, Any], grade: int
) -> None:
    assert crs_grade({**FEVER, **vitals}) == grade


def test_missing_or_none_fields_mean_not_present() -> None:
    vitals = {
        **FEVER,
        "hypotension": None,
        "vasopressors": None,
        "vasopressin": None,
        "oxygen": None,
        "oxygen_flow_l_min": None,
        "fever_other_cause": None,
        "anticytokine_or_steroid_given": None,
    }
    assert crs_grade(vitals) == 1


def test_grade_5_is_not_derivable_from_vital_signs() -> None:
    worst = {**FEVER, "vasopressors": 5, "oxygen": "mechanical_ventilation", "hypotension": True}
    assert crs_grade(worst) == 4


def test_organ_toxicity_fields_do_not_change_the_crs_grade() -> None:
    assert crs_grade({**FEVER, "spo2": 80, "heart_rate": 160, "systolic_bp": 70}) == 1


def test_unknown_oxygen_support_is_refused() -> None:
    with pytest.raises(ValueError, match="oxygen"):
        crs_grade({**FEVER, "oxygen": "nasal_prongs"})


def test_negative_vasopressor_count_is_refused() -> None:
    with pytest.raises(ValueError, match="vasopressors"):
        crs_grade({**FEVER, "vasopressors": -1})


def _at(text: str, **vitals: Any) -> dict[str, Any]:
    return {"measured_at": datetime.fromisoformat(text), **vitals}


def test_daily_grade_is_the_worst_of_the_calendar_day() -> None:
    series = [
        _at("2025-03-01T08:00:00+00:00", temperature_c=38.2),
        _at("2025-03-01T14:00:00+00:00", temperature_c=38.9, hypotension=True),
        _at("2025-03-01T20:00:00+00:00", temperature_c=37.2),
        _at("2025-03-02T08:00:00+00:00", temperature_c=36.9),
    ]
    assert daily_crs_grades(series) == {date(2025, 3, 1): 2, date(2025, 3, 2): 0}


def test_daily_grade_uses_the_date_in_the_entered_offset_not_the_utc_date() -> None:
    # issue #11 item 3: the clinical date of a date-time is its date in the offset entered
    late_local = datetime(2025, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-2)))
    early_local = datetime(2025, 3, 2, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    series = [
        {"measured_at": late_local, "temperature_c": 39.0},
        {"measured_at": early_local, "temperature_c": 38.1, "vasopressors": 1},
    ]
    assert daily_crs_grades(series) == {date(2025, 3, 1): 1, date(2025, 3, 2): 3}


def test_daily_grades_of_no_measurements_are_empty() -> None:
    assert daily_crs_grades([]) == {}


def test_daily_grades_refuse_a_naive_measured_at() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        daily_crs_grades([{"measured_at": datetime(2025, 3, 1, 8, 0), "temperature_c": 38.5}])


def test_daily_grades_accept_utc_datetimes() -> None:
    measured = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)
    assert daily_crs_grades([{"measured_at": measured, **FEVER}]) == {date(2025, 3, 1): 1}
