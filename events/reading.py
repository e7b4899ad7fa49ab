"""The statements that read events and the one decoding of a row into a RecordedEvent."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from events.data_version import DataVersionProbe
from events.engine import RECYCLE_SECONDS
from events.model import RecordedEvent, utc
from events.tables import events as T
from events.upcasting import Upcasters

COLUMNS = (
    T.c.position, T.c.stream_id, T.c.stream_version, T.c.type, T.c.schema_version,
    T.c.data, T.c["metadata"], T.c.recorded_at, T.c.hash,
)
_fast = msgspec.json.Decoder().decode
_exact = json.JSONDecoder().decode


def loads(text: str) -> Any:
    """Decode one stored JSON text exactly as ``json.loads`` would.

    msgspec reads the store's payloads two to three times as fast as the standard library
    (measured on 20,000 platelet-count rows, 40,000 texts: 27-53 ms against 88-162), with
    integers of any size kept
    exact (orjson reads those beyond 64 bits as floats, so it cannot be used). What msgspec
    refuses and ``json.loads`` reads (NaN, 1e400, an escaped lone surrogate: never written
    by the store, but a row written by hand may hold them) goes to the standard library, so
    every text reads as before (tests/unit/test_stored_json.py).
    """
    try:
        return _fast(text)
    except msgspec.DecodeError:
        return _exact(text)


def decode_rows(rows: Sequence[Sequence], upcasters: Upcasters | None = None
                ) -> list[RecordedEvent]:
    """Decode rows of COLUMNS in one loop of tuple unpacking (named Row attribute access costs
    ~0.35 us a field); SQLite's times come as text, PostgreSQL's as aware datetimes."""
    if upcasters:
        return [decode_row(row, upcasters) for row in rows]
    out = []
    append = out.append
    parse = datetime.fromisoformat
    for (position, stream_id, stream_version, type_, schema_version, data, metadata,
         recorded_at, hash_, *_rest) in rows:
        if recorded_at.__class__ is str:
            recorded_at = parse(recorded_at)
        append(RecordedEvent(
            position, stream_id, stream_version, type_, schema_version, loads(data),
            loads(metadata),
            recorded_at if recorded_at.tzinfo is UTC
            else recorded_at.replace(tzinfo=UTC) if recorded_at.tzinfo is None
            else recorded_at.astimezone(UTC),
            hash_))
    return out


def decode_row(row: Sequence, upcasters: Upcasters | None = None) -> RecordedEvent:
    """Decode one row (its first nine columns are COLUMNS), upcasting old payload versions."""
    position, stream_id, stream_version, type_, version, data, metadata, recorded_at, hash_ = \
        row[:9]
    data = loads(data)
    if upcasters:
        version, data = upcasters.upcast(type_, version, data)
    if isinstance(recorded_at, str):
        recorded_at = datetime.fromisoformat(recorded_at)
    return RecordedEvent(position, stream_id, stream_version, type_, version, data,
                         loads(metadata), utc(recorded_at), hash_)


class RawReads:
    """The reads on every request's path (the log after a position, one stream, the head),
    sent through the driver's own cursor on driver connections kept for them: SQLAlchemy's
    statement execution costs ~100 us a call in pure Python, more than SQLite takes to answer
    them, and a pool checkout and checkin (with its reset) was half of the freshness query
    that every request makes (py-spy, in process).

    The connections are made by the engine's pool (its ``connect`` listeners run: SQLite's
    pragmas, PostgreSQL's UTC session) and, where the pool is a QueuePool (the engines'
    default: a SQLite file, PostgreSQL), detached from it. They only read: PostgreSQL's are
    in autocommit (a SELECT opens no transaction), SQLite's run each SELECT as its own
    snapshot. A thread takes one from the idle ones (or a new one) for each read and gives it
    back (at most ``keep`` stay idle, none older than ``recycle`` seconds, as the pool's
    ``pool_recycle``). They are closed when the engine is disposed (one in use then, when it
    comes back) or this object is collected, never in a forked child (they belong to the
    parent's sessions). With another pool (NullPool, an in-memory SQLite's single
    connection) each read takes a pooled connection and hands it back, as the pool means."""

    def __init__(self, engine: Engine, keep: int = 16, recycle: float = RECYCLE_SECONDS
                 ) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        self.keep, self.recycle = keep, recycle
        self.detach = isinstance(engine.pool, sa.pool.QueuePool)
        mark = "%s" if self.postgres else "?"
        select = ("SELECT events.position, events.stream_id, events.stream_version, "
                  "events.type, events.schema_version, events.data, events.metadata, "
                  "events.recorded_at, events.hash FROM events")
        self.after = f"{select} WHERE events.position > {mark} ORDER BY events.position " \
                     f"LIMIT {mark}"
        self.stream = f"{select} WHERE events.stream_id = {mark} " \
                      "ORDER BY events.stream_version"
        self.head = "SELECT max(events.position) FROM events"
        self._idle: list[tuple[Any, float]] = []  # (driver connection, made at: monotonic)
        self._generation = 0  # one more at each dispose: older connections are closed
        self._pid = os.getpid()
        self._closed = weakref.finalize(self, _close_idle, self._idle, self._pid)
        self._probe: DataVersionProbe | None = None
        self._probing = self.detach and not self.postgres  # a SQLite file
        self._making_probe = threading.Lock()
        owner = weakref.ref(self)
        sa.event.listen(engine, "engine_disposed",
                        lambda _engine: (kept := owner()) is not None and kept.close_idle())

    def data_version(self) -> tuple[int, int] | None:
        """SQLite's ``PRAGMA data_version`` of the log's file with its probe connection's epoch,
        asked without giving up the GIL (events.data_version): the same pair means nothing
        was committed in between. None where it cannot be asked so (PostgreSQL, a database
        in memory, another driver) or not now (the database cannot be reached)."""
        probe = self._probe
        if probe is None:
            if not self._probing:
                return None
            with self._making_probe:  # one probe per store
                probe = self._probe
                if probe is None:
                    try:
                        probe = DataVersionProbe.for_engine(self.engine)
                    except sa.exc.DBAPIError:
                        return None  # asked again at the next read
                    if probe is None:
                        self._probing = False
                        return None
                    self._probe = probe
        return probe.version()

    def query(self, sql: str, params: tuple) -> list[tuple]:
        """Run one read and return its rows as the driver gives them (SQLite: times as text;
        decode_rows parses them).

        A connection the server dropped while it sat idle (restart, idle timeout) is closed
        and the read runs again on the next: after a restart every idle connection is dead,
        so it may go through each of them (at most those idle here and in the engine's pool
        when it began, and one new one). A read changes nothing, so the request answers
        instead of failing. Any other error (a statement timeout, a cancel) is the read's
        answer: raised at once, the connection kept."""
        if self._pid != os.getpid():  # a forked child: the idle ones are the parent's
            self._idle, self._pid = [], os.getpid()
        pool = self.engine.pool
        attempts = len(self._idle) + (pool.checkedin() if hasattr(pool, "checkedin") else 0) + 1
        for attempt in range(1, attempts + 1):
            generation = self._generation
            conn, made, pooled = self._take()
            cursor = None
            try:
                cursor = conn.cursor()
                cursor.execute(sql, params)
                rows = cursor.fetchall()
                cursor.close()
            except self.engine.dialect.loaded_dbapi.Error as error:
                # asked before closing: psycopg's dialect calls any closed connection dropped
                dropped = self.engine.dialect.is_disconnect(error, conn, cursor)
                if dropped:
                    self._discard(conn, pooled, error)
                else:
                    self._give_back(conn, made, pooled, generation)
                if attempt == attempts or not dropped:
                    raise
                continue
            except BaseException as error:
                self._discard(conn, pooled, error)
                raise
            self._give_back(conn, made, pooled, generation)
            return rows
        raise AssertionError("unreachable")  # pragma: no cover

    def _take(self) -> tuple[Any, float, Any]:
        """(driver connection, when it was made, its pool handle where it stays pooled)."""
        while self.detach and self._idle:
            try:
                conn, made = self._idle.pop()
            except IndexError:  # another thread took the last one
                break
            if time.monotonic() - made < self.recycle:
                return conn, made, None
            _close_quietly(conn)
        pooled = self.engine.raw_connection()
        conn = pooled.dbapi_connection
        try:
            if self.postgres:
                conn.autocommit = True
        except BaseException as error:
            pooled.invalidate(error)
            raise
        if not self.detach:
            return conn, 0.0, pooled
        pooled.detach()  # ours from now on: the pool makes another in its place
        return conn, time.monotonic(), None

    def _give_back(self, conn: Any, made: float, pooled: Any, generation: int) -> None:
        if pooled is not None:  # the pool's: autocommit off again for its reset on return
            try:
                if self.postgres and pooled.is_valid:
                    conn.autocommit = False
            except Exception as error:
                pooled.invalidate(error)
            pooled.close()
        elif generation == self._generation and len(self._idle) < self.keep \
                and self._closed.alive:
            self._idle.append((conn, made))
        else:
            _close_quietly(conn)

    def _discard(self, conn: Any, pooled: Any, error: BaseException) -> None:
        if pooled is not None:
            pooled.invalidate(error if isinstance(error, Exception) else None)
            pooled.close()
        else:
            _close_quietly(conn)

    def close_idle(self) -> None:
        """Close the idle connections (``engine.dispose()`` calls this) and, as each comes
        back, those in use now; reads open new ones."""
        self._generation += 1
        if self._pid == os.getpid():
            _close_idle(self._idle, self._pid)
        if self._probe is not None:
            self._probe.close()


def _close_idle(idle: list[tuple[Any, float]], pid: int) -> None:
    if pid == os.getpid():
        while idle:
            try:
                conn, _made = idle.pop()
            except IndexError:  # taken meanwhile
                return
            _close_quietly(conn)


def _close_quietly(conn: Any) -> None:
    with contextlib.suppress(Exception):  # one that fails to close is gone all the same
        conn.close()
