"""Build subjects through the real command path (no HTTP), for projection and property tests."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from ecrf.accounts.model import User
from ecrf.commands.forms import correct_entry, register_subject, submit_form, void_entry
from events import EventStore

STAFF = User("scenario.staff", "site_staff", ("SITE-01", "SITE-02"), "Scenario Staff")
DAY0 = date(2026, 2, 6)


def at(day: int, hour: int = 8) -> str:
    """An ISO date-time on a study day (relative to DAY0), in UTC."""
    return f"{DAY0 + timedelta(days=day)}T{hour:02d}:00:00+00:00"


def on(day: int) -> str:
    return (DAY0 + timedelta(days=day)).isoformat()


class Subject:
    """A subject being entered form by form, as a site coordinator would."""

    def __init__(self, store: EventStore, subject_id: str, site_id: str = "SITE-01",
                 **registration: Any) -> None:
        self.store, self.subject_id = store, subject_id
        register_subject(store, STAFF, {
            "subject_id": subject_id, "site_id": site_id, "sex": "F",
            "birth_date": "1980-04-02", "consent_date": "2026-01-05",
            "screening_date": "2026-01-06", **registration})

    def form(self, name: str, **values: Any) -> str:
        outcome = submit_form(self.store, STAFF, self.subject_id, name, values)
        assert outcome.entry_id is not None
        return outcome.entry_id

    def correct(self, entry_id: str, reason: str = "transcription error", **changes: Any):
        return correct_entry(self.store, STAFF, self.subject_id, entry_id, changes, reason)

    def void(self, entry_id: str, reason: str = "entered for the wrong subject"):
        return void_entry(self.store, STAFF, self.subject_id, entry_id, reason)

    # -- the usual forms, with sensible defaults ---------------------------------------------
    def screening_labs(self, platelets: float = 15, **changes: Any) -> str:
        return self.form("screening_labs", **{
            "visit": "SCR", "collected_at": "2026-01-06T08:00:00+00:00",
            "platelets": platelets, "alt": 30, "alt_uln": 40, "ast": 28, "ast_uln": 40,
            "creatinine": 70, "creatinine_uln": 90, "hiv_antibody": "negative",
            "hbsag": "negative", "hbcab": "negative", "hcv_antibody": "negative",
            "pregnancy_test": "negative", **changes})

    def lymphodepletion(self, days: tuple[int, ...] = (-5, -4, -3)) -> list[str]:
        return [self.form("lymphodepletion", visit="LD", administered_on=on(d), height_cm=165,
                          weight_kg=60, fludarabine_mg=50, cyclophosphamide_mg=500)
                for d in days]

    def infuse(self, day: int = 0) -> str:
        return self.form("car_t_infusion", visit="D0", infused_at=at(day, 10),
                         product_lot="LOT-1", dose_cells_per_kg=1.0e6, weight_kg=60)

    def platelets(self, day: int, value: float, **extra: Any) -> str:
        return self.form("platelet_count", visit="UNSCHEDULED", collected_at=at(day),
                         platelets=value, **extra)

    def bleeding(self, day: int, grade: int) -> str:
        return self.form("bleeding_assessment", visit="UNSCHEDULED", assessed_on=on(day),
                         who_grade=grade)

    def rescue(self, day: int, category: str = "immunoglobulin") -> str:
        return self.form("rescue_therapy", agent="IVIG", category=category,
                         start_date=on(day))

    def vitals(self, day: int, **values: Any) -> str:
        return self.form("vital_signs", visit="UNSCHEDULED", measured_at=at(day), **values)

    def adverse_event(self, term: str, grade: int, day: int = 3, **values: Any) -> str:
        serious = values.pop("serious", False)
        extra = ({"seriousness": ["hospitalization"], "aware_at": at(day)} if serious else {})
        return self.form("adverse_event", **{
            "term": term, "category": "other", "onset_date": on(day), "ctcae_grade": grade,
            "serious": serious, "relatedness_car_t": "possible",
            "relatedness_lymphodepletion": "unlikely",
            "outcome": "fatal" if grade == 5 else "recovering", **extra, **values})
