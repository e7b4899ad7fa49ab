"""Audit views: the field-level trail of a subject and of the trial (JSON or CSV), and the
chain check. Each view of the trail is itself recorded as an event in the ``audit-log`` stream.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterable, Iterator
from urllib.parse import urlencode

from flask import Response, current_app, request
from flask_smorest import Blueprint
from sqlalchemy.exc import SQLAlchemyError

from ecrf.accounts.model import ALL_SITES, User
from ecrf.api.audit_filters import FORMATS, AuditFilters, parse_audit_filters
from ecrf.api.context import current_user, object_body, services
from ecrf.commands.subjects import load_casebook
from ecrf.errors import Conflict, Invalid
from ecrf.evidence import fresh_checkpoint, witness_checkpoints
from ecrf.exports.csv_cells import text_cell
from ecrf.permissions import require
from events import NewEvent, verify_chain
from events.signing import SigningKeyError
from projections.audit_trail import COLUMNS, audit_rows
from projections.readmodel.reads import TrailQuery, trail_page, trail_rows, trail_texts

blp = Blueprint("audit", __name__, url_prefix="/api/v1", description="Audit trail")
AUDIT_LOG = "audit-log"


def visible_sites(user: User) -> tuple[str, ...] | None:
    """The sites whose rows a user may see in a trial-wide view (None: every site)."""
    return None if ALL_SITES in user.sites else tuple(user.sites)


def record_view(view: str, filters: dict) -> None:
    """Append an AuditViewed event: who looked at which audit view, with which filters."""
    services().store.append(AUDIT_LOG, [NewEvent("AuditViewed", {
        "view": view, "filters": filters})], expected_version=None)


MAX_CHECKPOINTS = 1000


@blp.route("/audit/verify", methods=["GET", "POST"])
def verify():
    """Re-check the whole log (positions, stream versions, time order, hashes, event
    signatures, casebook signatures' covers_hash, the witness file's checkpoints); report the
    head and the first failure, if any. POST `{"checkpoints": [...]}` to check kept
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
    # When the head is signed by a key this server does not hold (forged, or retired), the log
    # takes no writes, yet the check must still answer.
    with contextlib.suppress(SigningKeyError):
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
    fmt = request.args.get("format", "json")
    if fmt not in FORMATS:
        raise Invalid("invalid_filter", f"format {fmt!r} is not a known value",
                      {"format": [f"use one of: {', '.join(FORMATS)}"]})
    record_view("subject_audit_trail", {"subject_id": subject_id})
    return _whole(audit_rows(store.read_stream(subject_id)), fmt,
                  f"audit-trail-{subject_id}.csv")


@blp.route("/audit", methods=["GET"])
def trial_trail():
    """The trial's audit trail with filters (subject, user, role, type, from, to): the whole
    trail, streamed, unless `limit` asks for a page (then `Link: rel="next"` and
    `next_after` name the next one; `after` is a position). `?format=csv` for CSV."""
    user = current_user()
    require(user.role, "audit.read")
    filters = parse_audit_filters(request.args)
    ecrf = services()
    # Fresh: the read model is brought to the head first. A failed one is not served as
    # whole: the answer is folded from the log instead (docs/projections.md).
    if not ecrf.runner.ensure_current():
        return _folded_trail(user, filters)
    query = TrailQuery(sites=visible_sites(user), subject=filters.subject, user=filters.user,
                       role=filters.role, type=filters.type, start=filters.start,
                       end=filters.end, after=filters.after)
    record_view("trial_audit_trail", filters.given)
    engine = ecrf.store.engine
    if filters.limit is None:
        if filters.format == "csv":
            return _whole(trail_rows(engine, query), "csv", "audit-trail.csv")
        return _whole_json(trail_texts(engine, query))
    page, next_after = trail_page(engine, query, filters.limit)
    return _paged(page, next_after, filters.format)


def _folded_trail(user: User, filters: AuditFilters) -> Response | tuple:
    """The same answer folded from the whole log (while the read model has failed)."""
    rows = (row for row in audit_rows(services().store.iter_all())
            if row["position"] > filters.after and user.sees_site(row["site_id"])
            and filters.matches(row))
    record_view("trial_audit_trail", filters.given)
    if filters.limit is None:
        return _whole(rows, filters.format, "audit-trail.csv")
    return _paged(*_page(rows, filters.limit), filters.format)


def _paged(page: list[dict], next_after: int | None, fmt: str):
    headers = {"Link": f'<{_next_url(next_after)}>; rel="next"'} if next_after else {}
    if fmt == "csv":
        return Response("".join(csv_lines(page)), mimetype="text/csv", headers={
            **headers, "Content-Disposition": "attachment; filename=audit-trail.csv"})
    return {"rows": page, "count": len(page), "next_after": next_after}, 200, headers


def _page(rows: Iterator[dict], limit: int) -> tuple[list[dict], int | None]:
    """Take ``limit`` rows (never splitting one event's rows); name the next page if any."""
    page: list[dict] = []
    for row in rows:
        if len(page) >= limit and row["position"] != page[-1]["position"]:
            return page, page[-1]["position"]
        page.append(row)
    return page, None


def _next_url(after: int) -> str:
    args = {**request.args.to_dict(), "after": str(after)}
    return f"{request.base_url}?{urlencode(args)}"


def _whole(rows: Iterable[dict], fmt: str, filename: str) -> Response:
    """Stream every row: CSV, or JSON ``{"rows": [...], "count": n, "next_after": null}``.

    The generators need no request context (user and filters are bound already), so a client
    that goes away mid-stream leaves nothing half-open.
    """
    if fmt == "csv":
        return Response(csv_lines(rows), mimetype="text/csv", headers={
            "Content-Disposition": f"attachment; filename={filename}"})

    return _whole_json((1, json.dumps(row, ensure_ascii=False)) for row in rows)


def _whole_json(texts: Iterable[tuple[int, str]]) -> Response:
    """Stream ``{"rows": [...], "count": n, "next_after": null}`` from the JSON texts of the
    rows, given in pieces of ``n`` rows joined by commas."""
    def json_text() -> Iterator[str]:
        count = 0
        yield '{"rows":['
        for rows, text in texts:
            yield ("," if count else "") + text
            count += rows
        yield f'],"count":{count},"next_after":null}}'

    return Response(json_text(), mimetype="application/json")


def csv_lines(rows: Iterable[dict]) -> Iterator[str]:
    """The CSV text of audit rows, a header line first; every cell goes through ``_cell``."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(row.get(k)) for k in COLUMNS])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()


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
