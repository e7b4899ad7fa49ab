"""CTCAE v5.0 grading of labs and fever: every row and boundary of clinical-rules.md "Safety"."""

import math

import pytest

from projections.rules.ctcae import GRADABLE_TESTS, grade_fever, grade_lab
from projections.trial_config import TrialConfig


@pytest.mark.parametrize(
    ("value", "grade"),
    [(150, 0), (149.9, 1), (75, 1), (74.9, 2), (50, 2), (49.9, 3), (25, 3), (24.9, 4), (0, 4)],
)
def test_platelets_graded_below_default_lln_of_150(value: float, grade: int) -> None:
    assert grade_lab("platelets", value) == grade


@pytest.mark.parametrize(("value", "grade"), [(145, 0), (140, 0), (139.9, 1)])
def test_platelets_grade_1_starts_below_the_lab_lln(value: float, grade: int) -> None:
    assert grade_lab("platelets", value, lln=140) == grade


def test_platelets_default_lln_is_a_trial_setting() -> None:
    config = TrialConfig(default_platelets_lln=140.0)
    assert grade_lab("platelets", 145, config=config) == 0
    assert grade_lab("platelets", 139, config=config) == 1


@pytest.mark.parametrize(
    ("value", "grade"),
    [(2.0, 0), (1.9, 1), (1.5, 1), (1.49, 2), (1.0, 2), (0.99, 3), (0.5, 3), (0.49, 4), (0, 4)],
)
def test_neutrophils_bands_lln_1_5_1_0_0_5(value: float, grade: int) -> None:
    assert grade_lab("neutrophils", value, lln=2.0) == grade


@pytest.mark.parametrize(
    ("value", "grade"),
    [(4.0, 0), (3.9, 1), (3.0, 1), (2.9, 2), (2.0, 2), (1.9, 3), (1.0, 3), (0.9, 4)],
)
def test_leukocytes_bands_lln_3_2_1(value: float, grade: int) -> None:
    assert grade_lab("leukocytes", value, lln=4.0) == grade


@pytest.mark.parametrize(
    ("value", "grade"),
    [(1.0, 0), (0.9, 1), (0.8, 1), (0.79, 2), (0.5, 2), (0.49, 3), (0.2, 3), (0.19, 4)],
)
def test_lymphocytes_bands_lln_0_8_0_5_0_2(value: float, grade: int) -> None:
    assert grade_lab("lymphocytes", value, lln=1.0) == grade


@pytest.mark.parametrize(
    ("value", "grade"), [(120, 0), (119, 1), (100, 1), (99.9, 2), (80, 2), (79.9, 3), (0, 3)]
)
def test_hemoglobin_bands_lln_100_80_and_no_grade_4_from_a_value(value: float, grade: int) -> None:
    assert grade_lab("hemoglobin", value, lln=120) == grade


@pytest.mark.parametrize(
    ("test", "value", "grade"),
    [
        ("neutrophils", 1.9, 0),
        ("neutrophils", 1.5, 0),
        ("neutrophils", 1.49, 2),
        ("leukocytes", 3.0, 0),
        ("lymphocytes", 0.8, 0),
        ("hemoglobin", 100, 0),
        ("hemoglobin", 99.9, 2),
    ],
)
def test_without_lln_there_is_no_grade_1_band(test: str, value: float, grade: int) -> None:
    assert grade_lab(test, value) == grade


@pytest.mark.parametrize("test", ["alt", "ast"])
@pytest.mark.parametrize(
    ("value", "grade"),
    [(40, 0), (40.1, 1), (120, 1), (120.1, 2), (200, 2), (200.1, 3), (800, 3), (800.1, 4)],
)
def test_alt_ast_multiples_of_uln_3_5_20(test: str, value: float, grade: int) -> None:
    assert grade_lab(test, value, uln=40) == grade


@pytest.mark.parametrize("test", ["alt", "ast"])
@pytest.mark.parametrize(
    ("value", "grade"),
    [
        (100, 0),
        (119.9, 0),
        (120, 1),
        (240, 1),
        (240.1, 2),
        (400, 2),
        (400.1, 3),
        (1600, 3),
        (1600.1, 4),
    ],
)
def test_alt_ast_abnormal_baseline_grade_1_is_1_5_to_3_x_baseline(
    test: str, value: float, grade: int
) -> None:
    assert grade_lab(test, value, uln=40, baseline=80) == grade


def test_alt_baseline_equal_to_uln_is_normal_so_uln_multiples_apply() -> None:
    assert grade_lab("alt", 41, uln=40, baseline=40) == 1


def test_alt_exactly_3_x_uln_is_grade_1_in_decimal_not_binary_arithmetic() -> None:
    assert grade_lab("alt", 0.9, uln=0.3) == 1
    assert grade_lab("alt", 0.91, uln=0.3) == 2


@pytest.mark.parametrize(
    ("value", "grade"),
    [(20, 0), (20.1, 1), (30, 1), (30.1, 2), (60, 2), (60.1, 3), (200, 3), (200.1, 4)],
)
def test_bilirubin_multiples_of_uln_1_5_3_10(value: float, grade: int) -> None:
    assert grade_lab("bilirubin", value, uln=20) == grade


@pytest.mark.parametrize(
    ("value", "grade"),
    [(30, 0), (30.1, 1), (45, 1), (45.1, 2), (90, 2), (90.1, 3), (300, 3), (300.1, 4)],
)
def test_bilirubin_abnormal_baseline_multiples_apply_to_baseline(value: float, grade: int) -> None:
    assert grade_lab("bilirubin", value, uln=20, baseline=30) == grade


@pytest.mark.parametrize(
    ("value", "grade"),
    [(100, 0), (100.1, 1), (150, 1), (150.1, 2), (300, 2), (300.1, 3), (600, 3), (600.1, 4)],
)
def test_creatinine_multiples_of_uln_1_5_3_6(value: float, grade: int) -> None:
    assert grade_lab("creatinine", value, uln=100) == grade


@pytest.mark.parametrize(
    ("value", "grade"),
    [(75, 0), (75.1, 2), (150, 2), (150.1, 3), (600.1, 4)],
)
def test_creatinine_grades_2_and_3_also_met_by_1_5_and_3_x_baseline(
    value: float, grade: int
) -> None:
    assert grade_lab("creatinine", value, uln=100, baseline=50) == grade


def test_creatinine_baseline_rule_applies_without_uln() -> None:
    assert grade_lab("creatinine", 75.1, baseline=50) == 2
    assert grade_lab("creatinine", 150.1, baseline=50) == 3


@pytest.mark.parametrize("test", ["alt", "ast", "bilirubin", "creatinine"])
def test_increase_without_uln_or_baseline_is_not_gradable(test: str) -> None:
    assert grade_lab(test, 10_000) == 0


@pytest.mark.parametrize("test", ["alt", "ast", "bilirubin"])
def test_liver_value_with_baseline_but_without_uln_is_not_gradable(test: str) -> None:
    assert grade_lab(test, 10_000, baseline=50) == 0


def test_version_5_0_is_the_default_and_can_be_named() -> None:
    assert grade_lab("platelets", 24.9, version="5.0") == grade_lab("platelets", 24.9) == 4


@pytest.mark.parametrize("version", ["6.0", "4.03", ""])
def test_unknown_ctcae_version_is_refused(version: str) -> None:
    with pytest.raises(ValueError, match="unknown CTCAE version"):
        grade_lab("platelets", 100, version=version)
    with pytest.raises(ValueError, match="unknown CTCAE version"):
        grade_fever(38.5, version=version)


@pytest.mark.parametrize("test", ["sodium", "PLATELETS", "fever"])
def test_unknown_test_is_refused(test: str) -> None:
    with pytest.raises(ValueError, match="does not grade"):
        grade_lab(test, 1.0)


@pytest.mark.parametrize("value", [-1.0, math.nan, math.inf])
def test_lab_value_must_be_a_non_negative_number(value: float) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        grade_lab("platelets", value)


@pytest.mark.parametrize(
    "limits", [{"uln": 0.0}, {"uln": -40.0}, {"lln": math.nan}, {"baseline": 0.0}]
)
def test_limits_and_baseline_must_be_positive(limits: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="positive"):
        grade_lab("alt", 50, **limits)


def test_gradable_tests_list_each_test_with_its_crf_unit() -> None:
    assert dict(GRADABLE_TESTS) == {
        "platelets": "10^9/L",
        "neutrophils": "10^9/L",
        "leukocytes": "10^9/L",
        "lymphocytes": "10^9/L",
        "hemoglobin": "g/L",
        "alt": "U/L",
        "ast": "U/L",
        "bilirubin": "umol/L",
        "creatinine": "umol/L",
    }


@pytest.mark.parametrize(
    ("temperature", "grade"),
    [(37.9, 0), (38.0, 1), (38.5, 1), (39.0, 1), (39.1, 2), (40.0, 2), (40.1, 3)],
)
def test_fever_bands_38_39_40(temperature: float, grade: int) -> None:
    assert grade_fever(temperature) == grade


@pytest.mark.parametrize(("hours", "grade"), [(None, 3), (0, 3), (24, 3), (24.1, 4), (48, 4)])
def test_fever_above_40_is_grade_4_only_for_more_than_24_hours(
    hours: float | None, grade: int
) -> None:
    assert grade_fever(40.5, hours) == grade


def test_fever_duration_does_not_matter_at_or_below_40() -> None:
    assert grade_fever(40.0, 48) == 2


@pytest.mark.parametrize("hours", [-1.0, math.nan])
def test_fever_hours_must_be_non_negative(hours: float) -> None:
    with pytest.raises(ValueError, match="hours_above_40"):
        grade_fever(40.5, hours)
