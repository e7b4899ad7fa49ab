"""The OpenAPI document's operations, completed in one place: ids, parameters, headers, bodies,
response shapes, the error codes each operation can give, and an example for each.

The views stay thin (parse, authorise, call, answer); what a client must know about each of
them is declared here, keyed by the view's endpoint, and an apispec plugin writes it into the
document flask-smorest generates. tests/api/test_openapi_document.py checks that every
operation is covered.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from apispec import BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from ecrf.api import doc_schemas as d
from ecrf.api.examples import form_example, response_example
from ecrf.api.schemas import (
    LockRequestSchema,
    QueryAnswerSchema,
    QueryOpenSchema,
    QueryTransitionSchema,
    SignatureRequestSchema,
    VerifyReceiptsSchema,
    VerifyRequestSchema,
)
from ecrf.forms.registry import FORMS

ERROR_REF = {"$ref": "#/components/schemas/Error"}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}


def _header(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "description": description,
            "schema": schema}


AS_OF = _query("as_of", "Show the record as it stood at this moment of the log: an ISO 8601 "
               "date-time with offset, e.g. 2026-11-01T12:00:00Z. Not a clinical date.",
               {"type": "string", "format": "date-time"})
POSITION = _query("position", "Show the record as it stood after this log position (the "
                  "number of an event in the whole trial's log, as every write answers), not "
                  "an entry number. Not with as_of.", {"type": "integer", "minimum": 0})
FORMAT = _query("format", "json (default) or csv", {"type": "string", "enum": ["json", "csv"]})
IDEMPOTENCY_KEY = _header(
    "Idempotency-Key", "Make a retry safe: the same key with the same request answers the first "
    "response again (header Idempotent-Replayed: true) and appends nothing; the same key with "
    "another request is refused (422).", {"type": "string", "minLength": 1, "maxLength": 100})
IF_MATCH = _header("If-Match", "The casebook's stream_version the write is based on; 409 "
                   "version_conflict when the casebook has moved on.", {"type": "string"})
REQUEST_ID = _header("X-Request-Id", "Your id for this request ([A-Za-z0-9._-], up to 64); "
                     "echoed in the response and stamped on the events it records.",
                     {"type": "string"})
QUERY_FILTERS = [
    _query("state", "only queries in this state",
           {"type": "string", "enum": ["open", "answered", "closed", "cancelled"]}),
    _query("older_than_days", "only queries opened at least this many days ago",
           {"type": "integer", "minimum": 0}),
]
AUDIT_FILTERS = [
    _query("subject", "only this subject", {"type": "string"}),
    _query("user", "only events of this username", {"type": "string"}),
    _query("role", "only events of this role", {"type": "string"}),
    _query("type", "only this event type (e.g. EntryCorrected)", {"type": "string"}),
    _query("from", "recorded at or after this moment (ISO 8601 with offset)",
           {"type": "string", "format": "date-time"}),
    _query("to", "recorded at or before this moment (ISO 8601 with offset)",
           {"type": "string", "format": "date-time"}),
    _query("after", "rows after this log position (paging: the previous answer's next_after)",
           {"type": "integer", "minimum": 0}),
    _query("limit", "about this many rows per page (a page never splits one event's rows); "
           "without it, the whole trail", {"type": "integer", "minimum": 1}),
    FORMAT,
]
MOMENT = {"type": "string", "description": "a log position (e.g. 42) or an ISO 8601 date-time "
                                           "with offset"}
DIFF = [{"name": "from", "in": "query", "required": True, "schema": MOMENT,
         "description": "the earlier moment (before the registration: from the start)"},
        {"name": "to", "in": "query", "required": True, "schema": MOMENT,
         "description": "the later moment"}]

AUTH = {401: ("missing_token", "invalid_token", "token_expired", "token_revoked")}
ROLE = {403: ("forbidden",)}
SUBJECT = {404: ("subject_not_found",)}
MOMENTS = {400: ("invalid_position", "invalid_as_of", "ambiguous_as_of")}
BODY = {400: ("invalid_json",), 422: ("validation_failed",)}
WRITE = {**BODY, 409: ("version_conflict", "trial_locked", "casebook_locked", "stale_read")}


def _errors(*groups: dict[int, tuple[str, ...]]) -> dict[int, tuple[str, ...]]:
    merged: dict[int, tuple[str, ...]] = {}
    for group in groups:
        for status, codes in group.items():
            merged[status] = tuple(dict.fromkeys((*merged.get(status, ()), *codes)))
    return merged


@dataclass(frozen=True)
class Op:
    """What the document says of one operation beyond what flask-smorest derives."""

    operation_id: str | dict[str, str]  # one id, or method -> id for a route of two methods
    response: type[Schema] | None = None
    params: tuple[dict[str, Any], ...] = ()
    body: type[Schema] | None = None
    errors: dict[int, tuple[str, ...]] = field(default_factory=dict)
    idempotent: bool = False
    pinned: bool = False  # accepts If-Match
    example: dict[str, Any] | None = None  # a request body example generation cannot guess


READ_SUBJECT = _errors(AUTH, ROLE, SUBJECT, MOMENTS)
WRITE_SUBJECT = _errors(AUTH, ROLE, SUBJECT, WRITE)
OPERATIONS: dict[str, Op] = {
    "auth.issue_token": Op("issue_token", example={
        "username": "demo.staff", "password": "demo-password-1"}, errors=_errors(BODY, {
        401: ("invalid_credentials",), 429: ("too_many_requests",)})),
    "auth.logout": Op("logout", errors=AUTH),
    "auth.password": Op("change_password", example={
        "current_password": "demo-password-1", "new_password": "a-longer-passphrase-2"},
        errors=_errors(AUTH, BODY, {403: ("password_refused",),
                                    429: ("too_many_requests",)})),
    "subjects.register": Op("register_subject", errors=_errors(AUTH, ROLE, WRITE, {
        409: ("subject_exists",), 403: ("site_not_assigned",)}), idempotent=True),
    "subjects.list_subjects": Op("list_subjects", d.SubjectList, (_query(
        "status", "only subjects in this status",
        {"type": "string", "enum": ["screening", "enrolled", "infused", "in_follow_up",
                                    "ended"]}),), errors=_errors(AUTH, ROLE, {
                                        422: ("invalid_filter",)})),
    "subjects.casebook": Op("get_casebook", d.Casebook, (AS_OF, POSITION), errors=READ_SUBJECT),
    "subjects.history": Op("get_history", d.History, errors=READ_SUBJECT),
    "forms.list_forms": Op("list_forms", d.FormsDescription, errors=_errors(AUTH, ROLE)),
    "entries.correct": Op("correct_entry", example={
        "changes": {"platelets": 46}, "reason": "transposed digits"},
        errors=_errors(WRITE_SUBJECT, {404: ("entry_not_found",), 409: ("entry_voided",),
        422: ("reason_required", "no_change")}), idempotent=True, pinned=True),
    "entries.void": Op("void_entry", example={
        "reason": "entered for the wrong subject"}, errors=_errors(WRITE_SUBJECT, {
        404: ("entry_not_found",), 409: ("entry_voided", "registration_not_voidable"),
        422: ("reason_required",)}), idempotent=True, pinned=True),
    "projections.subject_eligibility": Op("get_eligibility", d.Eligibility, (AS_OF, POSITION),
                                          errors=READ_SUBJECT),
    "projections.subject_safety": Op("get_safety", d.Safety, (AS_OF, POSITION),
                                     errors=READ_SUBJECT),
    "projections.subject_efficacy": Op("get_efficacy", d.Efficacy, (AS_OF, POSITION),
                                       errors=READ_SUBJECT),
    "projections.subject_schedule": Op("get_schedule", d.Schedule, (AS_OF, POSITION),
                                       errors=READ_SUBJECT),
    "trial.summary": Op("get_trial_summary", d.Summary, errors=_errors(AUTH, ROLE)),
    "workflow.open_query": Op("open_query", body=QueryOpenSchema, errors=WRITE_SUBJECT),
    "workflow.answer_query": Op("answer_query", example={
        "text": "corrected from the source", "changes": {"platelets": 48}},
        body=QueryAnswerSchema, errors=_errors(
            WRITE_SUBJECT, {404: ("query_not_found",), 409: ("query_not_open",)})),
    "workflow.query_transition": Op("change_query", example={
        "text": "the answer resolves it"}, body=QueryTransitionSchema, errors=_errors(
        WRITE_SUBJECT, {400: ("unknown_action",), 404: ("query_not_found",),
                        409: ("query_state",)})),
    "workflow.subject_queries": Op("list_subject_queries", d.QueryList, tuple(QUERY_FILTERS),
                                   errors=_errors(READ_SUBJECT, {
                                       400: ("invalid_state", "invalid_age")})),
    "workflow.trial_queries": Op("list_queries", d.QueryList, tuple(QUERY_FILTERS),
                                 errors=_errors(AUTH, ROLE, {
                                     400: ("invalid_state", "invalid_age")})),
    "workflow.verify_entry": Op("verify_entry", body=VerifyRequestSchema, errors=_errors(
        WRITE_SUBJECT, {404: ("entry_not_found",), 409: ("entry_voided", "already_verified")})),
    "workflow.verification_progress": Op("get_verification", d.Verification,
                                         errors=READ_SUBJECT),
    "workflow.sign": Op("sign_casebook", body=SignatureRequestSchema, errors=_errors(
        WRITE_SUBJECT, {403: ("signature_refused",), 401: ("account_locked",)})),
    "workflow.lock": Op("lock_casebook", body=LockRequestSchema, errors=_errors(
        WRITE_SUBJECT, {422: ("reason_required",)})),
    "workflow.unlock": Op("unlock_casebook", body=LockRequestSchema, errors=_errors(
        WRITE_SUBJECT, {409: ("casebook_not_locked",), 422: ("reason_required",)})),
    "workflow.lock_trial": Op("lock_trial", body=LockRequestSchema, errors=_errors(
        AUTH, ROLE, WRITE, {409: ("trial_lock_unchanged",), 422: ("reason_required",)})),
    "workflow.unlock_trial": Op("unlock_trial", body=LockRequestSchema, errors=_errors(
        AUTH, ROLE, WRITE, {409: ("trial_lock_unchanged",), 422: ("reason_required",)})),
    "workflow.security_events": Op("list_security_events", d.SecurityEvents,
                                   errors=_errors(AUTH, ROLE)),
    "audit.verify": Op({"get": "verify_chain", "post": "verify_receipts"}, d.ChainReport,
                       body=VerifyReceiptsSchema, errors=_errors(AUTH, ROLE, BODY)),
    "audit.checkpoint": Op("get_checkpoint", d.SignedHead, errors=_errors(
        AUTH, ROLE, {409: ("nothing_to_sign",)})),
    "audit.subject_trail": Op("get_subject_audit_trail", d.AuditRows, (FORMAT,),
                              errors=_errors(AUTH, ROLE, SUBJECT)),
    "audit.trial_trail": Op("get_audit_trail", d.AuditRows, tuple(AUDIT_FILTERS),
                            errors=_errors(AUTH, ROLE, {400: ("invalid_filter",)})),
    "replay.replay": Op("replay_subject", d.Replay, (AS_OF, POSITION), errors=READ_SUBJECT),
    "replay.diff": Op("diff_subject", d.Diff, tuple(DIFF), errors=_errors(
        AUTH, ROLE, SUBJECT, {400: ("missing_parameter", "invalid_moment")})),
    "exports_files.export_csv": Op("export_csv", errors=_errors(AUTH, ROLE, MOMENTS)),
    "exports_files.platelet_chart": Op("get_platelet_chart", errors=READ_SUBJECT),
    "exports.odm": Op("export_odm", errors=_errors(AUTH, ROLE, SUBJECT, MOMENTS)),
    "exports_sdtm.export_sdtm": Op("export_sdtm", errors=_errors(AUTH, ROLE, MOMENTS)),
    "exports_sdtm.casebook_pdf": Op("get_casebook_pdf", errors=READ_SUBJECT),
}
for _form in FORMS.values():
    if _form.name == "registration":  # submitted by POST /subjects
        continue
    OPERATIONS[f"forms.submit_{_form.name}"] = Op(
        f"submit_{_form.name}", errors=_errors(WRITE_SUBJECT, {
            404: ("unknown_form",), 422: ("unknown_visit",),
            409: ("subject_ended", "already_infused", "already_ended")}),
        idempotent=True, pinned=True)
for _name, _op in list(OPERATIONS.items()):  # workflow writes refuse an Idempotency-Key
    if _name.startswith("workflow.") and _op.body is not None:
        OPERATIONS[_name] = replace(_op, errors=_errors(_op.errors, {
            400: ("idempotency_key_not_supported",)}))
UNDOCUMENTED = frozenset({"api-docs.openapi_json", "api-docs.openapi_swagger_ui", "static",
                          "unknown_form", "swagger_ui_assets.static"})
STATUS_WORDS = {400: "Bad request", 401: "Not authenticated", 403: "Not allowed",
                404: "Not found", 409: "Conflict with the record's state", 413: "Too large",
                422: "Invalid input", 429: "Too many requests"}


def _unit_in_description(self: Any, field: Any, ret: dict, **kwargs: Any) -> dict:
    """Say a field's unit in its description (and as x-unit), as GET /forms does."""
    unit = field.metadata.get("unit")
    if not unit:
        return {}
    description = field.metadata.get("description", "")
    return {"description": f"{description} (unit: {unit})".strip(), "x-unit": unit}


class CompleteOperations(BasePlugin):
    """Write each operation's entry of OPERATIONS into the document."""

    def init_spec(self, spec: Any) -> None:
        self.spec = spec
        marshmallow = next(p for p in spec.plugins if isinstance(p, MarshmallowPlugin))
        marshmallow.converter.add_attribute_function(_unit_in_description)
        for schema in (d.SubjectList, d.Casebook, d.History, d.FormsDescription, d.Eligibility,
                       d.Safety, d.Efficacy, d.Schedule, d.Summary, d.QueryList,
                       d.Verification, d.SecurityEvents, d.ChainReport, d.AuditRows, d.Replay,
                       d.Diff, d.SignedHead, VerifyReceiptsSchema, QueryOpenSchema,
                       QueryAnswerSchema, QueryTransitionSchema, SignatureRequestSchema,
                       LockRequestSchema, VerifyRequestSchema):
            name = schema.__name__.removesuffix("Schema")
            if name not in spec.components.schemas:
                spec.components.schema(name, schema=schema)

    def operation_helper(self, path: str | None = None, operations: dict | None = None,
                         **kwargs: Any) -> None:
        rule = kwargs.get("rule")
        op = OPERATIONS.get(rule.endpoint) if rule is not None else None
        if op is None:
            return
        for method, operation in (operations or {}).items():
            self._complete(op, method, operation)

    def _complete(self, op: Op, method: str, operation: dict) -> None:
        operation["operationId"] = (op.operation_id if isinstance(op.operation_id, str)
                                    else op.operation_id[method])
        parameters = operation.setdefault("parameters", [])
        headers = [REQUEST_ID]
        if op.idempotent:
            headers.append(IDEMPOTENCY_KEY)
        if op.pinned:
            headers.append(IF_MATCH)
        parameters.extend(p for p in (*op.params, *headers) if p not in parameters)
        if op.body is not None and "requestBody" not in operation and method == "post":
            name = op.body.__name__.removesuffix("Schema")
            operation["requestBody"] = {"required": op.body is not VerifyRequestSchema,
                                        "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{name}"}}}}
        if "requestBody" in operation:
            content = operation["requestBody"]["content"]["application/json"]
            schema = self._schema_of(op)
            content.setdefault("example", op.example if op.example is not None
                               else form_example(schema) if schema is not None else {})
        responses = operation.setdefault("responses", {})
        if op.response is not None:
            name = op.response.__name__
            responses["200"] = {"description": "OK", "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{name}"},
                "example": response_example(op.response())}}}
        for status, response in responses.items():
            if str(status).startswith("2"):
                response.setdefault("headers", {})["X-Request-Id"] = {
                    "description": "the request's id", "schema": {"type": "string"}}
                if op.idempotent:
                    response["headers"]["Idempotent-Replayed"] = {
                        "description": "true when this answers a retried request again",
                        "schema": {"type": "string", "enum": ["true"]}}
        errors = _errors(op.errors, {422: ("idempotency_key_reused",)}) if op.idempotent \
            else op.errors
        for status, codes in sorted(errors.items()):
            responses[str(status)] = {
                "description": f"{STATUS_WORDS[status]}: error code "
                               + ", ".join(f"`{c}`" for c in codes),
                "content": {"application/json": {"schema": ERROR_REF, "example": {"error": {
                    "code": codes[0], "message": f"{STATUS_WORDS[status].lower()}"}}}}}

    @staticmethod
    def _schema_of(op: Op) -> Schema | None:
        name = str(op.operation_id).removeprefix("submit_")
        if name in FORMS:
            return FORMS[name].schema
        if name == "register_subject":
            return FORMS["registration"].schema
        return op.body() if op.body is not None else None
