"""Visit schedule arithmetic: a form's clinical date, study days and visit windows."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from projections.dates import as_date
from projections.trial_config import DEFAULT_TRIAL, TrialConfig

#: The field that dates a form clinically, in order of preference.
CLINICAL_DATE_FIELDS = (
    "collected_at", "measured_at", "assessed_at", "assessed_on", "administered_on",
    "procedure_date", "infused_at", "visit_date", "onset_date", "start_date", "ended_on",
    "screening_date",
)


def clinical_date(values: Mapping[str, Any]) -> date | None:
    """Return the date on which a form's content happened clinically (None when undated).

    A date-time gives its date in the offset it was entered with (projections.dates).
    """
    for name in CLINICAL_DATE_FIELDS:
        raw = values.get(name)
        if raw:
            return as_date(raw)
    return None


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


def schedule(book: Any, *, today: date, response_at_w12: str | None,
             config: TrialConfig = DEFAULT_TRIAL) -> dict[str, Any]:
    """Each visit of the schedule with its target date, window and status as of ``today``.

    Statuses: done (an entry for the visit), missed (recorded as missed), overdue (window
    passed), due (not yet done, window not passed; ``in_window`` says whether it is open now),
    not_applicable (M6-M12 when W12 was not CR or R; visits after the end of study).
    """
    infusion = book.infusion
    day0 = as_date(infusion.values["infused_at"]) if infusion else None
    screening = book.registration.get("screening_date")
    ended = book.latest("end_of_study")
    ended_on = as_date(ended.values["ended_on"]) if ended else None
    by_visit: dict[str, list[Any]] = {}
    for entry in book.current():
        if entry.visit:
            by_visit.setdefault(entry.visit, []).append(entry)
    rows = []
    for visit in config.schedule:
        start, target, end = _window(visit, day0, as_date(screening) if screening else None,
                                     config)
        entries = by_visit.get(visit.code, [])
        status = _status(visit, entries, start, end, today, ended_on, response_at_w12)
        rows.append({
            "visit": visit.code, "label": visit.label, "day": visit.day,
            "target_date": _iso(target), "window_start": _iso(start), "window_end": _iso(end),
            "status": status,
            "in_window": bool(start and end and start <= today <= end),
            "entries": [e.entry_id for e in entries],
        })
    return {"day0": _iso(day0), "as_of_date": today.isoformat(), "visits": rows}


def _window(visit: Any, day0: date | None, screening: date | None, config: TrialConfig
            ) -> tuple[date | None, date | None, date | None]:
    if visit.day is not None:
        if day0 is None:
            return None, None, None
        target = day0 + timedelta(days=visit.day)
        return (target - timedelta(days=visit.window_before), target,
                target + timedelta(days=visit.window_after))
    if visit.code == "SCR":
        if day0 is not None:
            return (day0 + timedelta(days=config.screening_first_day), screening,
                    day0 + timedelta(days=config.screening_last_day))
        return screening, screening, None
    if visit.code == "LD" and day0 is not None:
        return (day0 + timedelta(days=config.ld_first_day), None,
                day0 + timedelta(days=config.ld_last_day))
    return None, None, None


def _status(visit: Any, entries: list[Any], start: date | None, end: date | None,
            today: date, ended_on: date | None, response_at_w12: str | None) -> str:
    missed = [e for e in entries if e.form == "visit" and e.values.get("missed")]
    if missed and len(missed) == len(entries):
        return "missed"
    if entries:
        return "done"
    if visit.responders_only and response_at_w12 is not None and response_at_w12 not in (
            "CR", "R"):
        return "not_applicable"
    if ended_on is not None and (start is None or start > ended_on or visit.day is None):
        return "not_applicable"
    if end is not None and today > end:
        return "overdue"
    return "due"


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
