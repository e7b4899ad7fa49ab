"""The efficacy projection: platelet series, bleeding and rescue therapy fed to the IWG rules."""

from __future__ import annotations

from datetime import date
from typing import Any

from projections.casebook import Casebook
from projections.rules.iwg import (
    BleedingObs,
    PlateletObs,
    RescueObs,
    assess_response,
    baseline_platelets,
)
from projections.trial_config import DEFAULT_TRIAL, TrialConfig
from projections.values import entry_values, parse

EMPTY = {
    "baseline_platelets": None, "best_response": None, "response_at_w12": None,
    "time_to_response_days": None, "time_to_cr_days": None,
    "duration_of_response_days": None, "loss_of_response": False, "loss_of_cr": False,
    "loss_date": None, "corticosteroid_dependent": False, "responses": [], "counts": [],
}


def efficacy(book: Casebook, *, config: TrialConfig = DEFAULT_TRIAL) -> dict[str, Any]:
    """Return the IWG response picture; before infusion only the baseline is known."""
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
        return {**EMPTY, "baseline_platelets": baseline.platelets if baseline else None,
                "status": "not_infused"}
    result = assess_response(
        counts,
        [BleedingObs(v["assessed_on"], v["who_grade"], v["entry_id"])
         for v in map(entry_values, book.current("bleeding_assessment"))],
        [RescueObs(v["start_date"], v.get("end_date"), v["category"], v["entry_id"])
         for v in map(entry_values, book.current("rescue_therapy"))],
        day0=day0,
        baseline=baseline.platelets if baseline else None,
        corticosteroid_periods=corticosteroid_periods(book),
        config=config,
    )
    return {**result.to_dict(), "status": "assessed",
            "baseline": baseline.to_dict() if baseline else None}


def platelet_series(book: Casebook) -> list[PlateletObs]:
    """Every platelet count of the casebook: screening labs and platelet_count forms."""
    series = []
    for form in ("screening_labs", "platelet_count"):
        for values in map(entry_values, book.current(form)):
            series.append(PlateletObs(values["collected_at"], values["platelets"],
                                      values["entry_id"],
                                      bool(values.get("transfused_within_72h"))))
    return sorted(series, key=lambda c: c.collected_at)


def corticosteroid_periods(book: Casebook) -> list[tuple[date, date | None]]:
    """Corticosteroid courses: concomitant medications and rescue therapy of that category."""
    periods = []
    for form in ("concomitant_medication", "rescue_therapy"):
        for values in map(entry_values, book.current(form)):
            if values.get("category") == "corticosteroid":
                periods.append((values["start_date"], values.get("end_date")))
    return periods
