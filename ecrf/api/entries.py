"""Corrections and voids of a subject's entries: each a new event with a reason."""

from flask_smorest import Blueprint

from ecrf.api.context import current_user, idempotency_key, if_match, object_body, services
from ecrf.api.schemas import CorrectionSchema, OutcomeSchema, VoidSchema
from ecrf.commands.forms import correct_entry, void_entry

blp = Blueprint("entries", __name__, url_prefix="/api/v1/subjects",
                description="Corrections and voids")


@blp.route("/<subject_id>/entries/<entry_id>/corrections", methods=["POST"])
@blp.doc(requestBody={"required": True, "content": {
    "application/json": {"schema": CorrectionSchema}}})
@blp.response(201, OutcomeSchema)
def correct(subject_id: str, entry_id: str):
    """Correct an entry: the changed fields and a reason; the result must stay valid."""
    body = object_body("changes", "reason")
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
    body = object_body("reason")
    outcome = void_entry(services().store, current_user(), subject_id, entry_id,
                         body.get("reason"), if_match=if_match(),
                         idempotency_key=idempotency_key(), config=services().trial)
    return outcome, 200 if outcome.replayed else 201
