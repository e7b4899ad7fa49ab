"""Audit views: the field-level trail of a subject and of the trial (JSON or CSV), and the
chain check. Each view of the trail is itself recorded as an event in the ``audit-log`` stream.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from flask import Response, request
from flask_smorest import Blueprint

from ecrf.api.context import current_user, is_whole_number, parse_moment, services
from ecrf.commands.subjects import load_casebook
from ecrf.errors import BadRequest
from ecrf.exports.csv_cells import text_cell
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


@blp.route("/audit/verify", methods=["GET"])
def verify():
    """Re-check the whole hash chain; report the head and the first broken link, if any."""
    require(current_user().role, "audit.verify")
    report = verify_chain(services().store.engine).to_dict()
    record_view("chain_verification", {})
    return report


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
    record_view("trial_audit_trail", {k: v.isoformat() if isinstance(v, datetime) else v
                                      for k, v in filters.items() if v is not None})
    return _respond(rows, "audit-trail.csv", next_after=last if rows else None)


def _filters() -> dict:
    args = request.args
    filters = {name: args.get(name) for name in ("subject", "user", "role", "type")}
    for name in ("from", "to"):
        raw = args.get(name)
        filters[name] = parse_moment(name, raw, "invalid_filter") if raw else None
    for name, default in (("after", 0), ("limit", 1000)):
        raw = args.get(name, str(default))
        if not is_whole_number(raw) or (name == "limit" and not 1 <= int(raw) <= MAX_LIMIT):
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
    if isinstance(value, str):
        return text_cell(value)
    return str(value)
