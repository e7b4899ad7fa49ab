"""ASTCT consensus grade of cytokine release syndrome (Lee et al. 2019, Table 3) from vital signs.

Grades 0 to 4 only: grade 5 (death due to CRS) cannot be seen in vital signs; it comes from an
`adverse_event` of category `crs` with grade 5 and outcome `fatal`.
"""

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

FEVER_C = 38.0
LOW_FLOW_MAX_L_MIN = 6.0  # a nasal cannula above this flow is high flow (G3)

_OXYGEN_GRADE: Mapping[str, int] = {
    "none": 0,
    "low_flow_nasal_cannula": 2,
    "high_flow_nasal_cannula": 3,
    "facemask": 3,
    "non_rebreather": 3,
    "venturi": 3,
    "positive_pressure": 4,
    "mechanical_ventilation": 4,
}


def crs_grade(vitals: Mapping[str, Any]) -> int:
    """Grade CRS from one set of vital signs, so each measurement carries its ASTCT grade."""
    fever = _has_crs_fever(vitals)
    if not fever and not vitals.get("anticytokine_or_steroid_given"):
        return 0
    return max(1 if fever else 0, _hypotension_grade(vitals), _hypoxia_grade(vitals))


def daily_crs_grades(vitals_series: Iterable[Mapping[str, Any]]) -> dict[date, int]:
    """Keep the worst CRS grade of each clinical day (its date in the entered offset)."""
    days: dict[date, int] = {}
    for vitals in vitals_series:
        day = _clinical_day(vitals["measured_at"])
        days[day] = max(days.get(day, 0), crs_grade(vitals))
    return days


def _has_crs_fever(vitals: Mapping[str, Any]) -> bool:
    temperature = vitals.get("temperature_c")
    if temperature is None or vitals.get("fever_other_cause"):
        return False
    return bool(temperature >= FEVER_C)


def _hypotension_grade(vitals: Mapping[str, Any]) -> int:
    # `vasopressors` counts every vasopressor running, vasopressin included when `vasopressin`.
    vasopressin = bool(vitals.get("vasopressin"))
    count = vitals.get("vasopressors") or 0
    if count < 0:
        raise ValueError(f"vasopressors must not be negative, got {count!r}")
    others = count - 1 if vasopressin and count > 0 else count
    if others >= 2:
        return 4
    if others == 1 or vasopressin:
        return 3
    return 2 if vitals.get("hypotension") else 0


def _hypoxia_grade(vitals: Mapping[str, Any]) -> int:
    oxygen = vitals.get("oxygen") or "none"
    if oxygen not in _OXYGEN_GRADE:
        raise ValueError(f"unknown oxygen support {oxygen!r}")
    flow = vitals.get("oxygen_flow_l_min")
    if oxygen == "low_flow_nasal_cannula" and flow is not None and flow > LOW_FLOW_MAX_L_MIN:
        return 3
    return _OXYGEN_GRADE[oxygen]


def _clinical_day(moment: datetime) -> date:
    """The date in the offset the time was entered with (projections.dates.as_date)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"measured_at must be timezone-aware, got {moment!r}")
    return moment.date()
