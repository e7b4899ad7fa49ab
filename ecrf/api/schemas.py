"""Request and response schemas of the API's own (non-form) payloads, for parsing and OpenAPI."""

from marshmallow import Schema, fields, validate

from ecrf.forms.fields import FullMatch
from ecrf.text import MAX_REASON


class TokenRequestSchema(Schema):
    username = fields.String(required=True, validate=FullMatch(
        r"^[a-z0-9._-]{1,64}$", error="use 1-64 lowercase letters, digits, '.', '_' or '-'"))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class TokenSchema(Schema):
    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()


class OutcomeSchema(Schema):
    subject_id = fields.String()
    entry_id = fields.String(allow_none=True)
    position = fields.Integer()
    stream_version = fields.Integer()


class CorrectionSchema(Schema):
    changes = fields.Dict(required=True, metadata={"description": "field -> new value"})
    reason = fields.String(required=True, validate=validate.Length(max=MAX_REASON))


class VoidSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(max=MAX_REASON))


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"description": "machine-readable reason"})
    message = fields.String(required=True)
    fields_ = fields.Dict(data_key="fields", metadata={
        "description": "field name -> list of messages (or nested messages)"})


class ErrorSchema(Schema):
    """The one error shape of the API."""

    error = fields.Nested(ErrorBodySchema, required=True)
