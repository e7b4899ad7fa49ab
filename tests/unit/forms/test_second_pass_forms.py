"""The form fields of issue #15: a coded medication indication and the site's hours above 40 C."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import ValidationError

from ecrf.forms.registry import load_form

STEROID = {"drug": "prednisone", "category": "corticosteroid", "start_date": "2026-01-01"}


def _errors(form: str, payload: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ValidationError) as caught:
        load_form(form, payload)
    return caught.value.messages  # type: ignore[return-value]


def test_a_corticosteroid_needs_its_indication() -> None:
    assert _errors("concomitant_medication", STEROID) == {
        "indication": ["Missing data: required when category is corticosteroid."]}


def test_other_needs_the_indication_in_words() -> None:
    errors = _errors("concomitant_medication", {**STEROID, "indication": "other"})
    assert errors == {"indication_other": ["Missing data: required when indication is other."]}
    stored = load_form("concomitant_medication",
                       {**STEROID, "indication": "other", "indication_other": "adrenal"})
    assert (stored["indication"], stored["indication_other"]) == ("other", "adrenal")


@pytest.mark.parametrize("text", ["ITP", "for surgery", 1])
def test_the_indication_is_coded(text: Any) -> None:
    assert "indication" in _errors("concomitant_medication", {**STEROID, "indication": text})


def test_another_drug_needs_no_indication() -> None:
    payload = {"drug": "aspirin", "category": "antiplatelet", "start_date": "2026-01-01"}
    assert "indication" not in load_form("concomitant_medication", payload)


@pytest.mark.parametrize("hours", [-1, "30", True])
def test_hours_above_40_is_a_number_not_below_0(hours: Any) -> None:
    payload = {"visit": "D1", "measured_at": "2026-02-04T08:00:00+00:00", "temperature_c": 40.5,
               "hours_above_40": hours}
    assert "hours_above_40" in _errors("vital_signs", payload)


def test_hours_above_40_is_stored() -> None:
    payload = {"visit": "D1", "measured_at": "2026-02-04T08:00:00+00:00", "temperature_c": 40.5,
               "hours_above_40": 30}
    assert load_form("vital_signs", payload)["hours_above_40"] == 30.0
