"""Lymphodepletion facts: body surface area, the dose per m2 of each drug, and deviation flags.

Reported values are rounded half up to 2 decimals; the dose per m2 is computed from the reported
body surface area and the deviation flag from the reported dose per m2, so that a monitor can
reproduce every number and flag of the output with a calculator.
"""

import math
from collections.abc import Iterable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import TypedDict

from projections.trial_config import DEFAULT_TRIAL, TrialConfig

_CENT = Decimal("0.01")


class LymphodepletionDay(TypedDict):
    """The computed facts of one day of lymphodepletion."""

    bsa_m2: float
    fludarabine_mg_m2: float
    cyclophosphamide_mg_m2: float
    flags: list[str]


def mosteller_bsa_unrounded(height_cm: float, weight_kg: float) -> float:
    """Compute the Mosteller body surface area in m2 unrounded, for callers that round later."""
    for name, number in (("height_cm", height_cm), ("weight_kg", weight_kg)):
        if not (math.isfinite(number) and number > 0):
            raise ValueError(f"{name} must be a positive number, got {number!r}")
    return math.sqrt(height_cm * weight_kg / 3600)


def mosteller_bsa(height_cm: float, weight_kg: float) -> float:
    """Compute the Mosteller body surface area in m2 rounded to 2 decimals, the value doses use."""
    return float(_round2(mosteller_bsa_unrounded(height_cm, weight_kg)))


def lymphodepletion_day(
    fludarabine_mg: float,
    cyclophosphamide_mg: float,
    height_cm: float,
    weight_kg: float,
    *,
    config: TrialConfig = DEFAULT_TRIAL,
) -> LymphodepletionDay:
    """Compute one day's doses per m2 and flag those off protocol, without refusing the entry."""
    bsa = _round2(mosteller_bsa_unrounded(height_cm, weight_kg))
    if bsa == 0:
        raise ValueError(f"body surface area rounds to 0 m2 ({height_cm} cm, {weight_kg} kg)")
    doses = {
        "fludarabine": (fludarabine_mg, config.fludarabine_mg_m2_day),
        "cyclophosphamide": (cyclophosphamide_mg, config.cyclophosphamide_mg_m2_day),
    }
    per_m2: dict[str, Decimal] = {}
    flags: list[str] = []
    for drug, (mg, protocol) in doses.items():
        if not (math.isfinite(mg) and mg >= 0):
            raise ValueError(f"{drug}_mg must be a non-negative number, got {mg!r}")
        per_m2[drug] = _round2(Decimal(str(mg)) / bsa)
        if mg > 0 and _deviates(per_m2[drug], protocol, config.dose_tolerance):
            flags.append(f"{drug}_dose_deviation")
    return LymphodepletionDay(
        bsa_m2=float(bsa),
        fludarabine_mg_m2=float(per_m2["fludarabine"]),
        cyclophosphamide_mg_m2=float(per_m2["cyclophosphamide"]),
        flags=flags,
    )


def lymphodepletion_course_flags(
    administered_on: Iterable[date], *, config: TrialConfig = DEFAULT_TRIAL
) -> list[str]:
    """Flag a course given on fewer or more distinct days than the protocol allows."""
    days = len(set(administered_on))
    if days < config.ld_min_days:
        return ["course_too_short"]
    if days > config.ld_max_days:
        return ["course_too_long"]
    return []


def _deviates(per_m2: Decimal, protocol: float, tolerance: float) -> bool:
    target = Decimal(str(protocol))
    return abs(per_m2 - target) > Decimal(str(tolerance)) * target


def _round2(number: float | Decimal) -> Decimal:
    return Decimal(str(number)).quantize(_CENT, rounding=ROUND_HALF_UP)
