"""The registry: forms in spec order, their events, which carry a visit, and the value codec."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from marshmallow import Schema, ValidationError

from ecrf.forms import (
    FORMS,
    UnknownFormError,
    form_by_event_type,
    get_form,
    load_form,
    parse_values,
)

EVENT_TYPES = {
    "registration": "SubjectRegistered",
    "itp_history": "ItpHistoryRecorded",
    "medical_history": "MedicalHistoryRecorded",
    "screening_labs": "ScreeningLabsRecorded",
    "concomitant_medication": "ConcomitantMedicationRecorded",
    "ie_checklist": "EligibilityAttested",
    "leukapheresis": "LeukapheresisPerformed",
    "lymphodepletion": "LymphodepletionDoseAdministered",
    "car_t_infusion": "CarTInfused",
    "platelet_count": "PlateletCountRecorded",
    "chemistry": "ChemistryRecorded",
    "bleeding_assessment": "BleedingAssessed",
    "rescue_therapy": "RescueTherapyGiven",
    "vital_signs": "VitalSignsRecorded",
    "neuro_assessment": "NeuroAssessmentRecorded",
    "adverse_event": "AdverseEventReported",
    "visit": "VisitRecorded",
    "end_of_study": "StudyEnded",
}
WITHOUT_VISIT = {
    "registration",
    "concomitant_medication",
    "rescue_therapy",
    "adverse_event",
    "end_of_study",
}
FAMILIES = {
    "subject": [
        "registration",
        "itp_history",
        "medical_history",
        "screening_labs",
        "concomitant_medication",
        "ie_checklist",
    ],
    "treatment": ["leukapheresis", "lymphodepletion", "car_t_infusion"],
}


def test_forms_are_listed_in_spec_order_with_their_event_types() -> None:
    assert {name: form.event_type for name, form in FORMS.items()} == EVENT_TYPES
    assert list(FORMS) == list(EVENT_TYPES)


def test_forms_without_visit_are_those_the_spec_names() -> None:
    assert {name for name, form in FORMS.items() if not form.has_visit} == WITHOUT_VISIT


def test_forms_are_grouped_by_family() -> None:
    for family, names in FAMILIES.items():
        assert [n for n, form in FORMS.items() if form.family == family] == names
    assert {form.family for form in FORMS.values()} == {"subject", "treatment", "followup"}


def test_form_definitions_are_frozen_and_hold_a_built_schema() -> None:
    form = FORMS["platelet_count"]
    assert isinstance(form.schema, Schema)
    assert form.title
    with pytest.raises(dataclasses.FrozenInstanceError):
        form.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(("name", "event_type"), EVENT_TYPES.items())
def test_form_by_event_type_finds_the_form(name: str, event_type: str) -> None:
    assert form_by_event_type(event_type) is FORMS[name]


def test_form_by_event_type_is_none_for_workflow_events() -> None:
    assert form_by_event_type("EntryCorrected") is None


def test_unknown_form_name_is_an_unknown_form_error() -> None:
    with pytest.raises(UnknownFormError):
        get_form("lab_panel")
    with pytest.raises(LookupError):
        load_form("lab_panel", {})


def test_a_payload_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValidationError):
        load_form("visit", ["D7"])  # type: ignore[arg-type]


def test_parse_values_gives_back_dates_and_utc_datetimes() -> None:
    stored = load_form(
        "adverse_event",
        {
            "term": "Thrombocytopenia",
            "category": "cytopenia",
            "onset_date": "2026-03-01",
            "end_date": None,
            "ctcae_grade": 4,
            "serious": True,
            "seriousness": ["important_medical_event"],
            "aware_at": "2026-03-01T18:00:00-04:00",
            "relatedness_car_t": "possible",
            "relatedness_lymphodepletion": "probable",
            "outcome": "recovering",
        },
    )
    parsed = parse_values("adverse_event", stored)
    assert parsed["onset_date"] == dt.date(2026, 3, 1)
    assert parsed["end_date"] is None
    assert parsed["aware_at"] == dt.datetime(2026, 3, 1, 22, 0, tzinfo=dt.UTC)
    assert parsed["seriousness"] == ["important_medical_event"]


def test_parse_values_reaches_into_prior_therapies() -> None:
    stored = {
        "diagnosis_date": "2020-03-01",
        "prior_therapies": [{"agent": "IVIG", "start_date": "2020-03-02", "end_date": None}],
    }
    parsed = parse_values("itp_history", stored)
    assert parsed["diagnosis_date"] == dt.date(2020, 3, 1)
    assert parsed["prior_therapies"][0]["start_date"] == dt.date(2020, 3, 2)


def test_parse_values_round_trips_through_load_form() -> None:
    stored = load_form(
        "vital_signs", {"visit": "D1", "measured_at": "2026-02-26T14:00:00+05:30", "spo2": 96}
    )
    schema = FORMS["vital_signs"].schema
    assert schema.dump(parse_values("vital_signs", stored)) == stored
