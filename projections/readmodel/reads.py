"""Reads of the trial-wide audit trail and query list from their read-model tables.

Every filter is a WHERE clause on an indexed column, and pages are keyset pages on the
event's position, so an answer costs what it returns, not what the trail holds. The rows come
back as the fold wrote them (JSON text), so answers equal the fold's (tests/reference_views.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from projections.readmodel.tables import audit_events, queries
from projections.readmodel.trail import MICROSECOND, micros, stored_rows, stored_texts

T = audit_events


def reader(engine: Engine) -> Engine:
    """The engine for single-statement reads: autocommit on PostgreSQL (no BEGIN/ROLLBACK
    round trips, as the event store reads), the engine itself on SQLite."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


@dataclass(frozen=True)
class TrailQuery:
    """What to select from the trail; ``sites`` None means every site."""

    sites: tuple[str, ...] | None
    subject: str | None = None
    user: str | None = None
    role: str | None = None
    type: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    after: int = 0

    def where(self) -> list[sa.ColumnElement[bool]]:
        """The WHERE clauses: the same tests as ``AuditFilters.matches`` and ``sees_site``."""
        clauses = [T.c.position > self.after]
        if self.sites is not None:
            clauses.append(T.c.site_id.in_(self.sites))
        for column, value in ((T.c.subject_id, self.subject), (T.c.actor, self.user),
                              (T.c.role, self.role), (T.c.event_type, self.type)):
            if value is not None:
                clauses.append(column == value)
        if self.start is not None:
            clauses.append(T.c.recorded_us >= micros(self.start))
        if self.end is not None:
            clauses.append(T.c.recorded_us <= micros(self.end))
        return clauses


def trail_page(engine: Engine, query: TrailQuery, limit: int
               ) -> tuple[list[dict[str, Any]], int | None]:
    """Take ``limit`` rows, never splitting one event's rows; name the next page if any.

    The page is every selected row up to the event of its ``limit``-th row; ``next_after``
    is that event's position when a selected event follows it (what the fold's paging
    answers). Each event has at least one row, so the first ``limit + 1`` selected events
    hold the page and tell whether more follow; a running sum of their row counts says which
    of them the page takes, and only those bring their text back.
    """
    first = sa.select(T.c.position, T.c.row_count, T.c.head, T.c.tails) \
        .where(*query.where()).order_by(T.c.position).limit(limit + 1).subquery()
    before = sa.func.sum(first.c.row_count).over(
        order_by=first.c.position, rows=(None, 0)) - first.c.row_count
    taken = before < limit
    select = sa.select(first.c.position, sa.case((taken, first.c.head)),
                       sa.case((taken, first.c.tails))).order_by(first.c.position)
    with reader(engine).connect() as conn:
        found = conn.execute(select).all()
    page = [row for _, head, tails in found if head is not None
            for row in stored_rows(head, tails)]
    events = sum(head is not None for _, head, _ in found)
    return page, found[events - 1][0] if len(found) > events else None


def trail_texts(engine: Engine, query: TrailQuery, chunk: int = 500
                ) -> Iterator[tuple[int, str]]:
    """Yield each selected event's row count and rows (their JSON texts joined by commas,
    ``trail.stored_texts``) in log order."""
    for row in _selected_events(engine, query, chunk):
        yield row.row_count, stored_texts(row.head, row.tails)


def trail_rows(engine: Engine, query: TrailQuery, chunk: int = 500
               ) -> Iterator[dict[str, Any]]:
    """The rows of ``trail_texts``, as dictionaries (no text is encoded to be decoded)."""
    for row in _selected_events(engine, query, chunk):
        yield from stored_rows(row.head, row.tails)


def _selected_events(engine: Engine, query: TrailQuery, chunk: int) -> Iterator[sa.Row]:
    """The selected ``rm_audit_events`` rows in log order, read in keyset chunks of
    ``chunk`` events.

    No connection is held between chunks, so a slow client holds nothing open; events
    caught up meanwhile (later positions) may be included, never half an event's rows.
    """
    where = query.where()
    after: int | None = None
    while True:
        select = sa.select(T.c.position, T.c.row_count, T.c.head, T.c.tails).where(*where)
        if after is not None:
            select = select.where(T.c.position > after)
        with reader(engine).connect() as conn:
            found = conn.execute(select.order_by(T.c.position).limit(chunk)).all()
        yield from found
        if len(found) < chunk:
            return
        after = found[-1].position


def query_texts(engine: Engine, *, sites: tuple[str, ...] | None, state: str | None,
                older_than: timedelta | None, now: datetime) -> list[str]:
    """Every query of the sites (None: all), as ``GET /queries`` lists them, each as the
    API's JSON text (``trail.API_JSON``) with its ``age_days`` at ``now``.

    ``older_than`` keeps queries opened at least that long before ``now`` (the fold's
    ``age < older_than`` skip, as a WHERE on ``opened_us``).
    """
    select = sa.select(queries.c.opened_us, queries.c.row)
    if sites is not None:
        select = select.where(queries.c.site_id.in_(sites))
    if state is not None:
        select = select.where(queries.c.state == state)
    if older_than is not None:
        select = select.where(  # in integers: now - older_than may be before year 1
            queries.c.opened_us <= micros(now) - older_than // MICROSECOND)
    select = select.order_by(queries.c.registered_position, queries.c.opened_position)
    with reader(engine).connect() as conn:
        found = conn.execute(select).all()
    now_us = micros(now)
    # age_days is the fold's round((now - opened_at).total_seconds() / 86400, 1):
    # total_seconds() is the whole microseconds / 10**6 (one correctly rounded division), and
    # a float's JSON text is its repr
    return [f'{{"age_days":{round((now_us - opened_us) / 10**6 / 86400, 1)!r},{text[1:]}'
            for opened_us, text in found]


def query_list(engine: Engine, *, sites: tuple[str, ...] | None, state: str | None,
               older_than: timedelta | None, now: datetime) -> list[dict[str, Any]]:
    """The same rows as ``query_texts``, decoded."""
    return [json.loads(text) for text in query_texts(
        engine, sites=sites, state=state, older_than=older_than, now=now)]
