"""The append-only event store.

Writers are serialised (PostgreSQL: a transaction-scoped advisory lock; SQLite: ``BEGIN
IMMEDIATE``), so each batch of appends reads the chain head, numbers its events head+1 ... and
links their hashes while nobody else can. Positions therefore commit in order and without
gaps, which lets a reader poll ``read_all(after=checkpoint)`` and never miss an event
(docs/event-store.md says why a lock rather than a high-water mark). Appends that arrive
while another commits are committed together (events.group_commit, events.batch_write).
Stream reads are answered from a cache that follows the log (events.cache).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from events.batch_write import APPEND_LOCK, BatchWriter
from events.cache import StreamCache
from events.context import current_metadata
from events.engine import SINGLE_READ, is_postgres
from events.group_commit import GroupCommitter, PendingAppend, Rebase
from events.model import Head, NewEvent, RecordedEvent, utc
from events.reading import COLUMNS, RawReads, decode_row, decode_rows
from events.rotation import ROTATION_TYPE
from events.signals import events_committed
from events.signing import Signer
from events.tables import events as T
from events.upcasting import Upcasters
from events.writer_connection import sqlite_writer_lock

__all__ = ["APPEND_LOCK", "EventStore", "Head", "begin_read_view", "end_read_view"]

#: How many new events one refresh of the stream cache reads; beyond that it forgets all.
REFRESH_LIMIT = 1000


class _ReadView:
    """The stores whose cache was brought to the head in the current block (a web request)."""

    __slots__ = ("refreshed",)

    def __init__(self) -> None:
        self.refreshed: set[int] = set()


_VIEW: ContextVar[_ReadView | None] = ContextVar("event_store_read_view", default=None)


def begin_read_view() -> Token[_ReadView | None]:
    """Start a block (one request) in which the stream cache is brought to the log head once,
    at the first read, instead of at every read; end it with ``end_read_view``.

    Every read of the block then shows the log as of that moment, plus the block's own
    appends; an append (accepted or refused) makes the next read look at the head again.
    """
    return _VIEW.set(_ReadView())


def end_read_view(token: Token[_ReadView | None]) -> None:
    _VIEW.reset(token)


class EventStore:
    """Append to and read from the event log through one SQLAlchemy engine."""

    def __init__(self, engine: Engine, upcasters: Upcasters | None = None, *,
                 signer: Signer | None = None) -> None:
        self.engine = engine
        #: Signs each appended event's hash (None: events are stored unsigned, and a verify
        #: with public keys reports them). The key lives outside the database.
        self.signer = signer
        self.upcasters = upcasters or Upcasters()
        self._postgres = is_postgres(engine)
        self._cache = StreamCache()
        self._raw = RawReads(engine)
        # Reads are single statements: run them without BEGIN and ROLLBACK round trips
        # (PostgreSQL: autocommit; SQLite: no BEGIN, each SELECT its own snapshot).
        self._reader = engine.execution_options(isolation_level="AUTOCOMMIT") \
            if self._postgres else engine.execution_options(**SINGLE_READ)
        self._writer = BatchWriter(self)
        self._committer = GroupCommitter(self._writer.commit)

    # -- writing -------------------------------------------------------------------------
    def append(
        self,
        stream_id: str,
        new_events: Sequence[NewEvent],
        *,
        expected_version: int | None,
        idempotency_key: str | None = None,
        rebase: Rebase | None = None,
        depends: dict[str, int] | None = None,
    ) -> list[RecordedEvent]:
        """Append events to a stream atomically and return them as recorded.

        ``expected_version`` is the stream version the caller decided on (0: the stream must
        not exist yet; None: no check). Raises ConcurrencyError when the stream moved, and
        IdempotencyKeyReused (carrying the first result) when the key was seen before.
        With ``rebase``, a moved stream is not an error: the writer calls
        ``rebase(events of the stream as it now stands)`` for the events to append instead
        (it may raise to refuse). Returns only after the commit that holds the events.
        """
        if not new_events:
            raise ValueError("append needs at least one event")
        pending = PendingAppend(stream_id, new_events, expected_version, idempotency_key,
                                current_metadata(), rebase, dict(depends or {}))
        try:
            recorded = self._committer.submit(pending)
        finally:
            view = _VIEW.get()
            if view is not None:
                view.refreshed.discard(id(self))
        events_committed.send(self, events=recorded)
        return recorded

    def _committed(self, accepted: list[PendingAppend]) -> None:
        """Called by the writer right after a commit: the cache learns the new events."""
        events = [e for pending in accepted for e in (pending.result or ())]
        if events:
            self._cache.advance(events, through=events[-1].position,
                                after=events[0].position - 1)

    @property
    def group_commit(self) -> GroupCommitter:
        """The batching writer (its counters show how many appends shared a commit)."""
        return self._committer

    # -- reading -------------------------------------------------------------------------
    def read_stream(self, stream_id: str, *, up_to_position: int | None = None
                    ) -> list[RecordedEvent]:
        """Return a stream's events in version order, optionally only those up to a position.

        Answered from the stream cache once it knows the log head (see ``refresh``).
        """
        self._fresh()
        events = self._cache.get(stream_id)
        if events is None:
            seen = self._cache.seen
            rows = self._raw.query(self._raw.stream, (stream_id,))
            events = tuple(self._decode_all(rows))
            self._cache.put(stream_id, events, seen)
        if up_to_position is not None:
            return [e for e in events if e.position <= up_to_position]
        return list(events)

    def refresh(self) -> None:
        """Bring the stream cache to the log head: read the events after the position it
        knows (one indexed query; usually nothing, or a few rows written by other processes
        or threads) and add them to the streams it holds.

        On SQLite the query is skipped when the file's data version is the one read before
        the last refresh that reached the head: nothing was committed since, by this process
        or another (events.data_version)."""
        cache = self._cache
        version = self._raw.data_version()
        if version is not None and version == cache.data_version:
            return
        for _attempt in range(3):
            seen = cache.seen
            rows = self._raw.query(self._raw.after, (seen, REFRESH_LIMIT + 1))
            if len(rows) > REFRESH_LIMIT:
                cache.forget_all(self._raw.query(self._raw.head, ())[0][0] or 0)
                cache.data_version = version
                return
            if not rows:
                cache.data_version = version
                return
            generation = cache.generation  # before choosing the rows of the streams held
            held = [row for row in rows if cache.holds(row[1])]
            last = rows[-1][0]
            if cache.advance(self._decode_all(held), through=last, after=seen,
                             generation=generation) or cache.seen >= last:
                cache.data_version = version
                return
        cache.forget_all(cache.seen)  # pragma: no cover - other threads kept moving it

    def _fresh(self) -> None:
        view = _VIEW.get()
        if view is None:
            self.refresh()
        elif id(self) not in view.refreshed:
            self.refresh()
            view.refreshed.add(id(self))

    def read_all(self, after: int = 0, limit: int | None = None, *,
                 types: Iterable[str] | None = None) -> list[RecordedEvent]:
        """Return events with a position greater than ``after``, in position order."""
        if types is None and limit is not None:  # the projections' page: the driver's way
            rows = self._raw.query(self._raw.after, (after, limit))
        else:
            query = sa.select(*COLUMNS).where(T.c.position > after)
            if types is not None:
                query = query.where(T.c.type.in_(list(types)))
            query = query.order_by(T.c.position)
            if limit is not None:
                query = query.limit(limit)
            with self._reader.connect() as conn:
                rows = conn.execute(query).all()
        return self._decode_all(rows)

    def iter_all(self, after: int = 0, batch: int = 5000) -> Iterator[RecordedEvent]:
        """Yield every event after a position, reading in batches to bound memory."""
        while True:
            page = self.read_all(after, batch)
            yield from page
            if len(page) < batch:
                return
            after = page[-1].position

    def appended_with(self, first: RecordedEvent) -> list[RecordedEvent]:
        """Return every event of the append that recorded ``first`` (they follow it in the
        same stream, at the next positions, with the same recorded_at)."""
        events = [first]
        for event in self.read_stream(first.stream_id):
            if event.stream_version <= first.stream_version:
                continue
            if event.position != events[-1].position + 1 or \
                    event.recorded_at != first.recorded_at:
                break
            events.append(event)
        return events

    def last_key_id(self) -> str | None:
        """Return the key_id that must sign the next event: the key of the last signed event,
        or the new key when that event is a key rotation (None: nothing signed yet)."""
        query = (sa.select(T.c.key_id, T.c.type, T.c.data).where(T.c.key_id.is_not(None))
                 .order_by(T.c.position.desc()).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        if row.type == ROTATION_TYPE:
            try:
                return json.loads(row.data)["new_key_id"]
            except (ValueError, KeyError, TypeError):
                return row.key_id
        return row.key_id

    def stream_version(self, stream_id: str) -> int:
        """Return the version of a stream (0 when it does not exist)."""
        return len(self.read_stream(stream_id))

    def head(self) -> Head | None:
        """Return the last event's position and hash, or None for an empty log."""
        with self.engine.connect() as conn:
            return self._head(conn)

    def position_at(self, moment: datetime) -> int:
        """Return the last position recorded at or before ``moment`` (0 when none)."""
        if moment.tzinfo is None:
            raise ValueError("position_at needs an aware datetime")
        utc = moment.astimezone(UTC)  # SQLite compares the stored UTC text
        query = sa.select(sa.func.max(T.c.position)).where(T.c.recorded_at <= utc)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar() or 0

    def count(self) -> int:
        """Return the number of events in the log."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(T)).scalar_one()

    def find_idempotent(self, key: str) -> list[RecordedEvent]:
        """Return the first event appended under an idempotency key (empty when unseen)."""
        with self.engine.connect() as conn:
            return self._by_idempotency_key(conn, key)

    def stream_ids(self, first_event_type: str) -> list[str]:
        """Return the ids of the streams that start with an event of this type."""
        query = (sa.select(T.c.stream_id)
                 .where(T.c.type == first_event_type, T.c.stream_version == 1)
                 .order_by(T.c.position))
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    # -- helpers ---------------------------------------------------------------------------
    def _by_idempotency_key(self, conn: sa.Connection, key: str) -> list[RecordedEvent]:
        """Return the first event of the append made under ``key`` (the one carrying the key)."""
        first = conn.execute(sa.select(*COLUMNS).where(T.c.idempotency_key == key)).first()
        return [] if first is None else [decode_row(first, self.upcasters)]

    @staticmethod
    def _head(conn: sa.Connection) -> Head | None:
        row = conn.execute(
            sa.select(T.c.position, T.c.hash, T.c.recorded_at)
            .order_by(T.c.position.desc()).limit(1)
        ).first()
        if row is None:
            return None
        return Head(row.position, row.hash, utc(row.recorded_at))

    def _decode_all(self, rows: Sequence[Sequence]) -> list[RecordedEvent]:
        """Decode rows of COLUMNS into events (upcasting old payload versions); every read
        decodes here (bench_projections times it)."""
        return decode_rows(rows, self.upcasters)


def writer_lock(engine: Engine) -> AbstractContextManager[Any]:
    """Hold this around any other write transaction on the engine (the read models): SQLite
    has one writer per file, and threads that queue here are woken the moment it is free,
    where its busy handler would have them sleep and poll (PostgreSQL: nothing to hold)."""
    return nullcontext() if is_postgres(engine) else sqlite_writer_lock(engine)
