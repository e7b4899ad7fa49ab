"""Treatment forms: leukapheresis, lymphodepletion, CAR-T infusion."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from marshmallow import ValidationError

from ecrf.forms import load_form

ABSENT = object()

VALID: dict[str, dict[str, Any]] = {
    "leukapheresis": {
        "visit": "LEUK",
        "procedure_date": "2026-02-01",
        "blood_volume_processed_l": 12.5,
        "complications": None,
    },
    "lymphodepletion": {
        "visit": "LD",
        "administered_on": "2026-02-20",
        "height_cm": 165,
        "weight_kg": 60,
        "fludarabine_mg": 51,
        "cyclophosphamide_mg": 510,
    },
    "car_t_infusion": {
        "visit": "D0",
        "infused_at": "2026-02-25T10:15:00+08:00",
        "product_lot": "LOT-2026-017",
        "dose_cells_per_kg": 1.0e6,
        "weight_kg": 60,
        "infusion_reaction": False,
    },
}

REQUIRED: dict[str, tuple[str, ...]] = {
    "leukapheresis": ("visit", "procedure_date"),
    "lymphodepletion": (
        "visit",
        "administered_on",
        "height_cm",
        "weight_kg",
        "fludarabine_mg",
        "cyclophosphamide_mg",
    ),
    "car_t_infusion": ("visit", "infused_at", "product_lot", "dose_cells_per_kg", "weight_kg"),
}


def mutated(form: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Return the valid example of a form with some values changed (ABSENT removes a key)."""
    payload = copy.deepcopy(VALID[form])
    for key, value in changes.items():
        if value is ABSENT:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


def errors_of(form: str, payload: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ValidationError) as refused:
        load_form(form, payload)
    return refused.value.messages


@pytest.mark.parametrize("form", VALID)
def test_a_valid_entry_is_accepted(form: str) -> None:
    assert load_form(form, VALID[form])


def test_car_t_infusion_time_is_returned_as_entered() -> None:
    values = load_form("car_t_infusion", VALID["car_t_infusion"])
    assert values == {**VALID["car_t_infusion"], "infused_at": "2026-02-25T10:15:00+08:00"}


def test_lymphodepletion_accepts_zero_mg_of_a_drug_not_given_that_day() -> None:
    values = load_form("lymphodepletion", mutated("lymphodepletion", {"cyclophosphamide_mg": 0}))
    assert values["cyclophosphamide_mg"] == 0.0


def test_lymphodepletion_height_and_weight_bounds_are_inclusive() -> None:
    payload = mutated("lymphodepletion", {"height_cm": 50, "weight_kg": 250})
    assert load_form("lymphodepletion", payload)["height_cm"] == 50.0


def test_leukapheresis_optional_fields_may_be_left_out() -> None:
    payload = mutated(
        "leukapheresis", {"blood_volume_processed_l": ABSENT, "complications": ABSENT}
    )
    assert load_form("leukapheresis", payload) == {"visit": "LEUK", "procedure_date": "2026-02-01"}


BROKEN_RULES = [
    (
        "leukapheresis",
        {"blood_volume_processed_l": 50.1},
        "blood_volume_processed_l",
        "blood_volume_at_most_50_l",
    ),
    (
        "leukapheresis",
        {"blood_volume_processed_l": -1},
        "blood_volume_processed_l",
        "blood_volume_at_least_0",
    ),
    ("leukapheresis", {"visit": " "}, "visit", "visit_not_blank"),
    ("lymphodepletion", {"height_cm": 49.9}, "height_cm", "height_at_least_50_cm"),
    ("lymphodepletion", {"height_cm": 230.1}, "height_cm", "height_at_most_230_cm"),
    ("lymphodepletion", {"weight_kg": 9.9}, "weight_kg", "weight_at_least_10_kg"),
    ("lymphodepletion", {"weight_kg": 250.1}, "weight_kg", "weight_at_most_250_kg"),
    ("lymphodepletion", {"fludarabine_mg": -1}, "fludarabine_mg", "fludarabine_not_negative"),
    (
        "lymphodepletion",
        {"cyclophosphamide_mg": -0.5},
        "cyclophosphamide_mg",
        "cyclophosphamide_not_negative",
    ),
    (
        "lymphodepletion",
        {"administered_on": "2026-02-20T08:00:00+00:00"},
        "administered_on",
        "administered_on_is_a_date",
    ),
    (
        "car_t_infusion",
        {"dose_cells_per_kg": 0},
        "dose_cells_per_kg",
        "dose_above_0",
    ),
    (
        "car_t_infusion",
        {"dose_cells_per_kg": float("nan")},
        "dose_cells_per_kg",
        "dose_not_nan",
    ),
    (
        "car_t_infusion",
        {"infused_at": "2026-02-25T10:15:00"},
        "infused_at",
        "infused_at_needs_an_offset",
    ),
    ("car_t_infusion", {"infused_at": "2026-02-25"}, "infused_at", "infused_at_needs_a_time"),
    ("car_t_infusion", {"product_lot": ""}, "product_lot", "product_lot_not_blank"),
    ("car_t_infusion", {"infusion_reaction": 1}, "infusion_reaction", "reaction_is_a_boolean"),
]


@pytest.mark.parametrize(
    ("form", "changes", "field"),
    [pytest.param(form, changes, field, id=rule) for form, changes, field, rule in BROKEN_RULES],
)
def test_broken_rule_is_refused_on_its_field(form: str, changes: dict, field: str) -> None:
    errors = errors_of(form, mutated(form, changes))
    assert field in errors, errors
    assert "_schema" not in errors


@pytest.mark.parametrize(
    ("form", "field"), [(form, field) for form, names in REQUIRED.items() for field in names]
)
def test_required_field_missing_is_refused(form: str, field: str) -> None:
    assert field in errors_of(form, mutated(form, {field: ABSENT}))


@pytest.mark.parametrize(
    ("form", "field"), [(form, field) for form, names in REQUIRED.items() for field in names]
)
def test_required_field_null_is_refused(form: str, field: str) -> None:
    assert field in errors_of(form, mutated(form, {field: None}))


@pytest.mark.parametrize("form", VALID)
def test_unknown_field_is_refused(form: str) -> None:
    assert errors_of(form, mutated(form, {"bsa_m2": 1.7})) == {"bsa_m2": ["Unknown field."]}
