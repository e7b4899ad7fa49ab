"""The trial configuration: every protocol setting the rules and forms read, in one object.

Defaults are those of crf-spec.md and clinical-rules.md; each is a *trial setting* that a
sponsor may change without touching code.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class VisitDef:
    """One visit of the schedule: its day relative to infusion and its window in days."""

    code: str
    day: int | None  # None for visits anchored elsewhere (SCR, LEUK, LD)
    window_before: int = 0
    window_after: int = 0
    label: str = ""
    responders_only: bool = False  # M6-M12: only for subjects in CR or R at W12


def _schedule() -> tuple[VisitDef, ...]:
    visits = [
        VisitDef("SCR", None, label="screening (day -35 to -6)"),
        VisitDef("LEUK", None, label="leukapheresis (after eligibility, before LD)"),
        VisitDef("LD", None, label="lymphodepletion (day -5 to -1)"),
        VisitDef("D0", 0, label="infusion"),
    ]
    visits += [VisitDef(f"D{d}", d, 1, 1) for d in (1, 4, 7, 10, 14)]
    visits += [VisitDef(f"D{d}", d, 2, 2) for d in (21, 28)]
    visits += [VisitDef(f"W{d // 7}", d, 4, 4) for d in (42, 56, 70, 84)]
    visits += [
        VisitDef(code, d, 14, 14, responders_only=True)
        for code, d in (("M6", 182), ("M9", 273), ("M12", 365))
    ]
    return tuple(visits)


@dataclass(frozen=True)
class TrialConfig:
    """Protocol settings. Frozen: a change of setting is a new object, never a mutation."""

    # Lymphodepletion (crf-spec.md, clinical-rules.md "Treatment facts")
    fludarabine_mg_m2_day: float = 30.0
    cyclophosphamide_mg_m2_day: float = 300.0
    dose_tolerance: float = 0.10  # flag a daily dose more than 10% from protocol
    ld_min_days: int = 3
    ld_max_days: int = 5

    # Screening window relative to infusion (SCR -35 to -6)
    screening_first_day: int = -35
    screening_last_day: int = -6
    ld_first_day: int = -5
    ld_last_day: int = -1

    # Eligibility
    min_age: int = 8
    max_age: int = 75
    chronic_itp_months: int = 12
    platelet_eligibility_below: float = 30.0
    corticosteroid_stable_days: int = 14
    antiplatelet_lookback_days: int = 14
    antiplatelet_max_consecutive_days: int = 3
    other_trial_washout_days: int = 28
    splenectomy_excludes: str = "any"  # "any" or "preventive"
    alt_ast_max_uln: float = 3.0
    creatinine_max_uln: float = 2.0

    # Efficacy (IWG)
    response_confirmation_days: int = 7
    bleeding_grade_threshold: int = 2
    rescue_exclusion_days: int = 28
    transfusion_exclusion_hours: int = 72
    week12_day: int = 84
    corticosteroid_dependence_days: int = 60

    # Safety
    ctcae_version: str = "5.0"
    sae_report_hours: int = 24
    default_platelets_lln: float = 150.0
    # CTCAE baseline of a lab test (projections/lab_baselines.py): "last_before_treatment", the
    # last value of the test on or before the first LD day (else by the infusion), from any form;
    # or "screening", the latest screening labs only.
    lab_baseline: str = "last_before_treatment"

    schedule: tuple[VisitDef, ...] = field(default_factory=_schedule)

    def visit(self, code: str) -> VisitDef | None:
        """Return the visit definition for a code, or None when the code is not scheduled."""
        return next((v for v in self.schedule if v.code == code), None)

    @property
    def visit_codes(self) -> tuple[str, ...]:
        return tuple(v.code for v in self.schedule)


DEFAULT_TRIAL = TrialConfig()
