"""The efficacy projection: platelet series, bleeding and rescue therapy fed to the IWG rules."""

from __future__ import annotations

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
    "duration_of_response_days": None, "loss_of_response": False, "loss_of_cr": False,
    "loss_date": None, "corticosteroid_dependent": False, "responses": [], "counts": [],
}


def efficacy(book: Casebook, *, config: TrialConfig = DEFAULT_TRIAL) -> dict[str, Any]:
    """Return the IWG response picture; before infusion only the baseline is known."""
    baseline, result = _assess(book, config)
    if result is None:
        return {**EMPTY, "baseline_platelets": baseline.platelets if baseline else None,
                "status": "not_infused"}
    return {**result.to_dict(), "status": "assessed",
            "baseline": baseline.to_dict() if baseline else None}


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
    """Corticosteroid courses: concomitant medications and rescue therapy of that category."""
    periods = []
    for form in ("concomitant_medication", "rescue_therapy"):
        for entry in book.current(form):
            if entry.values.get("category") == "corticosteroid":
                periods.append((parse(entry.values["start_date"]),
                                parse(entry.values.get("end_date"))))
    return periods
