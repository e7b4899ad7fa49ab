"""Describe the forms by introspecting their schemas: the source of the forms endpoint, the ODM
item definitions and the CSV headers, so none of them keeps its own list of fields.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from .registry import FORMS, FormDef


def describe_all() -> list[dict[str, Any]]:
    """Describe every form of the trial, in crf-spec.md order."""
    return [describe_form(form) for form in FORMS.values()]


def describe_form(form: FormDef) -> dict[str, Any]:
    """Describe one form: its identity and each field with its type, unit, rules and label."""
    return {
        "name": form.name,
        "title": form.title,
        "event_type": form.event_type,
        "family": form.family,
        "has_visit": form.has_visit,
        "fields": describe_schema(form.schema),
    }


def describe_schema(schema: Schema) -> list[dict[str, Any]]:
    """Describe the fields of a schema in declaration order."""
    return [describe_field(name, field) for name, field in schema.fields.items()]


def describe_field(name: str, field: fields.Field) -> dict[str, Any]:
    """Describe one field from its class, validators and metadata."""
    range_ = _validator(field, validate.Range)
    described: dict[str, Any] = {
        "name": name,
        "type": field_type(field),
        "description": field.metadata.get("description", ""),
        "unit": field.metadata.get("unit"),
        "required": bool(field.required),
        "required_when": field.metadata.get("required_when"),
        "minimum": range_.min if range_ else None,
        "maximum": range_.max if range_ else None,
        "exclusive_minimum": bool(range_ and range_.min is not None and not range_.min_inclusive),
        "exclusive_maximum": bool(range_ and range_.max is not None and not range_.max_inclusive),
        "choices": _choices(field),
        "pattern": _pattern(field),
        "default": field.metadata.get("default"),
        "max_length": _max_length(field),
    }
    if isinstance(field, fields.List):
        described["items"] = field_type(field.inner)
        described["item_max_length"] = _max_length(field.inner)
        described["choices"] = _choices(field.inner)
        if isinstance(field.inner, fields.Nested):
            described["fields"] = describe_schema(field.inner.schema)
    if isinstance(field, fields.Dict) and field.key_field is not None:
        described["keys"] = _choices(field.key_field)
        described["choices"] = _choices(field.value_field) if field.value_field else None
    return described


def field_type(field: fields.Field) -> str:
    """Name a field's type in the vocabulary of the forms endpoint."""
    for cls, name in _TYPES:
        if isinstance(field, cls):
            return name
    if isinstance(field, fields.String):
        return "enum" if _validator(field, validate.OneOf) else "string"
    raise TypeError(f"no type name for {type(field).__name__}")


_TYPES: tuple[tuple[type[fields.Field], str], ...] = (
    (fields.DateTime, "datetime"),
    (fields.Date, "date"),
    (fields.Boolean, "boolean"),
    (fields.Integer, "integer"),
    (fields.Float, "number"),
    (fields.List, "list"),
    (fields.Nested, "object"),
    (fields.Dict, "object"),
)


def _validator(field: fields.Field | None, kind: type[Any]) -> Any:
    validators = field.validators if field is not None else []
    return next((v for v in validators if isinstance(v, kind)), None)


def _choices(field: fields.Field | None) -> list[Any] | None:
    one_of = _validator(field, validate.OneOf)
    return list(one_of.choices) if one_of else None


def _max_length(field: fields.Field) -> int | None:
    """The most characters of a text (or items of a list), from its Length validator."""
    length = _validator(field, validate.Length)
    return length.max if length else None


def _pattern(field: fields.Field) -> str | None:
    regexp = _validator(field, validate.Regexp)
    return regexp.regex.pattern if regexp else None
