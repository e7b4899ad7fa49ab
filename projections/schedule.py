"""Visit schedule arithmetic: a form's clinical date, study days and visit windows."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from projections.trial_config import DEFAULT_TRIAL, TrialConfig

#: The field that dates a form clinically, in order of preference.
CLINICAL_DATE_FIELDS = (
    "collected_at", "measured_at", "assessed_at", "assessed_on", "administered_on",
    "procedure_date", "infused_at", "visit_date", "onset_date", "start_date", "ended_on",
    "screening_date",
)


def clinical_date(values: Mapping[str, Any]) -> date | None:
    """Return the date on which a form's content happened clinically (None when undated)."""
    for name in CLINICAL_DATE_FIELDS:
        raw = values.get(name)
        if raw:
            return as_date(raw)
    return None


def as_date(raw: Any) -> date:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    text = str(raw)
    return datetime.fromisoformat(text).date() if "T" in text else date.fromisoformat(text)


def study_day(day0: date, when: date) -> int:
    """Days from infusion (day 0), negative before it."""
    return (when - day0).days


def outside_window(visit: str | None, when: date | None, day0: date | None,
                   config: TrialConfig = DEFAULT_TRIAL) -> bool:
    """Tell whether a dated entry falls outside its visit's window (False when not decidable)."""
    if not visit or when is None or day0 is None:
        return False
    definition = config.visit(visit)
    if definition is None:
        return False
    day = study_day(day0, when)
    if definition.day is not None:
        low = definition.day - definition.window_before
        high = definition.day + definition.window_after
    elif visit == "SCR":
        low, high = config.screening_first_day, config.screening_last_day
    elif visit == "LD":
        low, high = config.ld_first_day, config.ld_last_day
    else:
        return False
    return not low <= day <= high
