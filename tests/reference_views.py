"""The trial-wide views as they were before their read models: folded from the whole log.

Kept verbatim (apart from recording the view) as the reference the read models must equal
byte for byte: ``install`` mounts them on an app at ``/api/v1/reference/audit`` and
``/api/v1/reference/queries``, so a test can send the same request to both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from flask import Flask, Response, request

from ecrf.accounts.model import User
from ecrf.api.audit import csv_lines
from ecrf.api.audit_filters import parse_audit_filters
from ecrf.api.context import current_user, services
from ecrf.api.workflow import _filters
from ecrf.permissions import require
from events import EventStore
from projections.audit_trail import audit_rows
from projections.casebook import REGISTRATION, Casebook, fold_casebook


def reference_trail():
    """GET /audit as it was: ``audit_rows(store.iter_all())`` filtered in Python."""
    user = current_user()
    require(user.role, "audit.read")
    filters = parse_audit_filters(request.args)
    store = services().store
    rows = (row for row in audit_rows(store.iter_all())
            if row["position"] > filters.after and user.sees_site(row["site_id"])
            and filters.matches(row))
    if filters.limit is None:
        return _whole(rows, filters.format, "audit-trail.csv")
    page, next_after = _page(rows, filters.limit)
    headers = {"Link": f'<{_next_url(next_after)}>; rel="next"'} if next_after else {}
    if filters.format == "csv":
        return Response("".join(csv_lines(page)), mimetype="text/csv", headers={
            **headers, "Content-Disposition": "attachment; filename=audit-trail.csv"})
    return {"rows": page, "count": len(page), "next_after": next_after}, 200, headers


def _page(rows: Iterator[dict], limit: int) -> tuple[list[dict], int | None]:
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
    if fmt == "csv":
        return Response(csv_lines(rows), mimetype="text/csv", headers={
            "Content-Disposition": f"attachment; filename={filename}"})

    def json_text() -> Iterator[str]:
        count = 0
        yield '{"rows":['
        for row in rows:
            yield ("," if count else "") + json.dumps(row, ensure_ascii=False)
            count += 1
        yield f'],"count":{count},"next_after":null}}'

    return Response(json_text(), mimetype="application/json")


def reference_query_rows(store: EventStore, user: User, state: str | None,
                         older_than: timedelta | None, now: datetime) -> list[dict]:
    """GET /queries' rows as they were: every subject's casebook folded."""
    rows = []
    for subject_id in store.stream_ids(REGISTRATION):
        book = fold_casebook(store.read_stream(subject_id))
        if book is not None and user.sees_site(book.site_id):
            rows += _query_rows(book, state, older_than, now)
    return rows


def _query_rows(book: Casebook, state: str | None, older_than: timedelta | None,
                now: datetime) -> list[dict]:
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


def reference_queries():
    """GET /queries as it was."""
    user = current_user()
    require(user.role, "query.list")
    state, older = _filters()
    return {"queries": reference_query_rows(services().store, user, state, older,
                                            datetime.now(UTC))}


def install(app: Flask) -> None:
    """Mount the reference views (before the app's first request)."""
    app.add_url_rule("/api/v1/reference/audit", "reference_trail", reference_trail)
    app.add_url_rule("/api/v1/reference/queries", "reference_queries", reference_queries)
