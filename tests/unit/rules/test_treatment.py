"""Lymphodepletion facts (clinical-rules.md "Treatment facts", crf-spec.md `lymphodepletion`)."""

import math
from datetime import date, timedelta

import pytest

from projections.rules.treatment import (
    lymphodepletion_course_flags,
    lymphodepletion_day,
    mosteller_bsa,
    mosteller_bsa_unrounded,
)
from projections.trial_config import TrialConfig

# 180 cm x 80 kg: sqrt(14400 / 3600) = 2.00 m2 exactly, so doses per m2 are exact halves.
HEIGHT, WEIGHT = 180.0, 80.0


@pytest.mark.parametrize(
    ("height", "weight", "bsa"),
    [(180, 80, 2.0), (170, 70, 1.82), (120, 25, 0.91), (50, 10, 0.37), (230, 250, 4.0)],
)
def test_mosteller_bsa_is_sqrt_height_times_weight_over_3600_rounded_to_2_decimals(
    height: float, weight: float, bsa: float
) -> None:
    assert mosteller_bsa(height, weight) == bsa


def test_unrounded_mosteller_bsa_keeps_full_precision() -> None:
    assert mosteller_bsa_unrounded(170, 70) == pytest.approx(math.sqrt(170 * 70 / 3600))
    assert mosteller_bsa_unrounded(170, 70) != mosteller_bsa(170, 70)


@pytest.mark.parametrize(("height", "weight"), [(0, 70), (170, 0), (-170, 70), (math.nan, 70)])
def test_mosteller_bsa_needs_positive_height_and_weight(height: float, weight: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        mosteller_bsa(height, weight)


def test_protocol_doses_give_mg_per_m2_and_no_flag() -> None:
    assert lymphodepletion_day(60, 600, HEIGHT, WEIGHT) == {
        "bsa_m2": 2.0,
        "fludarabine_mg_m2": 30.0,
        "cyclophosphamide_mg_m2": 300.0,
        "flags": [],
    }


def test_dose_per_m2_uses_the_reported_bsa() -> None:
    day = lymphodepletion_day(54.6, 546, 170, 70)
    assert day["bsa_m2"] == 1.82
    assert (day["fludarabine_mg_m2"], day["cyclophosphamide_mg_m2"]) == (30.0, 300.0)


@pytest.mark.parametrize(
    ("fludarabine_mg", "flagged"),
    [(66.0, False), (66.02, True), (54.0, False), (53.98, True), (90.0, True), (30.0, True)],
)
def test_fludarabine_more_than_10_percent_from_30_mg_m2_is_flagged(
    fludarabine_mg: float, flagged: bool
) -> None:
    flags = lymphodepletion_day(fludarabine_mg, 600, HEIGHT, WEIGHT)["flags"]
    assert flags == (["fludarabine_dose_deviation"] if flagged else [])


@pytest.mark.parametrize(
    ("cyclophosphamide_mg", "flagged"),
    [(660.0, False), (660.02, True), (540.0, False), (539.98, True), (1200.0, True)],
)
def test_cyclophosphamide_more_than_10_percent_from_300_mg_m2_is_flagged(
    cyclophosphamide_mg: float, flagged: bool
) -> None:
    flags = lymphodepletion_day(60, cyclophosphamide_mg, HEIGHT, WEIGHT)["flags"]
    assert flags == (["cyclophosphamide_dose_deviation"] if flagged else [])


def test_both_drugs_off_protocol_give_both_flags() -> None:
    flags = lymphodepletion_day(90, 900, HEIGHT, WEIGHT)["flags"]
    assert flags == ["fludarabine_dose_deviation", "cyclophosphamide_dose_deviation"]


@pytest.mark.parametrize(("fludarabine_mg", "cyclophosphamide_mg"), [(0, 600), (60, 0), (0, 0)])
def test_a_drug_not_given_that_day_is_not_a_deviation(
    fludarabine_mg: float, cyclophosphamide_mg: float
) -> None:
    day = lymphodepletion_day(fludarabine_mg, cyclophosphamide_mg, HEIGHT, WEIGHT)
    assert day["flags"] == []
    assert 0.0 in (day["fludarabine_mg_m2"], day["cyclophosphamide_mg_m2"])


def test_protocol_doses_and_tolerance_are_trial_settings() -> None:
    config = TrialConfig(fludarabine_mg_m2_day=25.0, dose_tolerance=0.2)
    assert lymphodepletion_day(60, 600, HEIGHT, WEIGHT, config=config)["flags"] == []
    assert lymphodepletion_day(61, 600, HEIGHT, WEIGHT, config=config)["flags"] == [
        "fludarabine_dose_deviation"
    ]


@pytest.mark.parametrize(("fludarabine_mg", "cyclophosphamide_mg"), [(-1, 600), (60, math.inf)])
def test_negative_or_infinite_doses_are_refused(
    fludarabine_mg: float, cyclophosphamide_mg: float
) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        lymphodepletion_day(fludarabine_mg, cyclophosphamide_mg, HEIGHT, WEIGHT)


def _days(count: int) -> list[date]:
    return [date(2025, 2, 20) + timedelta(days=i) for i in range(count)]


@pytest.mark.parametrize(
    ("days", "flags"),
    [
        (0, ["course_too_short"]),
        (2, ["course_too_short"]),
        (3, []),
        (4, []),
        (5, []),
        (6, ["course_too_long"]),
    ],
)
def test_course_of_fewer_than_3_or_more_than_5_days_is_flagged(days: int, flags: list[str]) -> None:
    assert lymphodepletion_course_flags(_days(days)) == flags


def test_course_counts_distinct_days_only() -> None:
    first, second = _days(2)
    assert lymphodepletion_course_flags([first, first, second, second]) == ["course_too_short"]


def test_course_length_limits_are_trial_settings() -> None:
    config = TrialConfig(ld_min_days=2, ld_max_days=3)
    assert lymphodepletion_course_flags(_days(2), config=config) == []
    assert lymphodepletion_course_flags(_days(4), config=config) == ["course_too_long"]


def test_course_accepts_any_iterable_of_dates() -> None:
    assert lymphodepletion_course_flags(iter(_days(3))) == []
