"""Queries, source data verification, signatures and locks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from flask import Flask, Response, current_app, request
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Blueprint

from ecrf.accounts.visibility import is_security_stream, shows_account
from ecrf.api.audit import visible_sites
from ecrf.api.context import current_user, object_body, services
from ecrf.api.schemas import OutcomeSchema
from ecrf.commands import locks, workflow
from ecrf.commands.subjects import load_casebook
from ecrf.errors import BadRequest
from ecrf.permissions import require
from projections.casebook import REGISTRATION, Casebook, fold_casebook
from projections.readmodel.reads import query_texts

blp = Blueprint("workflow", __name__, url_prefix="/api/v1",
                description="Queries, verification, signatures, locks")

QUERY_STATES = ("open", "answered", "closed", "cancelled")


@blp.before_request
def refuse_idempotency_key() -> None:
    """Say plainly that these writes take no Idempotency-Key, rather than ignore it: a retry
    the client believes safe would otherwise record a second query, verification or lock."""
    if request.method == "POST" and "Idempotency-Key" in request.headers:
        raise BadRequest("idempotency_key_not_supported",
                         "Idempotency-Key is accepted on registration, forms, corrections "
                         "and voids only: send this request without it",
                         {"Idempotency-Key": ["not accepted on this endpoint"]})


def _ctx():
    return services().store, current_user()


@blp.route("/subjects/<subject_id>/queries", methods=["POST"])
@blp.response(201, OutcomeSchema)
def open_query(subject_id: str):
    """Open a data query on an entry and field (monitor, data manager)."""
    body = object_body("entry_id", "field", "text")
    store, user = _ctx()
    return workflow.open_query(store, user, subject_id, body.get("entry_id"),
                               body.get("field"), body.get("text")), 201


@blp.route("/subjects/<subject_id>/queries/<query_id>/answer", methods=["POST"])
@blp.response(201, OutcomeSchema)
def answer_query(subject_id: str, query_id: str):
    """Answer a query, optionally with a correction of the entry (site staff, investigator)."""
    body = object_body("text", "changes", "reason")
    store, user = _ctx()
    return workflow.answer_query(store, user, subject_id, query_id, body.get("text"),
                                 body.get("changes"), body.get("reason"),
                                 config=services().trial), 201


@blp.route("/subjects/<subject_id>/queries/<query_id>/<action>", methods=["POST"])
@blp.response(201, OutcomeSchema)
def query_transition(subject_id: str, query_id: str, action: str):
    """Close, re-open or cancel a query (its opener or a data manager)."""
    steps = {"close": workflow.close_query, "reopen": workflow.reopen_query,
             "cancel": workflow.cancel_query}
    if action not in steps:
        raise BadRequest("unknown_action", "use close, reopen or cancel")
    body = object_body("text")
    store, user = _ctx()
    return steps[action](store, user, subject_id, query_id, body.get("text")), 201


def _query_rows(book: Casebook, state: str | None, older_than: timedelta | None) -> list[dict]:
    now = datetime.now(UTC)
    rows = []
    for query in book.workflow.queries.values():
        if state and query.state != state:
            continue
        age = now - datetime.fromisoformat(query.opened_at)
        if older_than is not None and age < older_than:
            continue
        rows.append({**query.to_dict(), "subject_id": book.subject_id,
                     "age_days": round(age.total_seconds() / 86400, 1)})
    return rows


def _filters() -> tuple[str | None, timedelta | None]:
    state = request.args.get("state")
    if state is not None and state not in QUERY_STATES:
        raise BadRequest("invalid_state", "unknown query state",
                         {"state": [f"one of {', '.join(QUERY_STATES)}"]})
    days = request.args.get("older_than_days")
    if days is not None and not (days.isascii() and days.isdigit() and len(days) <= 6):
        raise BadRequest("invalid_age", "older_than_days must be a whole number",
                         {"older_than_days": ["not a whole number"]})
    return state, timedelta(days=int(days)) if days is not None else None


@blp.route("/subjects/<subject_id>/queries", methods=["GET"])
def subject_queries(subject_id: str):
    """List a subject's queries (?state=open|answered|closed|cancelled, ?older_than_days=)."""
    store, user = _ctx()
    require(user.role, "query.list")
    state, older = _filters()
    return {"queries": _query_rows(load_casebook(store, user, subject_id), state, older)}


@blp.route("/queries", methods=["GET"])
def trial_queries():
    """List the queries of every subject the caller may see, with the same filters."""
    store, user = _ctx()
    require(user.role, "query.list")
    state, older = _filters()
    # Fresh: the read model is brought to the head first; a failed one is not served (the
    # casebooks are folded instead, as before the read model existed).
    if services().runner.ensure_current():
        texts = query_texts(store.engine, sites=visible_sites(user), state=state,
                            older_than=older, now=datetime.now(UTC))
        if _writes_as_stored(current_app):  # the rows are already the provider's text
            return Response('{"queries":[' + ",".join(texts) + "]}\n",
                            mimetype=current_app.json.mimetype)
        return {"queries": [json.loads(text) for text in texts]}
    rows = []
    for subject_id in store.stream_ids(REGISTRATION):
        book = fold_casebook(store.read_stream(subject_id))
        if book is not None and user.sees_site(book.site_id):
            rows += _query_rows(book, state, older)
    return {"queries": rows}


def _writes_as_stored(app: Flask) -> bool:
    """Tell whether the app's JSON provider writes a body as ``rm_queries`` stores its rows
    (Flask's default outside debug mode: sorted keys, compact, ASCII)."""
    provider = app.json
    return (isinstance(provider, DefaultJSONProvider)
            and type(provider).dumps is DefaultJSONProvider.dumps
            and provider.sort_keys and provider.ensure_ascii
            and (provider.compact or (provider.compact is None and not app.debug)))


@blp.route("/subjects/<subject_id>/entries/<entry_id>/verify", methods=["POST"])
@blp.response(201, OutcomeSchema)
def verify_entry(subject_id: str, entry_id: str):
    """Mark an entry as source-data verified (monitor)."""
    store, user = _ctx()
    return workflow.verify_entry(store, user, subject_id, entry_id), 201


@blp.route("/subjects/<subject_id>/verification", methods=["GET"])
def verification_progress(subject_id: str):
    """Source data verification progress of a subject, overall and per form."""
    store, user = _ctx()
    require(user.role, "subject.read")
    book = load_casebook(store, user, subject_id)
    return {"subject_id": subject_id, **sdv_progress(book)}


def sdv_progress(book: Casebook) -> dict:
    """Count current entries verified (and unchanged since) per form."""
    per_form: dict[str, dict[str, int]] = {}
    for entry in book.current():
        counts = per_form.setdefault(entry.form, {"entries": 0, "verified": 0})
        counts["entries"] += 1
        verification = book.workflow.verifications.get(entry.entry_id)
        counts["verified"] += bool(verification and verification.state == "verified")
    total = sum(c["entries"] for c in per_form.values())
    done = sum(c["verified"] for c in per_form.values())
    return {"entries": total, "verified": done,
            "percent": round(100 * done / total, 1) if total else 0.0, "per_form": per_form}


@blp.route("/subjects/<subject_id>/signatures", methods=["POST"])
@blp.response(201, OutcomeSchema)
def sign(subject_id: str):
    """Sign the casebook: re-enter the password and choose a meaning (investigator)."""
    body = object_body("password", "meaning")
    store, user = _ctx()
    return workflow.sign_casebook(store, user, subject_id, body.get("password"),
                                  body.get("meaning")), 201


@blp.route("/subjects/<subject_id>/lock", methods=["POST"])
@blp.response(201, OutcomeSchema)
def lock(subject_id: str):
    """Lock a casebook (data manager)."""
    store, user = _ctx()
    return locks.lock_casebook(store, user, subject_id, object_body("reason").get("reason")), 201


@blp.route("/subjects/<subject_id>/unlock", methods=["POST"])
@blp.response(201, OutcomeSchema)
def unlock(subject_id: str):
    """Unlock a casebook with a reason (data manager)."""
    store, user = _ctx()
    return locks.unlock_casebook(store, user, subject_id, object_body("reason").get("reason")), 201


@blp.route("/trial/lock", methods=["POST"])
@blp.response(201, OutcomeSchema)
def lock_trial():
    """Lock the whole trial database (data manager)."""
    store, user = _ctx()
    return locks.set_trial_lock(store, user, True, object_body("reason").get("reason")), 201


@blp.route("/trial/unlock", methods=["POST"])
@blp.response(201, OutcomeSchema)
def unlock_trial():
    """Unlock the trial database with a reason (data manager)."""
    store, user = _ctx()
    return locks.set_trial_lock(store, user, False, object_body("reason").get("reason")), 201


@blp.route("/security/events", methods=["GET"])
def security_events():
    """Account and login events (auditor, data manager); password hashes never shown.

    A data manager limited to some sites sees only the accounts assigned to one of them (not
    trial-wide accounts, nor failures for names that are no account)."""
    store, user = _ctx()
    require(user.role, "security.read")
    rows, shown = [], {}
    for event in store.iter_all():
        if is_security_stream(event.stream_id) and event.stream_id not in shown:
            shown[event.stream_id] = shows_account(store, user, event.stream_id)
        if shown.get(event.stream_id):
            data = {k: v for k, v in event.data.items() if k != "password_hash"}
            rows.append({"position": event.position, "stream_id": event.stream_id,
                         "type": event.type, "data": data, "metadata": event.metadata,
                         "recorded_at": event.recorded_at.isoformat()})
    return {"events": rows}
