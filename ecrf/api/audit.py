"""Audit views: the field-level trail of a subject and of the trial (JSON or CSV), and the
chain check. Each view of the trail is itself recorded as an event in the ``audit-log`` stream.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from flask import Response, current_app, request
from flask_smorest import Blueprint
from sqlalchemy.exc import SQLAlchemyError

from ecrf.api.context import current_user, object_body, services
from ecrf.commands.subjects import load_casebook
from ecrf.errors import BadRequest, Conflict, Invalid
from ecrf.evidence import fresh_checkpoint, witness_checkpoints
from ecrf.permissions import require
from events import NewEvent, verify_chain
from projections.audit_trail import COLUMNS, audit_rows

blp = Blueprint("audit", __name__, url_prefix="/api/v1", description="Audit trail")
AUDIT_LOG = "audit-log"
MAX_LIMIT = 5000


def record_view(view: str, filters: dict) -> None:
    """Append an AuditViewed event: who looked at which audit view, with which filters."""
    services().store.append(AUDIT_LOG, [NewEvent("AuditViewed", {
        "view": view, "filters": filters})], expected_version=None)


MAX_CHECKPOINTS = 1000


@blp.route("/audit/verify", methods=["GET", "POST"])
def verify():
    """Re-check the whole log (positions, stream versions, time order, hashes, event
    signatures, casebook signatures' covers_hash, the witness file's checkpoints); report the
    head and the first failure, if any. POST ``{"checkpoints": [...]}`` to check kept
    receipts too."""
    require(current_user().role, "audit.verify")
    store = services().store
    keys = {store.signer.key_id: store.signer.public_key} if store.signer else None
    given = _posted_checkpoints() if request.method == "POST" else []
    try:
        report = verify_chain(store.engine, public_keys=keys,
                              checkpoints=[*witness_checkpoints(current_app), *given]).to_dict()
    except SQLAlchemyError as error:  # e.g. a column dropped by someone with the database
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        report = {"ok": False, "first_broken_position": None,
                  "problem": f"the event table cannot be read: {reason}"}
        return report  # nor can this view be recorded in it
    record_view("chain_verification", {})
    return report


def _posted_checkpoints() -> list[tuple[str, dict]]:
    body = object_body("checkpoints")
    points = body.get("checkpoints")
    if not isinstance(points, list) or not 1 <= len(points) <= MAX_CHECKPOINTS:
        raise Invalid("validation_failed", "checkpoints must be a list of receipts",
                      {"checkpoints": [f"give 1 to {MAX_CHECKPOINTS} checkpoints"]})
    wrong = [i for i, point in enumerate(points) if not isinstance(point, dict)]
    if wrong:
        raise Invalid("validation_failed", "each checkpoint must be an object",
                      {"checkpoints": [f"item {i + 1} is not an object" for i in wrong[:10]]})
    return [(f"posted checkpoint {i}", point) for i, point in enumerate(points, start=1)]


@blp.route("/audit/checkpoint", methods=["GET"])
def checkpoint():
    """A checkpoint of the log head signed now, with the public key to check it: keep it
    outside the database to prove later that nothing up to it changed."""
    require(current_user().role, "audit.checkpoint")
    store = services().store
    signed = fresh_checkpoint(store)
    if signed is None:
        raise Conflict("nothing_to_sign", "the log is empty or the server has no signing key")
    return {**signed, "public_key": store.signer.public_pem}


@blp.route("/subjects/<subject_id>/audit-trail", methods=["GET"])
def subject_trail(subject_id: str):
    """Every field change of one subject: entry, field, old and new value, who, when, why."""
    user = current_user()
    require(user.role, "audit.read")
    store = services().store
    load_casebook(store, user, subject_id)
    rows = list(audit_rows(store.read_stream(subject_id)))
    record_view("subject_audit_trail", {"subject_id": subject_id})
    return _respond(rows, f"audit-trail-{subject_id}.csv")


@blp.route("/audit", methods=["GET"])
def trial_trail():
    """The trial's audit trail with filters (subject, user, role, type, from, to), paged by
    ``after`` (a position) and ``limit``; ``?format=csv`` for CSV."""
    user = current_user()
    require(user.role, "audit.read")
    filters = _filters()
    store = services().store
    rows, last = [], None
    for row in audit_rows(store.iter_all()):
        if not user.sees_site(row["site_id"]) or not _matches(row, filters):
            continue
        if row["position"] <= filters["after"]:
            continue
        if len(rows) >= filters["limit"] and row["position"] != last:
            break
        rows.append(row)
        last = row["position"]
    record_view("trial_audit_trail", {k: v for k, v in filters.items() if v is not None})
    return _respond(rows, "audit-trail.csv", next_after=last if rows else None)


def _filters() -> dict:
    args = request.args
    filters = {name: args.get(name) for name in ("subject", "user", "role", "type")}
    for name in ("from", "to"):
        raw = args.get(name)
        try:
            filters[name] = datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else None
        except ValueError:
            raise BadRequest("invalid_filter", f"{name} must be an ISO 8601 date-time",
                             {name: ["e.g. 2026-03-01T00:00:00Z"]}) from None
        if filters[name] is not None and filters[name].tzinfo is None:
            raise BadRequest("invalid_filter", f"{name} needs a UTC offset",
                             {name: ["e.g. 2026-03-01T00:00:00Z"]})
    for name, default in (("after", 0), ("limit", 1000)):
        raw = args.get(name, str(default))
        if not raw.isdigit() or (name == "limit" and not 1 <= int(raw) <= MAX_LIMIT):
            raise BadRequest("invalid_filter", f"{name} must be a whole number"
                             + (f" from 1 to {MAX_LIMIT}" if name == "limit" else ""),
                             {name: ["invalid"]})
        filters[name] = int(raw)
    fmt = args.get("format", "json")
    if fmt not in ("json", "csv"):
        raise BadRequest("invalid_filter", "format is json or csv", {"format": ["invalid"]})
    filters["format"] = fmt
    return filters


def _matches(row: dict, filters: dict) -> bool:
    moment = datetime.fromisoformat(row["recorded_at"])
    return ((filters["subject"] is None or row["subject_id"] == filters["subject"])
            and (filters["user"] is None or row["actor"] == filters["user"])
            and (filters["role"] is None or row["role"] == filters["role"])
            and (filters["type"] is None or row["event_type"] == filters["type"])
            and (filters["from"] is None or moment >= filters["from"])
            and (filters["to"] is None or moment <= filters["to"]))


def _respond(rows: list[dict], filename: str, next_after: int | None = None):
    if request.args.get("format") == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in COLUMNS})
        return Response(out.getvalue(), mimetype="text/csv", headers={
            "Content-Disposition": f"attachment; filename={filename}"})
    return {"rows": rows, "count": len(rows), "next_after": next_after}


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
