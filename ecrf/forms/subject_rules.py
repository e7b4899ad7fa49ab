"""Rules that need facts about the subject (sex, age, screening date), not the payload alone.

The schema cannot see the subject's registration, so the command layer calls
``check_against_subject`` with the facts it read from the subject's stream. Missing facts skip a
rule rather than refuse: a rule only refuses what it can show is wrong.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from projections.dates import as_date

from .fields import completed_years

PREGNANCY_TEST_AGES = (12, 55)  # a female subject in this age range needs a real test
ICE_MIN_AGE = 12  # ICE from 12 years, CAPD below (ASTCT consensus)


@dataclass(frozen=True)
class SubjectFacts:
    """What the rules need to know about the subject, from its registration."""

    sex: str | None = None
    birth_date: dt.date | None = None
    consent_date: dt.date | None = None
    screening_date: dt.date | None = None

    @classmethod
    def from_registration(cls, values: Mapping[str, Any]) -> SubjectFacts:
        """Build the facts from registration values, stored (ISO strings) or parsed."""
        return cls(
            sex=values.get("sex"),
            birth_date=as_date(values.get("birth_date")),
            consent_date=as_date(values.get("consent_date")),
            screening_date=as_date(values.get("screening_date")),
        )

    def age_on(self, day: dt.date | None) -> int | None:
        """Age in completed years on a day, or None when the birth date or the day is unknown."""
        birth = as_date(self.birth_date)
        return None if birth is None or day is None else completed_years(birth, day)


Problems = Iterator[tuple[str, str]]


def _pregnancy_test(values: Mapping[str, Any], facts: SubjectFacts) -> Problems:
    low, high = PREGNANCY_TEST_AGES
    age = facts.age_on(as_date(values.get("collected_at")))
    if (
        facts.sex == "F"
        and age is not None
        and low <= age <= high
        and values.get("pregnancy_test") == "not_applicable"
    ):
        yield (
            "pregnancy_test",
            f"Must not be not_applicable for a female subject aged {low}-{high} "
            f"(aged {age} at collection).",
        )


def _diagnosis_before_screening(values: Mapping[str, Any], facts: SubjectFacts) -> Problems:
    diagnosis, screening = as_date(values.get("diagnosis_date")), as_date(facts.screening_date)
    if diagnosis is not None and screening is not None and diagnosis >= screening:
        yield "diagnosis_date", f"Must be before the screening date ({screening.isoformat()})."


def _score_for_age(values: Mapping[str, Any], facts: SubjectFacts) -> Problems:
    age = facts.age_on(as_date(values.get("assessed_at")))
    if age is None:
        return
    if age >= ICE_MIN_AGE and values.get("capd_score") is not None:
        yield (
            "capd_score",
            f"CAPD is for subjects under {ICE_MIN_AGE}; this subject is {age}: "
            "record ice_score instead.",
        )
    if age < ICE_MIN_AGE and values.get("ice_score") is not None:
        yield (
            "ice_score",
            f"ICE is for subjects aged {ICE_MIN_AGE} and over; this subject is {age}: "
            "record capd_score instead.",
        )


_RULES: dict[str, Callable[[Mapping[str, Any], SubjectFacts], Problems]] = {
    "screening_labs": _pregnancy_test,
    "itp_history": _diagnosis_before_screening,
    "neuro_assessment": _score_for_age,
}


def check_against_subject(
    form_name: str, values: Mapping[str, Any], facts: SubjectFacts
) -> dict[str, list[str]]:
    """Return field -> messages for the subject rules this entry breaks (empty when fine).

    ``values`` may be the stored JSON-ready values or parsed ones.
    """
    rule = _RULES.get(form_name)
    errors: dict[str, list[str]] = {}
    for field_name, message in rule(values, facts) if rule else ():
        errors.setdefault(field_name, []).append(message)
    return errors
