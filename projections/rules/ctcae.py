"""CTCAE grades of laboratory values and fever, one table per CTCAE version.

Range convention (clinical-rules.md): `<X - Y` includes Y at its lower end, `>X - Y` includes Y
at its upper end, and the highest grade met wins. Multiples are compared in decimal arithmetic so
that a value of exactly 3 x ULN is 3 x ULN, whatever binary floats make of it.
"""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from projections.trial_config import DEFAULT_TRIAL, TrialConfig


@dataclass(frozen=True)
class Decrease:
    """A count graded below normal: G1 below the LLN, grade g+2 below `cutoffs[g]`."""

    unit: str
    cutoffs: tuple[float, ...]  # exclusive upper bounds of G2, G3, G4 (descending)


@dataclass(frozen=True)
class Increase:
    """A value graded above normal by multiples of the ULN (or of an abnormal baseline)."""

    unit: str
    multiples: tuple[float, ...]  # exclusive lower bounds of G1..G4
    baseline_when_abnormal: bool = False  # multiples apply to a baseline above the ULN
    abnormal_baseline_g1_from: float | None = None  # inclusive G1 floor on an abnormal baseline
    baseline_multiples: tuple[tuple[int, float], ...] = ()  # (grade, > multiple of any baseline)


@dataclass(frozen=True)
class Fever:
    """Fever bands: G1 from `g1_from` (inclusive), G2 above `g2_above`, G3/G4 above `g3_above`."""

    g1_from: float
    g2_above: float
    g3_above: float
    g4_after_hours: float  # above g3_above for longer than this is G4


@dataclass(frozen=True)
class CtcaeVersion:
    """The lab criteria and the fever criteria of one CTCAE version."""

    labs: Mapping[str, Decrease | Increase]
    fever: Fever


_V5_LABS: dict[str, Decrease | Increase] = {
    "platelets": Decrease("10^9/L", (75.0, 50.0, 25.0)),
    "neutrophils": Decrease("10^9/L", (1.5, 1.0, 0.5)),
    "leukocytes": Decrease("10^9/L", (3.0, 2.0, 1.0)),
    "lymphocytes": Decrease("10^9/L", (0.8, 0.5, 0.2)),
    "hemoglobin": Decrease("g/L", (100.0, 80.0)),  # G4 is clinical only
    "alt": Increase("U/L", (1.0, 3.0, 5.0, 20.0), True, 1.5),
    "ast": Increase("U/L", (1.0, 3.0, 5.0, 20.0), True, 1.5),
    "bilirubin": Increase("umol/L", (1.0, 1.5, 3.0, 10.0), True),
    "creatinine": Increase("umol/L", (1.0, 1.5, 3.0, 6.0), baseline_multiples=((2, 1.5), (3, 3.0))),
}

CTCAE_VERSIONS: Mapping[str, CtcaeVersion] = MappingProxyType(
    {"5.0": CtcaeVersion(MappingProxyType(_V5_LABS), Fever(38.0, 39.0, 40.0, 24.0))}
)

GRADABLE_TESTS: Mapping[str, str] = MappingProxyType(
    {test: rule.unit for test, rule in _V5_LABS.items()}
)
"""The tests `grade_lab` grades, with the unit (crf-spec.md) their values and limits are in."""


def ctcae_version(version: str) -> CtcaeVersion:
    """Return one version's criteria, refusing a version no table is defined for."""
    try:
        return CTCAE_VERSIONS[version]
    except KeyError:
        known = ", ".join(CTCAE_VERSIONS)
        raise ValueError(f"unknown CTCAE version {version!r} (defined: {known})") from None


def grade_lab(
    test: str,
    value: float,
    *,
    lln: float | None = None,
    uln: float | None = None,
    baseline: float | None = None,
    version: str = "5.0",
    config: TrialConfig = DEFAULT_TRIAL,
) -> int:
    """Grade one lab value by CTCAE so cytopenias and organ toxicities are graded alike."""
    criteria = ctcae_version(version)
    rule = criteria.labs.get(test)
    if rule is None:
        known = ", ".join(criteria.labs)
        raise ValueError(f"CTCAE {version} does not grade {test!r} (gradable: {known})")
    _check_value(test, value)
    for name, limit in (("lln", lln), ("uln", uln), ("baseline", baseline)):
        if limit is not None and not (math.isfinite(limit) and limit > 0):
            raise ValueError(f"{test}: {name} must be a positive number, got {limit!r}")
    if isinstance(rule, Decrease):
        if lln is None and test == "platelets":
            lln = config.default_platelets_lln
        return _grade_decrease(rule, value, lln)
    return _grade_increase(rule, value, uln, baseline)


def grade_fever(
    temperature_c: float, hours_above_40: float | None = None, *, version: str = "5.0"
) -> int:
    """Grade a temperature by CTCAE fever; without a known duration above 40 C it is G3, not G4."""
    fever = ctcae_version(version).fever
    _check_value("temperature_c", temperature_c)
    if hours_above_40 is not None and not (math.isfinite(hours_above_40) and hours_above_40 >= 0):
        raise ValueError(f"hours_above_40 must be a non-negative number, got {hours_above_40!r}")
    if temperature_c > fever.g3_above:
        long = hours_above_40 is not None and hours_above_40 > fever.g4_after_hours
        return 4 if long else 3
    if temperature_c > fever.g2_above:
        return 2
    return 1 if temperature_c >= fever.g1_from else 0


def fever_run_hours(
    series: Iterable[tuple[datetime, float]], *, version: str = "5.0"
) -> dict[int, float]:
    """For each measurement (by index), the hours of the unbroken run above 40.0 C it belongs to.

    A run is a sequence of consecutive measurements (in time order) all above the G3 threshold;
    its length is from its first to its last measurement. A measurement at or below 40.0 breaks
    it. Measurements not above 40.0 are absent from the result.
    """
    fever = ctcae_version(version).fever
    ordered = sorted(enumerate(series), key=lambda pair: pair[1][0])
    hours: dict[int, float] = {}
    run: list[tuple[int, datetime]] = []

    def close() -> None:
        if run:
            span = (run[-1][1] - run[0][1]).total_seconds() / 3600
            hours.update({index: span for index, _ in run})

    for index, (moment, temperature) in ordered:
        if temperature > fever.g3_above:
            run.append((index, moment))
        else:
            close()
            run = []
    close()
    return hours


def _check_value(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")


def _grade_decrease(rule: Decrease, value: float, lln: float | None) -> int:
    grade = 1 if lln is not None and value < lln else 0
    for g, cutoff in enumerate(rule.cutoffs, start=2):
        if value < cutoff:
            grade = g
    return grade


def _grade_increase(rule: Increase, value: float, uln: float | None, baseline: float | None) -> int:
    grade = 0
    if uln is not None:
        abnormal = rule.baseline_when_abnormal and baseline is not None and baseline > uln
        reference = baseline if abnormal and baseline is not None else uln
        for g, multiple in enumerate(rule.multiples, start=1):
            if _above(value, multiple, reference):
                grade = g
        g1_from = rule.abnormal_baseline_g1_from if abnormal else None
        if grade == 1 and g1_from is not None and _below(value, g1_from, reference):
            grade = 0
    if baseline is not None:
        for g, multiple in rule.baseline_multiples:
            if _above(value, multiple, baseline):
                grade = max(grade, g)
    return grade


def _above(value: float, multiple: float, reference: float) -> bool:
    return _dec(value) > _dec(multiple) * _dec(reference)


def _below(value: float, multiple: float, reference: float) -> bool:
    return _dec(value) < _dec(multiple) * _dec(reference)


def _dec(number: float) -> Decimal:
    return Decimal(str(number))
