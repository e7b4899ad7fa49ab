"""Corrections and voids of a subject's entries: each a new event with a reason."""

from flask_smorest import Blueprint

from ecrf.api.context import current_user, idempotency_key, if_match, json_body, services
from ecrf.api.schemas import CorrectionSchema, OutcomeSchema, VoidSchema
from ecrf.commands.forms import correct_entry, void_entry
from ecrf.errors import Invalid

blp = Blueprint("entries", __name__, url_prefix="/api/v1/subjects",
                description="Corrections and voids")


def _object(body) -> dict:
    if not isinstance(body, dict):
        raise Invalid("validation_failed", "the body must be a JSON object",
                      {"_body": ["expected a JSON object"]})
    unknown = set(body) - {"changes", "reason"}
    if unknown:
        raise Invalid("validation_failed", "unknown fields",
                      {k: ["Unknown field."] for k in sorted(unknown)})
    return body


@blp.route("/<subject_id>/entries/<entry_id>/corrections", methods=["POST"])
@blp.doc(requestBody={"required": True, "content": {
    "application/json": {"schema": CorrectionSchema}}})
@blp.response(201, OutcomeSchema)
def correct(subject_id: str, entry_id: str):
    """Correct an entry: the changed fields and a reason; the result must stay valid."""
    body = _object(json_body())
    outcome = correct_entry(services().store, current_user(), subject_id, entry_id,
                            body.get("changes"), body.get("reason"), if_match=if_match(),
                            idempotency_key=idempotency_key(), config=services().trial)
    return outcome, 200 if outcome.replayed else 201


@blp.route("/<subject_id>/entries/<entry_id>/void", methods=["POST"])
@blp.doc(requestBody={"required": True, "content": {
    "application/json": {"schema": VoidSchema}}})
@blp.response(201, OutcomeSchema)
def void(subject_id: str, entry_id: str):
    """Void an entry with a reason: it then counts for nothing but stays in the record."""
    body = _object(json_body())
    if "changes" in body:
        raise Invalid("validation_failed", "unknown fields", {"changes": ["Unknown field."]})
    outcome = void_entry(services().store, current_user(), subject_id, entry_id,
                         body.get("reason"), if_match=if_match(),
                         idempotency_key=idempotency_key(), config=services().trial)
    return outcome, 200 if outcome.replayed else 201
