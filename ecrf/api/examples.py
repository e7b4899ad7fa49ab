"""Examples for the OpenAPI document, derived from the schemas so they cannot drift from them.

A form's example holds its required fields (and its visit), each given a plausible value from
the field's type, range and choices; a few fields whose meaning fixes the value (a subject id,
a birth date) take a value from ``BY_NAME``. tests/api/test_openapi_document.py loads every
form example through the form's own schema.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

BY_NAME: dict[str, Any] = {
    "subject_id": "ITP-101", "site_id": "SITE-01", "visit": "D7", "sex": "F",
    "birth_date": "1984-05-02", "consent_date": "2026-10-01", "screening_date": "2026-10-02",
    "diagnosis_date": "2023-03-01", "start_date": "2026-10-02", "onset_date": "2026-10-26",
    "entry_id": "5f639dd17b30480eaf5aac99b1a355ca", "query_id": "3ca0ee09a3e544789ce122e2543218e2",
    "hash": "9b2f" + "0" * 60, "covers_hash": "9b2f" + "0" * 60, "head_hash": "9b2f" + "0" * 60,
    "reason": "transposed digits", "text": "Source document says 48: please check",
    "username": "demo.staff", "password": "demo-password-1", "meaning": "approval",
    "printed_name": "Dr Ivy Investigator", "term": "Cytokine release syndrome",
    "drug": "prednisone", "agent": "IVIG", "product_lot": "LOT-7",
}
DATE, DATETIME = "2026-11-04", "2026-11-04T08:30:00+01:00"


def form_example(schema: Schema) -> dict[str, Any]:
    """A valid submission of a form: its required fields, its visit, and the fields that the
    values chosen make required (``required_when``)."""
    example = {name: value_of(name, field) for name, field in schema.fields.items()
               if field.required or name == "visit"}
    for _ in range(3):
        wanted = [name for name in schema.validate(example) if name in schema.fields
                  and name not in example]
        if not wanted:
            break
        example.update({name: value_of(name, schema.fields[name]) for name in wanted})
    return example


def response_example(schema: Schema) -> dict[str, Any]:
    """An answer of a read view: every documented key with a value of its type."""
    return {field.data_key or name: value_of(field.data_key or name, field, full=True)
            for name, field in schema.fields.items()}


def value_of(name: str, field: fields.Field, *, full: bool = False) -> Any:
    """A plausible value for one field, from its name, type, range and choices."""
    for validator in field.validators:
        if isinstance(validator, validate.OneOf):
            return next(iter(validator.choices))
    if name in BY_NAME and not isinstance(field, fields.Nested | fields.List | fields.Dict):
        return BY_NAME[name]
    if isinstance(field, fields.Nested):
        nested = field.schema
        return response_example(nested) if full else form_example(nested)
    if isinstance(field, fields.List):
        inner = field.inner
        if isinstance(inner, fields.Nested) or full:
            return [value_of(name, inner, full=full)]
        return [value_of(name, inner)] if field.required else []
    if isinstance(field, fields.Dict):
        return {}
    if isinstance(field, fields.Boolean):
        return False
    if isinstance(field, fields.DateTime):
        return DATETIME
    if isinstance(field, fields.Date):
        return DATE
    if isinstance(field, fields.Integer | fields.Float):
        return _number(field)
    return "text"


def _number(field: fields.Field) -> int | float:
    for validator in field.validators:
        if isinstance(validator, validate.Range):
            low, high = validator.min, validator.max
            if low is not None and low > 0:
                return low
            if high is not None:
                return high // 10 if isinstance(field, fields.Integer) else high / 10
            return (low or 0) + 1
    return 1
