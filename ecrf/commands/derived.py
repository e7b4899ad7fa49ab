"""Values the server derives at submission and stores beside the entry: doses per m2 and flags.

Flags mark, never refuse: a dose off protocol, a course too short or too long, a clinical date
outside its visit's window.
"""

from __future__ import annotations

from typing import Any

from ecrf.forms.subject_rules import SubjectFacts
from projections.casebook import Casebook
from projections.dates import as_date
from projections.rules.treatment import lymphodepletion_course_flags, lymphodepletion_day
from projections.schedule import clinical_date, outside_window
from projections.trial_config import TrialConfig


def subject_facts(book: Casebook) -> SubjectFacts:
    """Return what the subject-dependent form rules need, from the registration."""
    return SubjectFacts.from_registration(book.registration)


def derive(book: Casebook, form: str, values: dict[str, Any], config: TrialConfig, *,
           replacing: str | None = None) -> dict[str, Any]:
    """Compute the derived values of an entry about to be stored (or corrected)."""
    derived: dict[str, Any] = {}
    flags: list[str] = []
    if form == "lymphodepletion":
        day = lymphodepletion_day(values["fludarabine_mg"], values["cyclophosphamide_mg"],
                                  values["height_cm"], values["weight_kg"], config=config)
        derived.update({k: v for k, v in day.items() if k != "flags"})
        flags += day["flags"]
        days = [*_ld_days(book, replacing), as_date(values["administered_on"])]
        flags += [f for f in lymphodepletion_course_flags(days, config=config)
                  if f == "course_too_long"]
    if form == "car_t_infusion":
        flags += [f for f in lymphodepletion_course_flags(_ld_days(book, replacing),
                                                          config=config)
                  if f == "course_too_short"]
    if outside_window(values.get("visit"), clinical_date(values), _day0(book, form, values),
                      config):
        flags.append("outside_visit_window")
    if flags:
        derived["flags"] = flags
    return derived


def _ld_days(book: Casebook, replacing: str | None) -> list:
    return [as_date(e.values["administered_on"]) for e in book.current("lymphodepletion")
            if e.entry_id != replacing]


def _day0(book: Casebook, form: str, values: dict[str, Any]):
    if form == "car_t_infusion":
        return as_date(values["infused_at"])
    infusion = book.infusion
    return as_date(infusion.values["infused_at"]) if infusion else None
