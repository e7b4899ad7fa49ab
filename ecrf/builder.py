"""Enter a subject form by form through the same commands as the API (demo trial, tests)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from ecrf.accounts.model import User
from ecrf.commands.forms import correct_entry, register_subject, submit_form, void_entry
from events import EventStore

CRITERIA = [f"IN{i:02d}" for i in range(1, 9)] + [f"EX{i:02d}" for i in range(1, 20)]
MEDICAL_HISTORY_FLAGS = (
    "hemostatic_disorder_other", "platelet_agglutination_abnormality",
    "malignancy_or_cytotoxic_treatment_history", "heart_disease_within_1y",
    "thrombosis_history_or_risk", "gi_bleeding_risk_or_acute_infection_or_respiratory_disease",
    "decompensated_disease", "severe_allergy", "mental_illness_or_addiction",
    "poor_compliance_expected", "pregnant_or_lactating",
    "exam_abnormality_clinically_significant",
)


class SubjectBuilder:
    """A subject being entered as a site coordinator would, with study days from ``day0``."""

    def __init__(self, store: EventStore, subject_id: str, *, user: User, day0: date,
                 site_id: str = "SITE-01", **registration: Any) -> None:
        self.store, self.subject_id, self.user, self.day0 = store, subject_id, user, day0
        screening = registration.pop("screening_date", self.on(-30))
        register_subject(store, user, {
            "subject_id": subject_id, "site_id": site_id, "sex": "F",
            "birth_date": "1980-04-02", "consent_date": screening,
            "screening_date": screening, **registration})

    def on(self, day: int) -> str:
        """The ISO date of a study day."""
        return (self.day0 + timedelta(days=day)).isoformat()

    def at(self, day: int, hour: int = 8) -> str:
        """An ISO date-time (UTC) on a study day."""
        return f"{self.on(day)}T{hour:02d}:00:00+00:00"

    def form(self, name: str, *, as_user: User | None = None, **values: Any) -> str:
        outcome = submit_form(self.store, as_user or self.user, self.subject_id, name, values)
        assert outcome.entry_id is not None
        return outcome.entry_id

    def correct(self, entry_id: str, reason: str = "transcription error", **changes: Any):
        return correct_entry(self.store, self.user, self.subject_id, entry_id, changes, reason)

    def void(self, entry_id: str, reason: str = "entered for the wrong subject"):
        return void_entry(self.store, self.user, self.subject_id, entry_id, reason)

    # -- screening ---------------------------------------------------------------------------
    def screening_labs(self, platelets: float = 15, **changes: Any) -> str:
        return self.form("screening_labs", **{
            "visit": "SCR", "collected_at": self.at(-30), "platelets": platelets,
            "alt": 30, "alt_uln": 40, "ast": 28, "ast_uln": 40, "creatinine": 70,
            "creatinine_uln": 90, "hiv_antibody": "negative", "hbsag": "negative",
            "hbcab": "negative", "hcv_antibody": "negative", "pregnancy_test": "negative",
            **changes})

    def investigator(self) -> User:
        """An investigator of the builder's sites: only an investigator attests eligibility."""
        return User(f"{self.user.username}.investigator", "investigator", self.user.sites,
                    "Investigator")

    def full_screening(self, platelets: float = 15, investigator: User | None = None) -> None:
        """Enter every screening form; the checklist agrees with the data and is attested by
        ``investigator`` (default: an investigator of the builder's sites)."""
        self.form("itp_history", visit="SCR", diagnosis_date=self.on(-900), primary_itp=True,
                  secondary_cause_excluded=True, refractory=True, splenectomy=False,
                  prior_therapies=[{"agent": "prednisone", "line": 1,
                                    "start_date": self.on(-880), "end_date": self.on(-800),
                                    "best_response": "R", "intolerance": False}])
        self.form("medical_history", visit="SCR", contraception_agreed=True,
                  last_other_trial_date=None, **dict.fromkeys(MEDICAL_HISTORY_FLAGS, False))
        self.screening_labs(platelets)
        eligible = platelets < 30
        answers = {code: ("yes" if code.startswith("IN") else "no") for code in CRITERIA}
        if not eligible:
            answers["IN05"] = "no"
        self.form("ie_checklist", as_user=investigator or self.investigator(), visit="SCR",
                  answers=answers, investigator_confirms_eligible=eligible)

    # -- treatment ---------------------------------------------------------------------------
    def lymphodepletion(self, days: tuple[int, ...] = (-5, -4, -3)) -> list[str]:
        return [self.form("lymphodepletion", visit="LD", administered_on=self.on(d),
                          height_cm=165, weight_kg=60, fludarabine_mg=50,
                          cyclophosphamide_mg=500) for d in days]

    def infuse(self, day: int = 0) -> str:
        return self.form("car_t_infusion", visit="D0", infused_at=self.at(day, 10),
                         product_lot="LOT-1", dose_cells_per_kg=1.0e6, weight_kg=60)

    def treat(self) -> None:
        """Leukapheresis, three days of lymphodepletion, and the infusion."""
        self.form("leukapheresis", visit="LEUK", procedure_date=self.on(-20),
                  blood_volume_processed_l=12)
        self.lymphodepletion()
        self.infuse()

    # -- follow-up ---------------------------------------------------------------------------
    def platelets(self, day: int, value: float, visit: str = "UNSCHEDULED", **extra: Any
                  ) -> str:
        return self.form("platelet_count", visit=visit, collected_at=self.at(day),
                         platelets=value, **extra)

    def bleeding(self, day: int, grade: int) -> str:
        return self.form("bleeding_assessment", visit="UNSCHEDULED", assessed_on=self.on(day),
                         who_grade=grade)

    def rescue(self, day: int, category: str = "immunoglobulin") -> str:
        return self.form("rescue_therapy", agent="IVIG", category=category,
                         start_date=self.on(day))

    def vitals(self, day: int, hour: int = 8, **values: Any) -> str:
        return self.form("vital_signs", visit="UNSCHEDULED", measured_at=self.at(day, hour),
                         **values)

    def adverse_event(self, term: str, grade: int, day: int = 3, **values: Any) -> str:
        serious = values.pop("serious", False)
        extra = ({"seriousness": ["hospitalization"], "aware_at": self.at(day)}
                 if serious else {})
        return self.form("adverse_event", **{
            "term": term, "category": "other", "onset_date": self.on(day),
            "ctcae_grade": grade, "serious": serious, "relatedness_car_t": "possible",
            "relatedness_lymphodepletion": "unlikely",
            "outcome": "fatal" if grade == 5 else "recovering", **extra, **values})
