"""Corrections and voids of a subject's entries: each a new event with a reason."""

from flask_smorest import Blueprint

from ecrf.api.context import current_user, if_match, object_body, services
from ecrf.api.idempotency import idempotency, written
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
    body, retry = object_body("changes", "reason"), idempotency()
    outcome = correct_entry(services().store, current_user(), subject_id, entry_id,
                            body.get("changes"), body.get("reason"), if_match=if_match(),
                            idempotency_key=retry.key, fingerprint=retry.fingerprint,
                            config=services().trial)
    return written(outcome)


@blp.route("/<subject_id>/entries/<entry_id>/void", methods=["POST"])
@blp.doc(requestBody={"required": True, "content": {
    "application/json": {"schema": VoidSchema}}})
@blp.response(201, OutcomeSchema)
def void(subject_id: str, entry_id: str):
    """Void an entry with a reason: it then counts for nothing but stays in the record."""
    body, retry = object_body("reason"), idempotency()
    outcome = void_entry(services().store, current_user(), subject_id, entry_id,
                         body.get("reason"), if_match=if_match(), idempotency_key=retry.key,
                         fingerprint=retry.fingerprint, config=services().trial)
    return written(outcome)
