"""The efficacy projection: platelet series, bleeding and rescue therapy fed to the IWG rules."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from projections.casebook import Casebook
from projections.rules.iwg import (
    Baseline,
    BleedingObs,
    EfficacyResult,
    PlateletObs,
    RescueObs,
    assess_response,
    baseline_platelets,
)
from projections.trial_config import DEFAULT_TRIAL, TrialConfig
from projections.values import parse

EMPTY = {
    "baseline_platelets": None, "best_response": None, "response_at_w12": None,
    "time_to_response_days": None, "time_to_cr_days": None,
    "duration_of_response_days": None, "duration_censored": None, "loss_of_response": False,
    "loss_of_cr": False,
    "loss_date": None, "corticosteroid_dependent": False, "responses": [], "counts": [],
    "corticosteroid_courses": [], "corticosteroid_courses_not_counted": [],
}


def efficacy(book: Casebook, *, config: TrialConfig = DEFAULT_TRIAL) -> dict[str, Any]:
    """Return the IWG response picture; before infusion only the baseline is known."""
    baseline, result = _assess(book, config)
    courses = corticosteroid_courses(book)
    shown = {"corticosteroid_courses": [c for c in courses if c["counted"]],
             "corticosteroid_courses_not_counted": [c for c in courses if not c["counted"]]}
    if result is None:
        return {**EMPTY, "baseline_platelets": baseline.platelets if baseline else None,
                "status": "not_infused", **shown}
    return {**result.to_dict(), "status": "assessed",
            "baseline": baseline.to_dict() if baseline else None, **shown}


def response_summary(book: Casebook, *, config: TrialConfig = DEFAULT_TRIAL
                     ) -> tuple[str | None, str | None]:
    """Return (best_response, response_at_w12) without describing every count (read models)."""
    _baseline, result = _assess(book, config)
    return (None, None) if result is None else (result.best_response, result.response_at_w12)


def _assess(book: Casebook, config: TrialConfig) -> tuple[Baseline | None,
                                                         EfficacyResult | None]:
    counts = platelet_series(book)
    first_ld = min((parse(e.values["administered_on"]) for e in book.current("lymphodepletion")),
                   default=None)
    infusion = book.infusion
    day0: date | None = parse(infusion.values["infused_at"]).date() if infusion else None
    baseline = None
    if day0 is not None or first_ld is not None:
        baseline = baseline_platelets(counts, first_ld_day=first_ld,
                                      day0=day0 or first_ld)  # type: ignore[arg-type]
    if day0 is None:
        return baseline, None
    result = assess_response(
        counts,
        [BleedingObs(parse(e.values["assessed_on"]), e.values["who_grade"], e.entry_id)
         for e in book.current("bleeding_assessment")],
        [RescueObs(parse(e.values["start_date"]), parse(e.values.get("end_date")),
                   e.values["category"], e.entry_id)
         for e in book.current("rescue_therapy")],
        day0=day0,
        baseline=baseline.platelets if baseline else None,
        corticosteroid_periods=corticosteroid_periods(book),
        config=config,
    )
    return baseline, result


def platelet_series(book: Casebook) -> list[PlateletObs]:
    """Every platelet count of the casebook: screening labs and platelet_count forms.

    Only the fields used are parsed (entry_values would parse every value of every count).
    """
    series = []
    for form in ("screening_labs", "platelet_count"):
        for entry in book.current(form):
            values = entry.values
            series.append(PlateletObs(parse(values["collected_at"]), values["platelets"],
                                      entry.entry_id,
                                      bool(values.get("transfused_within_72h"))))
    return sorted(series, key=lambda c: c.collected_at)


def corticosteroid_periods(book: Casebook) -> list[tuple[date, date | None]]:
    """The corticosteroid courses that count toward dependence, as (start, end) periods."""
    return [(parse(c["start_date"]), parse(c["end_date"]))
            for c in corticosteroid_courses(book) if c["counted"]]


def corticosteroid_courses(book: Casebook) -> list[dict[str, Any]]:
    """Every corticosteroid course, with its indication and whether it counts toward dependence.

    Counted: corticosteroid rescue therapy (given for ITP by definition) and concomitant
    corticosteroids given for ITP. Not counted: those given for another indication (a stress
    dose for surgery, adrenal replacement). Entries recorded before ``indication`` was coded
    are read as they are (docs/clinical-rules-second-pass.md): free text naming ITP or
    thrombocytopenia is ``itp``, other text is ``other``, no indication is ``unknown`` and counts.
    """
    courses = []
    for entry in book.current("rescue_therapy"):
        if entry.values.get("category") == "corticosteroid":
            courses.append(_course(entry, entry.values.get("agent"), "itp", True))
    for entry in book.current("concomitant_medication"):
        if entry.values.get("category") == "corticosteroid":
            indication = coded_indication(entry.values.get("indication"))
            course = _course(entry, entry.values.get("drug"), indication, indication != "other")
            if indication == "other":
                course["indication_other"] = (entry.values.get("indication_other")
                                              or entry.values.get("indication"))
            courses.append(course)
    return sorted(courses, key=lambda c: (c["start_date"], c["entry_id"]))


_ITP_WORDS = re.compile(r"\bitp\b|thrombocytop", re.IGNORECASE)


def coded_indication(stored: Any) -> str:
    """The coded indication of a stored medication entry: itp, other or unknown (legacy text)."""
    if stored in ("itp", "other"):
        return stored
    if stored is None or not str(stored).strip():
        return "unknown"
    return "itp" if _ITP_WORDS.search(str(stored)) else "other"


def _course(entry: Any, drug: Any, indication: str, counted: bool) -> dict[str, Any]:
    return {"entry_id": entry.entry_id, "form": entry.form, "drug": drug,
            "start_date": entry.values["start_date"], "end_date": entry.values.get("end_date"),
            "indication": indication, "counted": counted}
