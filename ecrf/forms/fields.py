"""Field constructors: each form field is declared in one line, with its unit, range and label.

The metadata set here (``description``, ``unit``, ``required_when``) is what the describer, the
OpenAPI document, the ODM item definitions and the CSV headers read, so nothing is repeated
elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from ecrf.text import MAX_LONG_TEXT, MAX_SHORT_TEXT, TextProblem, clean_text
from projections.rules import eligibility as eligibility_rules

UTC = dt.UTC
#: How to write a date and a date-time, in the words of every message that refuses one.
DATE_HINT = "use YYYY-MM-DD, e.g. 2026-11-04"
DATETIME_HINT = "use an ISO 8601 date-time with its offset, e.g. 2026-11-04T08:30:00+01:00"
LONG_TEXT = MAX_LONG_TEXT  # comments, details: f.string(..., max_length=f.LONG_TEXT)


# --- conditions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class When:
    """A condition on the other values of a payload that makes a field required.

    ``text`` is what a reader sees (describe, OpenAPI); ``holds`` is what the schema checks, so the
    rule and its wording are declared together, once.
    """

    text: str
    holds: Callable[[Mapping[str, Any]], bool]


def when_equals(field_name: str, value: Any) -> When:
    """Required when another field has this value (e.g. hbv_dna when hbcab is positive)."""
    label = str(value).lower() if isinstance(value, bool) else value
    return When(f"{field_name} is {label}", lambda data: data.get(field_name) == value)


def when_true(field_name: str) -> When:
    """Required when a boolean field is true (e.g. aware_at when serious)."""
    return when_equals(field_name, True)


def when_not_true(field_name: str) -> When:
    """Required unless a boolean field is true (e.g. visit_date unless missed)."""
    return When(f"{field_name} is not true", lambda data: data.get(field_name) is not True)


def when_given(field_name: str) -> When:
    """Required when another field has a value (a lab value needs its reference limit)."""
    return When(f"{field_name} is given", lambda data: not is_blank(data.get(field_name)))


def is_blank(value: Any) -> bool:
    """Tell whether a value counts as not given: absent, null, empty or whitespace-only."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | dict | set):
        return not value
    return False


# --- field classes --------------------------------------------------------------------------


#: How far past the server's clock a clinical date or date-time may be: a day, for time zones.
FUTURE_MARGIN = dt.timedelta(hours=24)


def latest_allowed_moment() -> dt.datetime:
    """The latest clinical moment accepted now: the server's now plus ``FUTURE_MARGIN``."""
    return dt.datetime.now(UTC) + FUTURE_MARGIN


class UtcDateTime(fields.AwareDateTime):
    """An ISO 8601 date-time that must carry an offset; kept with the offset it was entered with.

    A local time without an offset is ambiguous in a multi-site trial, so it is refused. The
    value is stored as entered (``2026-10-03T01:30:00+02:00`` stays that, in canonical ISO
    form); rules compute with its UTC moment and its clinical date (projections.dates). A moment
    later than the server's now plus 24 hours is refused: it cannot have happened yet.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", default_timezone=None, **kwargs)

    default_error_messages = {
        "out_of_range": "Not a representable date-time in UTC.",
        "offset": "The offset must be whole minutes between -14:00 and +14:00, e.g. +01:00.",
        "invalid": f"Not a valid date-time: {DATETIME_HINT}.",
        "invalid_awareness": f"A date-time needs a time and its offset: {DATETIME_HINT}.",
        "format": f"Not a valid date-time: {DATETIME_HINT}.",
        "future": "Must not be in the future: {input} is later than now plus 24 hours "
                  "({latest}).",
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        offset = moment.utcoffset()
        if offset is not None and (offset.seconds % 60 or offset.microseconds
                                   or abs(offset) > dt.timedelta(hours=14)):
            raise self.make_error("offset")  # ISO 8601 / xs:dateTime: whole minutes, +-14:00
        try:
            instant = moment.astimezone(UTC)
        except OverflowError:  # e.g. 9999-12-31T23:59:59-14:00 (found by the fuzzer)
            raise self.make_error("out_of_range") from None
        latest = latest_allowed_moment()
        if instant > latest:
            raise self.make_error("future", input=value,
                                  latest=latest.replace(microsecond=0).isoformat())
        return moment

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"{attr}: a naive date-time cannot be stored")
        return value.isoformat()


class ClinicalDate(fields.Date):
    """An ISO 8601 calendar date no later than the server's now plus 24 hours (time zones)."""

    default_error_messages = {
        "invalid": f"Not a valid date: {DATE_HINT}.",
        "format": f"Not a valid date: {DATE_HINT}.",
        "future": "Must not be in the future: {input} is after {latest} (today plus one day).",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.date:
        day = super()._deserialize(value, attr, data, **kwargs)
        latest = latest_allowed_moment().date()
        if day > latest:
            raise self.make_error("future", input=value, latest=latest.isoformat())
        return day


LARGEST = 1e15  # larger numbers lose precision in JSON and are no measurement of this trial


class JsonNumber(fields.Float):
    """A JSON number: refuses strings and booleans, NaN and infinities."""

    default_error_messages = {"invalid": "Not a valid number.",
                              "too_large": "Not a plausible value: far too large."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_nan=False, **kwargs)

    def _validated(self, value: Any) -> float:
        if isinstance(value, str | bytes):
            raise self.make_error("invalid", input=value)
        number = super()._validated(value)
        if number is not None and abs(number) >= LARGEST:  # no field measures anything so big
            raise self.make_error("too_large")
        return number


class JsonBoolean(fields.Boolean):
    """A JSON boolean: only ``true`` and ``false``, never ``"yes"`` or ``1``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(truthy={True}, falsy={False}, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):  # 1 == True, so the sets alone let 1 and 0 through
            raise self.make_error("invalid", input=value)
        return value


class FreeText(fields.String):
    """A text as a person typed it, stored in NFC; control characters other than tab and
    newline, and bidi overrides, are refused (ecrf.text)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return clean_text(text)  # the maximum length is the Length validator's
        except TextProblem as problem:
            raise ValidationError(f"The text {problem}.") from None


class FullMatch(validate.Regexp):
    """A pattern the whole value must match: ``re.match`` with ``$`` lets ``"ITP-002\n"``
    through, and a look-alike second subject with it."""

    def __call__(self, value: Any) -> Any:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def text_length(max_length: int) -> validate.Length:
    """The documented maximum of a free text (OpenAPI maxLength, ``max_length`` in /forms)."""
    return validate.Length(max=max_length, error="Must be at most {max} characters.")


class NotBlank(validate.Validator):
    """Refuse an empty or whitespace-only string for a required text."""

    error = "Must not be blank."

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValidationError(self.error)
        return value


# --- constructors ---------------------------------------------------------------------------


def _kwargs(
    description: str,
    *,
    required: bool,
    required_when: When | None = None,
    unit: str | None = None,
    validators: Sequence[validate.Validator] = (),
    **extra: Any,
) -> dict[str, Any]:
    """Build the common keyword arguments: required fields refuse null, optional ones accept it."""
    if required and required_when is not None:
        raise ValueError("a field is either required or required_when, not both")
    metadata: dict[str, Any] = {"description": description}
    if unit is not None:
        metadata["unit"] = unit
    if required_when is not None:
        metadata["required_when"] = required_when.text
        metadata["condition"] = required_when
    metadata.update(extra)
    return {
        "required": required,
        "allow_none": not required,
        "validate": list(validators),
        "metadata": metadata,
    }


def string(
    description: str,
    *,
    required: bool = False,
    pattern: str | None = None,
    pattern_hint: str | None = None,
    required_when: When | None = None,
    max_length: int = MAX_SHORT_TEXT,
) -> FreeText:
    """A free text of at most ``max_length`` characters; a required one must not be blank;
    a ``pattern`` must match the whole value (``pattern_hint`` says how, in words)."""
    validators: list[validate.Validator] = [NotBlank()] if required else []
    validators.append(text_length(max_length))
    if pattern is not None:
        validators.append(FullMatch(pattern, error=f"Not valid: {pattern_hint}." if pattern_hint
                                    else "Must match {regex}."))
    kwargs = _kwargs(
        description, required=required, required_when=required_when, validators=validators
    )
    return FreeText(**kwargs)


def enum(
    choices: Sequence[str],
    description: str,
    *,
    required: bool = False,
    required_when: When | None = None,
) -> fields.String:
    """A coded answer: one of a fixed list of strings."""
    return fields.String(
        **_kwargs(
            description,
            required=required,
            required_when=required_when,
            validators=[validate.OneOf(tuple(choices))],
        )
    )


def enum_list(
    choices: Sequence[str],
    description: str,
    *,
    required: bool = False,
    required_when: When | None = None,
) -> fields.List:
    """A list of coded answers (e.g. the seriousness criteria of an SAE)."""
    inner = fields.String(validate=validate.OneOf(tuple(choices)))
    return fields.List(
        inner, **_kwargs(description, required=required, required_when=required_when)
    )


def string_list(description: str, *, required: bool = False, max_items: int = 50,
                max_length: int = MAX_SHORT_TEXT) -> fields.List:
    """A list of at most ``max_items`` free texts (e.g. bleeding sites)."""
    kwargs = _kwargs(description, required=required,
                     validators=[validate.Length(max=max_items,
                                                 error="Give at most {max} items.")])
    return fields.List(FreeText(validate=text_length(max_length)), **kwargs)


def boolean(
    description: str, *, required: bool = False, required_when: When | None = None
) -> JsonBoolean:
    """A yes/no answer, as a JSON boolean."""
    return JsonBoolean(**_kwargs(description, required=required, required_when=required_when))


def date(
    description: str, *, required: bool = False, required_when: When | None = None
) -> ClinicalDate:
    """A calendar date, ISO 8601 (``2026-01-05``), not after today plus one day."""
    return ClinicalDate(**_kwargs(description, required=required, required_when=required_when))


def datetime(
    description: str, *, required: bool = False, required_when: When | None = None
) -> UtcDateTime:
    """A date-time with an offset, stored as entered, not later than now plus 24 hours."""
    return UtcDateTime(**_kwargs(description, required=required, required_when=required_when))


def measure(
    unit: str | None,
    min: float | None = None,
    max: float | None = None,
    *,
    required: bool = False,
    description: str = "",
    min_inclusive: bool = True,
    required_when: When | None = None,
    default: float | None = None,
) -> JsonNumber:
    """A number in a fixed unit and range (no free unit text: the unit is the field's)."""
    validators = []
    if min is not None or max is not None:
        validators.append(validate.Range(min=min, max=max, min_inclusive=min_inclusive,
                                         error=range_message(min, max, unit, min_inclusive)))
    extra = {} if default is None else {"default": default}
    return JsonNumber(
        **_kwargs(
            description,
            required=required,
            required_when=required_when,
            unit=unit,
            validators=validators,
            **extra,
        )
    )


def integer(
    min: int | None,
    max: int | None,
    description: str,
    *,
    required: bool = False,
    unit: str | None = None,
) -> fields.Integer:
    """A whole number in a range (a grade, a score, a count); 1.5 is refused, not truncated."""
    return fields.Integer(
        strict=True,
        **_kwargs(
            description,
            required=required,
            unit=unit,
            validators=[validate.Range(min=min, max=max, error=range_message(min, max, unit))],
        ),
    )


def range_message(min: float | None, max: float | None, unit: str | None,
                  min_inclusive: bool = True) -> str:
    """Say the allowed range with its unit: 'Must be between 0 and 2000 x10^9/L.'"""
    def show(value: float) -> str:
        return f"{value:g}" if isinstance(value, float) else str(value)

    # a unit that starts with a power of ten is a multiplier: 2000 x10^9/L
    suffix = "" if not unit else f" x{unit}" if unit[0].isdigit() else f" {unit}"
    if min is not None and max is not None:
        low = "" if min_inclusive else " (exclusive)"
        return f"Must be between {show(min)}{low} and {show(max)}{suffix}."
    if min is not None:
        word = "at least" if min_inclusive else "more than"
        return f"Must be {word} {show(min)}{suffix}."
    return f"Must be at most {show(max)}{suffix}."  # type: ignore[arg-type]


def records(schema: type[Schema], description: str, *, required: bool = False) -> fields.List:
    """A list of structured items (e.g. prior therapies), each validated by its own schema."""
    return fields.List(fields.Nested(schema), **_kwargs(description, required=required))


def coded_object(
    keys: Sequence[str],
    values: Sequence[str],
    description: str,
    *,
    required: bool = False,
) -> fields.Dict:
    """An object from fixed codes to coded answers (e.g. criterion code -> yes/no)."""
    return fields.Dict(
        keys=fields.String(validate=validate.OneOf(tuple(keys))),
        values=fields.String(validate=validate.OneOf(tuple(values))),
        **_kwargs(description, required=required),
    )


def visit_code() -> fields.String:
    """The visit code a submission belongs to; the schedule check is the command layer's."""
    return string("visit code from the schedule, or UNSCHEDULED", required=True, max_length=40)


# --- the base schema and cross-field helpers ------------------------------------------------


class FormSchema(Schema):
    """Base of every form: unknown fields refused, conditional requirements enforced.

    Validators run even when some field failed (``skip_on_field_errors=False``) so a submission
    gets all its messages at once; they only look at values that loaded.
    """

    class Meta:
        unknown = RAISE

    @validates_schema(skip_on_field_errors=False)
    def _required_when(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        for name, field in self.fields.items():
            condition = field.metadata.get("condition")
            if condition is not None and condition.holds(data) and is_blank(data.get(name)):
                errors[name] = [f"Missing data: required when {condition.text}."]
        if errors:
            raise ValidationError(errors)


def not_before(data: Mapping[str, Any], later: str, earlier: str) -> None:
    """Refuse, on the ``later`` field, a value before the ``earlier`` one (both present)."""
    first, last = data.get(earlier), data.get(later)
    if first is not None and last is not None and last < first:
        raise ValidationError(f"Must not be before {earlier} ({first.isoformat()}).", later)


def latest_today() -> dt.date:
    """Today's date where it is latest on Earth (UTC+14): a site's 'today' is never refused."""
    return (dt.datetime.now(UTC) + dt.timedelta(hours=14)).date()


def not_in_future(data: Mapping[str, Any], name: str) -> None:
    """Refuse, on ``name``, a date after today in every time zone."""
    value = data.get(name)
    if value is not None and value > latest_today():
        raise ValidationError("Must not be in the future.", name)


completed_years = eligibility_rules.completed_years  # one definition of age, in the rules
