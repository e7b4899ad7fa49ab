"""Subjects: registration, the list, the casebook and the raw history."""

from flask import request
from flask_smorest import Blueprint

from ecrf.api.context import as_of_position, current_user, json_body, services
from ecrf.api.idempotency import idempotency, written
from ecrf.api.schemas import OutcomeSchema
from ecrf.commands.forms import register_subject
from ecrf.commands.subjects import load_casebook
from ecrf.errors import Invalid
from ecrf.forms.registry import FORMS
from ecrf.permissions import require
from projections.casebook import REGISTRATION
from projections.casebook_cache import latest_casebook

blp = Blueprint("subjects", __name__, url_prefix="/api/v1/subjects",
                description="Subjects and their casebooks")


@blp.route("", methods=["POST"])
@blp.doc(requestBody={"required": True, "content": {
    "application/json": {"schema": FORMS["registration"].schema}}})
@blp.response(201, OutcomeSchema)
def register():
    """Register a subject (the registration form); creates the subject's stream."""
    retry = idempotency()
    outcome = register_subject(services().store, current_user(), json_body(),
                               idempotency_key=retry.key, fingerprint=retry.fingerprint)
    return written(outcome)


#: the statuses of Casebook.status, in the order a subject goes through them.
SUBJECT_STATUSES = ("screening", "enrolled", "infused", "in_follow_up", "ended")


@blp.route("", methods=["GET"])
def list_subjects():
    """List the subjects of the caller's sites with their status (`?status=` to filter)."""
    user = current_user()
    require(user.role, "subject.list")
    status = request.args.get("status")
    if status is not None and status not in SUBJECT_STATUSES:
        raise Invalid("invalid_filter", f"status {status!r} is not a known value",
                      {"status": [f"use one of: {', '.join(SUBJECT_STATUSES)}"]})
    store = services().store
    rows = []
    for subject_id in store.stream_ids(REGISTRATION):
        book = latest_casebook(store, subject_id)
        if (book is not None and user.sees_site(book.site_id)
                and status in (None, book.status)):
            rows.append({"subject_id": book.subject_id, "site_id": book.site_id,
                         "status": book.status, "stream_version": book.version})
    return {"subjects": rows}


@blp.route("/<subject_id>", methods=["GET"])
def casebook(subject_id: str):
    """Return the casebook: every entry with its current values and version history."""
    user = current_user()
    require(user.role, "subject.read")
    book = load_casebook(services().store, user, subject_id, up_to_position=as_of_position())
    return book.to_dict()


@blp.route("/<subject_id>/history", methods=["GET"])
def history(subject_id: str):
    """Return the subject's events in order, envelope and payload, as recorded."""
    user = current_user()
    require(user.role, "subject.read")
    store = services().store
    load_casebook(store, user, subject_id)
    return {"subject_id": subject_id, "events": [
        {"position": e.position, "stream_version": e.stream_version, "type": e.type,
         "schema_version": e.schema_version, "data": e.data, "metadata": e.metadata,
         "recorded_at": e.recorded_at.isoformat(), "hash": e.hash}
        for e in store.read_stream(subject_id)]}
