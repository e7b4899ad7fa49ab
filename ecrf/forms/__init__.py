"""The case report forms: one marshmallow schema per form, the single definition of its fields."""

from .describe import describe_all, describe_form
from .registry import (
    FORMS,
    FormDef,
    UnknownFormError,
    form_by_event_type,
    get_form,
    load_form,
    parse_values,
)
from .subject_rules import SubjectFacts, check_against_subject

__all__ = [
    "FORMS",
    "FormDef",
    "SubjectFacts",
    "UnknownFormError",
    "check_against_subject",
    "describe_all",
    "describe_form",
    "form_by_event_type",
    "get_form",
    "load_form",
    "parse_values",
]
