"""Request and response schemas of the API's own (non-form) payloads, for parsing and OpenAPI."""

from marshmallow import Schema, fields, post_dump, validate

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


class AutomaticQuerySchema(Schema):
    query_id = fields.String(metadata={"description": "the query opened"})
    entry_id = fields.String(metadata={"description": "the entry it is about"})
    field = fields.String(allow_none=True, metadata={"description": "the field it is about"})
    check = fields.String(metadata={"description": "the edit check that opened it"})
    text = fields.String(metadata={"description": "the question to the site"})


class OutcomeSchema(Schema):
    """The answer of a write: only the keys that name what it created are present."""

    subject_id = fields.String(metadata={"description": "the subject written to"})
    entry_id = fields.String(metadata={
        "description": "the entry created, corrected, voided or verified (entry writes only)"})
    query_id = fields.String(metadata={"description": "the query opened, answered, closed, "
                                                      "re-opened or cancelled (query steps)"})
    position = fields.Integer(metadata={
        "description": "log position of the write's first event (a moment of the log: give it "
                       "as ?position= to see the record as it stood)"})
    stream_version = fields.Integer(metadata={
        "description": "the casebook's version after the write (send it as If-Match)"})
    derived = fields.Dict(metadata={
        "description": "entry writes: what the server derived and stored with the entry (BSA, "
                       "dose per m2, flags such as outside_visit_window)"})
    automatic_queries = fields.List(fields.Nested(AutomaticQuerySchema), metadata={
        "description": "entry writes: the queries the edit checks opened because of it"})
    receipt = fields.Nested(lambda: CheckpointSchema(), allow_none=True, metadata={
        "description": "signed checkpoint of the log head right after this write; keep it "
                       "to prove later that the write is still there, unaltered"})

    @post_dump
    def _only_what_applies(self, data: dict, **kwargs) -> dict:
        return {k: v for k, v in data.items() if v is not None}


class CheckpointSchema(Schema):
    position = fields.Integer()
    hash = fields.String()
    recorded_at = fields.String()
    signed_at = fields.String()
    key_id = fields.String()
    signature = fields.String(metadata={"description": "base64 Ed25519 over the canonical "
                                                       "JSON of the five other fields"})


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


class QueryOpenSchema(Schema):
    entry_id = fields.String(required=True, metadata={"description": "the entry queried"})
    field = fields.String(allow_none=True, metadata={
        "description": "the field queried (a key of the entry's values, or answers.<code>)"})
    text = fields.String(required=True, metadata={"description": "the question to the site"})


class QueryAnswerSchema(Schema):
    text = fields.String(required=True, metadata={"description": "the site's answer"})
    changes = fields.Dict(metadata={
        "description": "optional correction of the queried entry in the same commit: "
                       "field -> new value"})
    reason = fields.String(metadata={"description": "reason of that correction (default: text)"})


class QueryTransitionSchema(Schema):
    text = fields.String(metadata={"description": "a note (required to re-open or cancel)"})


class SignatureRequestSchema(Schema):
    password = fields.String(required=True, metadata={
        "description": "the signer's password, re-entered (21 CFR 11.200)"})
    meaning = fields.String(required=True, validate=validate.OneOf(
        ("authorship", "review", "approval")), metadata={"description": "what the signature "
                                                                        "means (11.50)"})


class LockRequestSchema(Schema):
    reason = fields.String(required=True, metadata={"description": "why (kept in the record)"})


class VerifyRequestSchema(Schema):
    """Source data verification takes no fields: send {} (or no body)."""


class VerifyReceiptsSchema(Schema):
    checkpoints = fields.List(fields.Dict(), required=True, metadata={
        "description": "kept receipts or checkpoints to check against the log, each "
                       "{position, hash, recorded_at, signed_at, key_id, signature}"})
