"""The safety projection: adverse events, CRS, ICANS and fever by day, lab toxicities, late SAEs.

Folded from the casebook alone; the rules themselves live in projections/rules/, the fever and
intracranial-haemorrhage findings in projections/safety_findings.py, the lab baselines in
projections/lab_baselines.py.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from projections.casebook import Casebook, Entry
from projections.dates import as_date, as_moment, moment_key
from projections.lab_baselines import LabBaseline, baseline_for, lab_baselines
from projections.rules.crs import crs_grade
from projections.rules.ctcae import grade_lab
from projections.rules.eligibility import completed_years
from projections.rules.icans import icans_grade
from projections.rules.sae import is_late_sae_report
from projections.safety_findings import fever_rows, ich_exclusions, unreported_ich
from projections.trial_config import DEFAULT_TRIAL, TrialConfig

HEMATOLOGY = ("platelets", "neutrophils", "leukocytes", "lymphocytes", "hemoglobin")
CHEMISTRY = ("alt", "ast", "bilirubin", "creatinine")
LAB_FORMS = {"platelet_count": HEMATOLOGY, "chemistry": CHEMISTRY,
             "screening_labs": HEMATOLOGY + CHEMISTRY}
#: Words in an AE term that show it reports a given lab test (MedDRA terms and usual synonyms).
AE_TERMS = {
    "platelets": ("platelet", "thrombocytopeni"),
    "neutrophils": ("neutrophil", "neutropeni"),
    "leukocytes": ("white blood cell", "leukocyte", "leukopeni", "wbc"),
    "lymphocytes": ("lymphocyte", "lymphopeni"),
    "hemoglobin": ("anemia", "anaemia", "hemoglobin", "haemoglobin"),
    "alt": ("alanine aminotransferase", "alt ", "transaminase", "hepat"),
    "ast": ("aspartate aminotransferase", "ast ", "transaminase", "hepat"),
    "bilirubin": ("bilirubin", "hyperbilirubin"),
    "creatinine": ("creatinine", "kidney injury", "renal"),
}
MATCH_WINDOW_DAYS = 7


def safety(book: Casebook, *, config: TrialConfig = DEFAULT_TRIAL) -> dict[str, Any]:
    """Return the subject's safety picture (the keys of DESIGN.md)."""
    aes = book.current("adverse_event")
    day0 = _day0(book)
    toxicities = lab_toxicities(book, config=config)
    crs = _syndrome(aes, "crs", _daily(book.current("vital_signs"), "measured_at",
                                       crs_grade))
    age = _age(book)
    neuro = book.current("neuro_assessment")
    icans = _syndrome(aes, "icans", _daily(
        neuro, "assessed_at",
        lambda values: icans_grade(values, age) if age is not None else 0))
    icans["ich_exclusions"] = ich_exclusions(neuro)
    return {
        "adverse_events": [_ae(e) for e in aes],
        "max_grade": max((e.values["ctcae_grade"] for e in aes), default=None),
        "serious_count": sum(1 for e in aes if e.values.get("serious")),
        "crs": crs,
        "icans": icans,
        "fever": fever_rows(book.current("vital_signs"), version=config.ctcae_version),
        "unreported_ich": unreported_ich(neuro, aes),
        "lab_toxicities": toxicities,
        "late_sae_reports": late_sae_reports(aes, config=config),
        "unreported_lab_toxicities": unreported(toxicities, aes, day0),
    }


def safety_summary(book: Casebook) -> dict[str, int | None]:
    """The worst grades only (read models): AE grade, CRS and ICANS, without lab toxicities."""
    aes = book.current("adverse_event")
    age = _age(book)
    crs = _daily(book.current("vital_signs"), "measured_at", crs_grade)
    icans = _daily(book.current("neuro_assessment"), "assessed_at",
                   lambda values: icans_grade(values, age) if age is not None else 0)
    return {"max_grade": max((e.values["ctcae_grade"] for e in aes), default=None),
            "crs_max_grade": _syndrome_max(aes, "crs", crs),
            "icans_max_grade": _syndrome_max(aes, "icans", icans)}


def _syndrome_max(aes: list[Entry], category: str, by_day: dict[date, int]) -> int:
    """Grade 5 when a reported event of the syndrome was fatal, else the computed maximum."""
    fatal = any(e.values["ctcae_grade"] == 5 for e in aes if e.values["category"] == category)
    return 5 if fatal else max(by_day.values(), default=0)


def lab_toxicities(book: Casebook, *, config: TrialConfig = DEFAULT_TRIAL
                   ) -> list[dict[str, Any]]:
    """Grade every lab value of every lab entry; list those of grade 1 or more.

    Each row shows the baseline it was graded against (projections/lab_baselines.py), or null.
    """
    baselines = lab_baselines(book, LAB_FORMS, config=config)
    rows = []
    for form, tests in LAB_FORMS.items():
        for entry in book.current(form):
            for test in tests:
                value = entry.values.get(test)
                if value is None:
                    continue
                baseline = baseline_for(entry, test, baselines)
                grade = _grade(test, value, entry, baseline, config)
                if grade:
                    rows.append({"test": test, "value": value, "grade": grade,
                                 "collected_at": entry.values.get("collected_at"),
                                 "entry_id": entry.entry_id, "form": form,
                                 "baseline": baseline.to_dict() if baseline else None})
    # by instant: ISO strings with different offsets do not sort in time order
    return sorted(rows, key=lambda r: (moment_key(r["collected_at"]), r["test"]))


def _grade(test: str, value: float, entry: Entry, baseline: LabBaseline | None,
           config: TrialConfig) -> int:
    lln = entry.values.get(f"{test}_lln")
    if test == "platelets" and lln is None:
        lln = config.default_platelets_lln
    base = baseline.value if test in CHEMISTRY and baseline is not None else None
    try:
        return grade_lab(test, value, lln=lln, uln=entry.values.get(f"{test}_uln"),
                         baseline=base, version=config.ctcae_version, config=config)
    except ValueError:
        return 0  # a value the table cannot grade (e.g. no limit): not a toxicity


def late_sae_reports(aes: list[Entry], *, config: TrialConfig = DEFAULT_TRIAL
                     ) -> list[dict[str, Any]]:
    """List serious AEs whose first entry was recorded more than 24 h after awareness."""
    late = []
    for entry in aes:
        original = entry.versions[0].values
        if not original.get("serious") or not original.get("aware_at"):
            continue
        aware = as_moment(original["aware_at"])
        if is_late_sae_report(aware, entry.recorded_at, config=config):
            late.append({"entry_id": entry.entry_id, "term": entry.values["term"],
                         "aware_at": original["aware_at"],
                         "recorded_at": entry.recorded_at.isoformat(),
                         "hours_after_awareness": round(
                             (entry.recorded_at - aware).total_seconds() / 3600, 1)})
    return late


def unreported(toxicities: list[dict], aes: list[Entry], day0: date | None
               ) -> list[dict[str, Any]]:
    """Grade >= 3 post-infusion lab toxicities with no AE of matching term near that date.

    Thrombocytopenia is the disease under study: a platelet grade is only owed an AE when it is
    worse than the grade of its baseline value (docs/projections.md).
    """
    grades = {(t["entry_id"], t["test"]): t["grade"] for t in toxicities}
    missing = []
    for tox in toxicities:
        when = as_date(tox["collected_at"]) if tox["collected_at"] else None
        if tox["grade"] < 3 or when is None or day0 is None or when < day0:
            continue
        baseline = tox.get("baseline")
        baseline_grade = grades.get((baseline["entry_id"], tox["test"]), 0) if baseline else 0
        if tox["grade"] <= baseline_grade:
            continue
        if not any(_reports(ae, tox["test"], when) for ae in aes):
            missing.append(tox)
    return missing


def _reports(ae: Entry, test: str, when: date) -> bool:
    term = f" {ae.values['term'].lower()} "
    cytopenia = ae.values.get("category") == "cytopenia" and test in HEMATOLOGY
    if not cytopenia and not any(word in term for word in AE_TERMS[test]):
        return False
    onset = as_date(ae.values["onset_date"])
    end = as_date(ae.values["end_date"]) if ae.values.get("end_date") else None
    window = timedelta(days=MATCH_WINDOW_DAYS)
    return onset - window <= when and (end is None or when <= end + window)


def _syndrome(aes: list[Entry], category: str, by_day: dict[date, int]) -> dict[str, Any]:
    reported = [e for e in aes if e.values["category"] == category]
    computed_max = max(by_day.values(), default=0)
    reported_max = max((e.values["ctcae_grade"] for e in reported), default=0)
    fatal = any(e.values["ctcae_grade"] == 5 for e in reported)
    max_grade = _syndrome_max(aes, category, by_day)
    differences = []
    if computed_max != reported_max and not fatal:
        differences.append({"computed_max_grade": computed_max,
                            "reported_max_grade": reported_max,
                            "detail": f"vital/neuro data give grade {computed_max}, the "
                                      f"investigator reported grade {reported_max}"})
    return {"max_grade": max_grade, "computed_max_grade": computed_max,
            "reported_max_grade": reported_max,
            "by_day": [{"date": d.isoformat(), "grade": g} for d, g in sorted(by_day.items())],
            "reported_entries": [e.entry_id for e in reported], "differences": differences}


def _daily(entries: list[Entry], time_field: str, grade) -> dict[date, int]:
    days: dict[date, int] = {}
    for entry in entries:
        day = as_date(entry.values[time_field])  # its date in the offset it was entered with
        days[day] = max(days.get(day, 0), grade(entry.values))
    return days


def _ae(entry: Entry) -> dict[str, Any]:
    return {"entry_id": entry.entry_id, **entry.values}


def _day0(book: Casebook) -> date | None:
    infusion = book.infusion
    return as_date(infusion.values["infused_at"]) if infusion else None


def _age(book: Casebook) -> int | None:
    registration = book.registration
    if not registration.get("birth_date"):
        return None
    birth, today = as_date(registration["birth_date"]), as_date(
        registration.get("consent_date") or registration["birth_date"])
    infusion = book.infusion
    if infusion:
        today = as_date(infusion.values["infused_at"])
    return completed_years(birth, today)
