"""ASTCT consensus grade of ICANS (Lee et al. 2019, Tables 5-8) from one neuro assessment.

ICE score for subjects aged 12 and over, CAPD under 12; the most severe domain sets the grade.
An intracranial hemorrhage, with or without associated edema, is not ICANS (it is graded by CTCAE):
when ``intracranial_hemorrhage`` is true the raised-ICP domain does not count, since the edema is
the bleed's. Tremor or myoclonus do not change the grade and are not read.
"""

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

ICE_MIN_AGE = 12  # ICE from this age, CAPD below it

_CONSCIOUSNESS_GRADE: Mapping[str, tuple[int, int]] = {  # (grade aged >= 12, grade under 12)
    "awake": (0, 0),
    "awakens_to_voice": (1, 2),
    "awakens_to_tactile": (3, 3),
    "unarousable_or_stupor_or_coma": (4, 4),
}
_SEIZURE_GRADE: Mapping[str, int] = {
    "none": 0,
    "focal_or_generalized_resolving": 3,
    "nonconvulsive_on_eeg_resolving": 3,
    "life_threatening_prolonged": 4,
}
_MOTOR_GRADE: Mapping[str, int] = {"none": 0, "deep_focal": 4}
_RAISED_ICP_GRADE: Mapping[str, int] = {
    "none": 0,
    "focal_edema": 3,
    "diffuse_edema_or_posturing_or_cn_vi_palsy_or_papilledema_or_cushing_triad": 4,
}


def icans_grade(assessment: Mapping[str, Any], age_years: int) -> int:
    """Grade ICANS from one assessment, so each assessment carries its ASTCT grade."""
    if age_years < 0:
        raise ValueError(f"age_years must not be negative, got {age_years!r}")
    adult = age_years >= ICE_MIN_AGE
    consciousness = _lookup(_CONSCIOUSNESS_GRADE, assessment, "consciousness", "awake")
    encephalopathy = _ice_grade(assessment) if adult else _capd_grade(assessment)
    return max(
        encephalopathy,
        consciousness[0 if adult else 1],
        _lookup(_SEIZURE_GRADE, assessment, "seizure", "none"),
        _lookup(_MOTOR_GRADE, assessment, "motor_weakness", "none"),
        _raised_icp_grade(assessment),
    )


def raised_icp_excluded(assessment: Mapping[str, Any]) -> bool:
    """Tell whether the raised-ICP domain is set aside: the assessment records an ICH."""
    return assessment.get("intracranial_hemorrhage") is True


def _raised_icp_grade(assessment: Mapping[str, Any]) -> int:
    grade = _lookup(_RAISED_ICP_GRADE, assessment, "raised_icp", "none")  # validated either way
    return 0 if raised_icp_excluded(assessment) else grade


def daily_icans_grades(series: Iterable[Mapping[str, Any]], age_years: int) -> dict[date, int]:
    """Keep the worst ICANS grade of each clinical day (its date in the entered offset)."""
    days: dict[date, int] = {}
    for assessment in series:
        day = _clinical_day(assessment["assessed_at"])
        days[day] = max(days.get(day, 0), icans_grade(assessment, age_years))
    return days


def _ice_grade(assessment: Mapping[str, Any]) -> int:
    # ICE 0 is G3 (awake with global aphasia) or G4 (unarousable: the consciousness domain).
    score = assessment.get("ice_score")
    if score is None:
        return 3 if assessment.get("global_aphasia") else 0
    if not 0 <= score <= 10:
        raise ValueError(f"ice_score must be 0-10, got {score!r}")
    if score == 10:
        return 0
    if score >= 7:
        return 1
    return 2 if score >= 3 else 3


def _capd_grade(assessment: Mapping[str, Any]) -> int:
    if assessment.get("capd_unable"):
        return 4
    score = assessment.get("capd_score")
    if score is None or score == 0:
        return 0
    if not 0 < score <= 32:
        raise ValueError(f"capd_score must be 0-32, got {score!r}")
    if score >= 9:
        return 3
    return 2 if assessment.get("consciousness") == "awakens_to_voice" else 1


def _lookup(table: Mapping[str, Any], assessment: Mapping[str, Any], key: str, absent: str) -> Any:
    value = assessment.get(key) or absent
    if value not in table:
        raise ValueError(f"unknown {key} {value!r}")
    return table[value]


def _clinical_day(moment: datetime) -> date:
    """The date in the offset the time was entered with (projections.dates.as_date)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"assessed_at must be timezone-aware, got {moment!r}")
    return moment.date()
