"""Safety findings beside CRS and ICANS: fever by CTCAE, and intracranial haemorrhage.

Fever (CTCAE v5.0) is graded from the vital signs: one row per clinical day with a measurement of
38.0 C or more. An intracranial haemorrhage recorded in a neuro assessment is not ICANS (Lee 2019:
graded by CTCAE), so the ICANS grade sets its raised-ICP domain aside and the safety view says so,
and an ICH with no adverse event reporting it is listed as a finding to report.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

from projections.casebook import Entry
from projections.dates import as_date, as_moment
from projections.rules.ctcae import ctcae_version, fever_run_hours, grade_fever
from projections.rules.icans import raised_icp_excluded

#: Words in an AE term that show it reports an intracranial haemorrhage.
ICH_TERMS = ("intracranial", "cerebral h", "subdural", "subarachnoid", "epidural", "extradural",
             "intraventricular", "intraparenchymal", "brain h", "haemorrhagic stroke",
             "hemorrhagic stroke", " ich ")
ICH_MATCH_DAYS = 7
ICH_REASON = ("intracranial hemorrhage recorded: it is graded by CTCAE, not ICANS (ASTCT, Lee "
              "2019), so the raised-ICP domain{icp} does not count toward the ICANS grade")


def fever_rows(vitals: list[Entry], *, version: str = "5.0") -> list[dict[str, Any]]:
    """One row per clinical day with a temperature >= 38.0 C: its maximum, grade and entries.

    Grade 4 needs more than 24 h above 40.0 C: an unbroken run of measurements above 40.0 whose
    first and last are more than 24 h apart, or the site's own ``hours_above_40`` above 24.
    """
    bands = ctcae_version(version).fever
    g1_from, above_40 = bands.g1_from, bands.g3_above
    measured = [e for e in vitals if _number(e.values.get("temperature_c")) is not None]
    runs = fever_run_hours([(as_moment(e.values["measured_at"]), e.values["temperature_c"])
                            for e in measured], version=version)
    days: dict[date, dict[str, Any]] = {}
    for index, entry in enumerate(measured):
        temperature = entry.values["temperature_c"]
        if temperature < g1_from:
            continue
        known = [h for h in (runs.get(index), _number(entry.values.get("hours_above_40")))
                 if h is not None]
        hours = max(known) if known else None
        grade = grade_fever(temperature, hours if temperature > above_40 else None,
                            version=version)
        day = as_date(entry.values["measured_at"])
        row = days.setdefault(day, {"date": day.isoformat(), "max_temperature_c": temperature,
                                    "grade": 0, "hours_above_40": None, "entry_ids": []})
        row["max_temperature_c"] = max(row["max_temperature_c"], temperature)
        row["grade"] = max(row["grade"], grade)
        if hours is not None and temperature > above_40:
            row["hours_above_40"] = max(row["hours_above_40"] or 0.0, round(hours, 2))
        row["entry_ids"].append(entry.entry_id)
    return [days[d] for d in sorted(days)]


def _number(value: Any) -> float | None:
    """A stored number the form accepted (finite, >= 0); anything else is not read.

    The form refuses everything else; this only keeps a tampered or hand-made event from turning
    the safety view into a server error.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def ich_exclusions(assessments: list[Entry]) -> list[dict[str, Any]]:
    """The assessments whose raised-ICP domain was set aside because they record an ICH."""
    rows = []
    for entry in assessments:
        if not raised_icp_excluded(entry.values):
            continue
        icp = entry.values.get("raised_icp") or "none"
        rows.append({"entry_id": entry.entry_id, "date": _day(entry).isoformat(),
                     "raised_icp": icp,
                     "reason": ICH_REASON.format(icp="" if icp == "none" else f" ({icp})")})
    return rows


def unreported_ich(assessments: list[Entry], aes: list[Entry]) -> list[dict[str, Any]]:
    """ICH findings with no adverse event reporting an ICH near that date: to report as an AE."""
    missing = []
    for entry in assessments:
        if not raised_icp_excluded(entry.values):
            continue
        day = _day(entry)
        if not any(_reports_ich(ae, day) for ae in aes):
            missing.append({"entry_id": entry.entry_id, "date": day.isoformat(),
                            "finding": "intracranial_hemorrhage",
                            "detail": "intracranial hemorrhage recorded in a neurological "
                                      "assessment with no adverse event reporting it: report "
                                      "it as an adverse event graded by CTCAE"})
    return missing


def _reports_ich(ae: Entry, day: date) -> bool:
    term = f" {ae.values['term'].lower()} "
    if not any(word in term for word in ICH_TERMS):
        return False
    onset = as_date(ae.values["onset_date"])
    end = as_date(ae.values.get("end_date"))
    window = timedelta(days=ICH_MATCH_DAYS)
    return onset - window <= day and (end is None or day <= end + window)  # type: ignore[operator]


def _day(entry: Entry) -> date:
    return as_date(entry.values["assessed_at"])  # type: ignore[return-value]
