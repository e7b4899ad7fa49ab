"""ASTCT ICANS grading from a neuro assessment (clinical-rules.md "Safety", Lee et al. 2019)."""

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from projections.rules.icans import daily_icans_grades, icans_grade

ADULT = 40
CHILD = 8


@pytest.mark.parametrize(
    ("ice", "grade"),
    [(10, 0), (9, 1), (7, 1), (6, 2), (3, 2), (2, 3), (1, 3), (0, 3)],
)
def test_ice_10_normal_7_to_9_g1_3_to_6_g2_0_to_2_g3(ice: int, grade: int) -> None:
    assert icans_grade({"ice_score": ice, "consciousness": "awake"}, ADULT) == grade


def test_ice_0_in_an_awake_subject_with_global_aphasia_is_grade_3() -> None:
    assessment = {"ice_score": 0, "consciousness": "awake", "global_aphasia": True}
    assert icans_grade(assessment, ADULT) == 3


def test_ice_0_because_unarousable_is_grade_4() -> None:
    assessment = {"ice_score": 0, "consciousness": "unarousable_or_stupor_or_coma"}
    assert icans_grade(assessment, ADULT) == 4


def test_global_aphasia_without_an_ice_score_counts_as_ice_0() -> None:
    assert icans_grade({"global_aphasia": True, "consciousness": "awake"}, ADULT) == 3


@pytest.mark.parametrize(
    ("consciousness", "adult_grade", "child_grade"),
    [
        ("awake", 0, 0),
        ("awakens_to_voice", 1, 2),
        ("awakens_to_tactile", 3, 3),
        ("unarousable_or_stupor_or_coma", 4, 4),
    ],
)
def test_consciousness_voice_g1_adult_g2_child_tactile_g3_unarousable_g4(
    consciousness: str, adult_grade: int, child_grade: int
) -> None:
    assert icans_grade({"consciousness": consciousness}, ADULT) == adult_grade
    assert icans_grade({"consciousness": consciousness}, CHILD) == child_grade


@pytest.mark.parametrize(
    ("seizure", "grade"),
    [
        ("none", 0),
        ("focal_or_generalized_resolving", 3),
        ("nonconvulsive_on_eeg_resolving", 3),
        ("life_threatening_prolonged", 4),
    ],
)
def test_resolving_seizure_g3_prolonged_or_repetitive_g4(seizure: str, grade: int) -> None:
    assert icans_grade({"ice_score": 10, "seizure": seizure}, ADULT) == grade
    assert icans_grade({"capd_score": 0, "seizure": seizure}, CHILD) == grade


@pytest.mark.parametrize(("motor", "grade"), [("none", 0), ("deep_focal", 4)])
def test_deep_focal_motor_weakness_is_grade_4(motor: str, grade: int) -> None:
    assert icans_grade({"ice_score": 10, "motor_weakness": motor}, ADULT) == grade


@pytest.mark.parametrize(
    ("icp", "grade"),
    [
        ("none", 0),
        ("focal_edema", 3),
        ("diffuse_edema_or_posturing_or_cn_vi_palsy_or_papilledema_or_cushing_triad", 4),
    ],
)
def test_raised_icp_focal_edema_g3_diffuse_edema_or_signs_g4(icp: str, grade: int) -> None:
    assert icans_grade({"ice_score": 10, "raised_icp": icp}, ADULT) == grade


@pytest.mark.parametrize(
    ("assessment", "grade"),
    [
        ({"capd_score": 0}, 0),
        ({"capd_score": 1}, 1),
        ({"capd_score": 8, "consciousness": "awake"}, 1),
        ({"capd_score": 1, "consciousness": "awakens_to_voice"}, 2),
        ({"capd_score": 8, "consciousness": "awakens_to_voice"}, 2),
        ({"capd_score": 9}, 3),
        ({"capd_score": 32}, 3),
        ({"capd_unable": True}, 4),
        ({"capd_unable": True, "capd_score": 2}, 4),
    ],
)
def test_capd_1_to_8_awake_g1_waking_to_voice_g2_9_or_more_g3_unable_g4(
    assessment: dict[str, Any], grade: int
) -> None:
    assert icans_grade(assessment, CHILD) == grade


@pytest.mark.parametrize(
    ("age", "grade"),
    [(11, 1), (12, 2)],
)
def test_ice_from_age_12_capd_under_12(age: int, grade: int) -> None:
    assessment = {"ice_score": 5, "capd_score": 4, "capd_unable": False}
    assert icans_grade(assessment, age) == grade


def test_capd_unable_is_not_read_for_a_subject_aged_12_or_more() -> None:
    assert icans_grade({"ice_score": 10, "capd_unable": True}, 12) == 0


def test_ice_10_or_capd_0_with_nothing_else_is_no_icans() -> None:
    normal = {
        "consciousness": "awake",
        "seizure": "none",
        "motor_weakness": "none",
        "raised_icp": "none",
        "global_aphasia": False,
        "capd_unable": False,
    }
    assert icans_grade({**normal, "ice_score": 10}, ADULT) == 0
    assert icans_grade({**normal, "capd_score": 0}, CHILD) == 0
    assert icans_grade({}, ADULT) == 0


@pytest.mark.parametrize("age", [ADULT, CHILD])
def test_intracranial_hemorrhage_and_tremor_do_not_change_the_icans_grade(age: int) -> None:
    base = {"ice_score": 8} if age >= 12 else {"capd_score": 3}
    extra = {"intracranial_hemorrhage": True, "tremor_or_myoclonus": True}
    assert icans_grade({**base, **extra}, age) == icans_grade(base, age) == 1


@pytest.mark.parametrize(
    ("assessment", "grade"),
    [
        ({"ice_score": 8, "seizure": "focal_or_generalized_resolving"}, 3),
        ({"ice_score": 2, "consciousness": "awakens_to_voice"}, 3),
        ({"ice_score": 5, "raised_icp": "focal_edema", "motor_weakness": "deep_focal"}, 4),
    ],
)
def test_most_severe_domain_sets_the_grade(assessment: dict[str, Any], grade: int) -> None:
    assert icans_grade(assessment, ADULT) == grade


@pytest.mark.parametrize(
    ("assessment", "age"),
    [
        ({"ice_score": 11}, ADULT),
        ({"ice_score": -1}, ADULT),
        ({"capd_score": 33}, CHILD),
        ({"capd_score": -1}, CHILD),
        ({"consciousness": "drowsy"}, ADULT),
        ({"seizure": "absence"}, ADULT),
        ({"motor_weakness": "mild"}, ADULT),
        ({"raised_icp": "edema"}, ADULT),
        ({}, -1),
    ],
)
def test_out_of_range_scores_unknown_choices_and_negative_age_are_refused(
    assessment: dict[str, Any], age: int
) -> None:
    with pytest.raises(ValueError):
        icans_grade(assessment, age)


def _at(text: str, **fields: Any) -> dict[str, Any]:
    return {"assessed_at": datetime.fromisoformat(text), **fields}


def test_daily_icans_grade_is_the_worst_of_the_calendar_day() -> None:
    series = [
        _at("2025-03-05T06:00:00+00:00", ice_score=10),
        _at("2025-03-05T12:00:00+00:00", ice_score=5),
        _at("2025-03-05T18:00:00+00:00", ice_score=8),
        _at("2025-03-06T06:00:00+00:00", ice_score=10),
    ]
    assert daily_icans_grades(series, ADULT) == {date(2025, 3, 5): 2, date(2025, 3, 6): 0}


def test_daily_icans_grade_uses_the_entered_date_and_the_age_instrument() -> None:
    evening = datetime(2025, 3, 5, 22, 0, tzinfo=timezone(timedelta(hours=-5)))  # 03:00 UTC 6th
    series = [{"assessed_at": evening, "capd_score": 10, "ice_score": 10}]
    assert daily_icans_grades(series, CHILD) == {date(2025, 3, 5): 3}


def test_daily_icans_grades_refuse_a_naive_assessed_at() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        daily_icans_grades([{"assessed_at": datetime(2025, 3, 5, 6, 0), "ice_score": 9}], ADULT)
