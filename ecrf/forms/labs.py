"""Laboratory tests: one unit and one range per test, shared by every form that records it.

A lab value travels with the reference limit the lab reported (``*_lln`` or ``*_uln``), because
grading is relative to it: an optional value makes its limit required.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import fields as f
from .fields import JsonNumber, When, when_given

G9_L = "10^9/L"


@dataclass(frozen=True)
class LabTest:
    """A test's unit, plausible range, which limit grades it, and its label."""

    unit: str
    max: float
    limit: str  # "lln" (graded below it) or "uln" (graded above it)
    label: str


LAB_TESTS: dict[str, LabTest] = {
    "platelets": LabTest(G9_L, 2000, "lln", "platelet count"),
    "hemoglobin": LabTest("g/L", 250, "lln", "hemoglobin"),
    "leukocytes": LabTest(G9_L, 500, "lln", "leukocyte count"),
    "neutrophils": LabTest(G9_L, 100, "lln", "absolute neutrophil count"),
    "lymphocytes": LabTest(G9_L, 500, "lln", "absolute lymphocyte count"),
    "alt": LabTest("U/L", 10000, "uln", "alanine aminotransferase"),
    "ast": LabTest("U/L", 10000, "uln", "aspartate aminotransferase"),
    "bilirubin": LabTest("umol/L", 10000, "uln", "total bilirubin"),
    "creatinine": LabTest("umol/L", 10000, "uln", "serum creatinine"),
}


def lab_value(test: str, *, required: bool = False) -> JsonNumber:
    """The measured value of a test, in the test's unit and range."""
    lab = LAB_TESTS[test]
    return f.measure(lab.unit, 0, lab.max, required=required, description=lab.label)


def lab_limit(
    test: str, *, required: bool = False, default: float | None = None, note: str = ""
) -> JsonNumber:
    """The lab's reference limit for a test; required with its value unless it has a default.

    An upper limit must be above 0 because grades are multiples of it.
    """
    lab = LAB_TESTS[test]
    condition: When | None = None
    if not required and default is None:
        condition = when_given(test)
    kind = "lower" if lab.limit == "lln" else "upper"
    return f.measure(
        lab.unit,
        0,
        lab.max,
        min_inclusive=lab.limit == "lln",
        required=required,
        required_when=condition,
        description=f"{lab.label}, {kind} limit of normal reported by the lab{note}",
        default=default,
    )
