"""The forms of the trial, in crf-spec.md order, and the one way to validate a submission.

Every caller (API, commands, projections, exports) goes through ``FORMS`` so that a form's name,
event type and schema are declared once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, fields

from .fields import UTC
from .followup import (
    AdverseEventSchema,
    BleedingAssessmentSchema,
    ChemistrySchema,
    EndOfStudySchema,
    NeuroAssessmentSchema,
    PlateletCountSchema,
    RescueTherapySchema,
    VisitSchema,
    VitalSignsSchema,
)
from .subject import (
    ConcomitantMedicationSchema,
    IeChecklistSchema,
    ItpHistorySchema,
    MedicalHistorySchema,
    RegistrationSchema,
    ScreeningLabsSchema,
)
from .treatment import CarTInfusionSchema, LeukapheresisSchema, LymphodepletionSchema


@dataclass(frozen=True)
class FormDef:
    """A form: its name in the API, the event it becomes, and its (built once) schema."""

    name: str
    event_type: str
    schema: Schema
    family: str  # "subject", "treatment" or "followup"
    has_visit: bool
    title: str


class UnknownFormError(LookupError):
    """Raised for a form name the trial does not define (the API answers 404)."""


def _form(name: str, event_type: str, schema: type[Schema], family: str, title: str) -> FormDef:
    built = schema()
    return FormDef(name, event_type, built, family, "visit" in built.fields, title)


FORMS: dict[str, FormDef] = {
    form.name: form
    for form in (
        _form("registration", "SubjectRegistered", RegistrationSchema, "subject", "Registration"),
        _form("itp_history", "ItpHistoryRecorded", ItpHistorySchema, "subject", "ITP history"),
        _form(
            "medical_history",
            "MedicalHistoryRecorded",
            MedicalHistorySchema,
            "subject",
            "Medical history",
        ),
        _form(
            "screening_labs",
            "ScreeningLabsRecorded",
            ScreeningLabsSchema,
            "subject",
            "Screening laboratory tests",
        ),
        _form(
            "concomitant_medication",
            "ConcomitantMedicationRecorded",
            ConcomitantMedicationSchema,
            "subject",
            "Concomitant medication",
        ),
        _form(
            "ie_checklist",
            "EligibilityAttested",
            IeChecklistSchema,
            "subject",
            "Inclusion and exclusion checklist",
        ),
        _form(
            "leukapheresis",
            "LeukapheresisPerformed",
            LeukapheresisSchema,
            "treatment",
            "Leukapheresis",
        ),
        _form(
            "lymphodepletion",
            "LymphodepletionDoseAdministered",
            LymphodepletionSchema,
            "treatment",
            "Lymphodepletion (one day)",
        ),
        _form("car_t_infusion", "CarTInfused", CarTInfusionSchema, "treatment", "CAR-T infusion"),
        _form(
            "platelet_count",
            "PlateletCountRecorded",
            PlateletCountSchema,
            "followup",
            "Platelet count",
        ),
        _form("chemistry", "ChemistryRecorded", ChemistrySchema, "followup", "Chemistry"),
        _form(
            "bleeding_assessment",
            "BleedingAssessed",
            BleedingAssessmentSchema,
            "followup",
            "Bleeding assessment",
        ),
        _form(
            "rescue_therapy",
            "RescueTherapyGiven",
            RescueTherapySchema,
            "followup",
            "Rescue therapy",
        ),
        _form("vital_signs", "VitalSignsRecorded", VitalSignsSchema, "followup", "Vital signs"),
        _form(
            "neuro_assessment",
            "NeuroAssessmentRecorded",
            NeuroAssessmentSchema,
            "followup",
            "Neurological assessment",
        ),
        _form(
            "adverse_event",
            "AdverseEventReported",
            AdverseEventSchema,
            "followup",
            "Adverse event",
        ),
        _form("visit", "VisitRecorded", VisitSchema, "followup", "Visit"),
        _form("end_of_study", "StudyEnded", EndOfStudySchema, "followup", "End of study"),
    )
}

_BY_EVENT_TYPE: dict[str, FormDef] = {form.event_type: form for form in FORMS.values()}


def get_form(name: str) -> FormDef:
    """Return the form called ``name``, or raise UnknownFormError."""
    try:
        return FORMS[name]
    except KeyError:
        raise UnknownFormError(f"unknown form: {name}") from None


def form_by_event_type(event_type: str) -> FormDef | None:
    """Return the form whose submission is this event type (None for workflow events)."""
    return _BY_EVENT_TYPE.get(event_type)


def load_form(name: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a submission and return its canonical JSON-ready values, as they are stored.

    Raises marshmallow's ValidationError with messages keyed by field. Dates come back as ISO
    strings, date-times as entered, offset included (their stored shape); optional fields left
    out stay out.
    """
    schema = get_form(name).schema
    return schema.dump(schema.load(payload))


def parse_values(name: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Turn stored JSON-ready values back into Python types (date, aware datetime).

    A date-time keeps the offset it was entered with (the same instant as its UTC reading).

    A conversion only, no validation: stored values were valid when they were recorded. Keys
    the schema does not know are kept as they are.
    """
    return _parse_mapping(get_form(name).schema, values)


def _parse_mapping(schema: Schema, values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: _parse(schema.fields[key], value) if key in schema.fields else value
        for key, value in values.items()
    }


def _parse(field: fields.Field, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(field, fields.DateTime):
        return _to_aware(value)
    if isinstance(field, fields.Date):
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)
    if isinstance(field, fields.List):
        return [_parse(field.inner, item) for item in value]
    if isinstance(field, fields.Nested):
        return _parse_mapping(field.schema, value)
    return value


def _to_aware(value: str | dt.datetime) -> dt.datetime:
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:  # never stored so; read as UTC rather than fail
        return moment.replace(tzinfo=UTC)
    return moment
