"""The writer's own database connection and the shape of its transaction.

Writers are serialised anyway (PostgreSQL: the advisory lock; SQLite: one writer), so each
engine keeps ONE connection for the writers of all its stores instead of borrowing one from
SQLAlchemy's pool for every commit (checkout, reset and checkin cost ~95 us of a SQLite
append, measured). Stores of one engine take turns on it; an engine never holds more than
one. The connection is closed when the engine is disposed (at once when idle, else when the
commit in progress ends), replaced when the driver reports it closed (a server restart, an
idle timeout), renewed after the pool's ``pool_recycle``, handed back to the pool after a
failed transaction, and never touched by a forked child (which would write on the parent's
socket).

One transaction, through the driver's cursor: SQLite ``BEGIN IMMEDIATE``; PostgreSQL
``BEGIN ISOLATION LEVEL READ COMMITTED`` and the advisory lock sent as one simple query (one
round trip instead of psycopg's implicit BEGIN and then the lock). The head is read by the
next statement, which under READ COMMITTED takes its snapshot once the lock is held, so it
sees every append committed before (tests/contract/test_event_store.py checks it with four
stores); the isolation level is explicit so that a server whose default is REPEATABLE READ
cannot take the snapshot before the lock.

Tried and left out: reading the head in that same simple query (as ``EXECUTE`` of a prepared
statement with the stream id as a literal). It saved ~60 us a transaction in isolation
(bare psycopg, 217 against 281 us), but nothing measurable in the store's appends against
PostgreSQL's run-to-run noise, so it was not worth the quoting.
"""

from __future__ import annotations

import os
import select
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from events.model import Head

#: One transaction-scoped advisory lock serialises the store's writers on PostgreSQL. Unlike
#: LOCK TABLE ... EXCLUSIVE it needs no UPDATE, DELETE or TRUNCATE privilege, so the app can
#: run as a role that may only SELECT and INSERT events (ecrf db grant-app-role).
APPEND_LOCK = "SELECT pg_advisory_xact_lock(4242001)"

BEGIN_POSTGRES = f"BEGIN ISOLATION LEVEL READ COMMITTED; {APPEND_LOCK}"

#: The log head as this engine's writers last committed it (or read it under the lock): the
#: head, the key that signed it, its type. Not trusted, only a guess checked by the statement
#: that uses it (events.batch_write, the one-statement append).
KnownHead = tuple[Head, str | None, str]


class NotCommitted(Exception):
    """The one statement certainly did not commit (see ``WriterConnection.run_alone``)."""


class OutcomeUnknown(Exception):
    """The one statement's reply was lost: it may have committed, or may still (the server
    runs on until it notices the client is gone). ``backend`` is the server process that ran
    it, to end before looking for its rows."""

    def __init__(self, backend: int, error: BaseException) -> None:
        super().__init__(f"the connection broke before the server answered: {error}")
        self.backend = backend


def _readable(driver: Any) -> bool:
    """Whether anything arrived on an idle connection (a healthy one has nothing to read):
    polled without waiting, so a session the server ended, or a dropped connection, is seen
    before anything is sent on it."""
    try:
        poller = select.poll()
        poller.register(driver.pgconn.socket, select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    except Exception:  # no socket to poll: as good as closed
        return True


_SQLITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_BY_ENGINE: weakref.WeakKeyDictionary[Engine, WriterConnection] = weakref.WeakKeyDictionary()
_BY_ENGINE_LOCK = threading.Lock()
_SQLITE_LOCKS_LOCK = threading.Lock()
#: connections a forked child inherited: kept referenced, never closed, so that the child
#: cannot send libpq's Terminate on the socket its parent still uses
_INHERITED: list[Any] = []


def sqlite_writer_lock(engine: Engine) -> threading.Lock:
    """SQLite admits one writer per file: every writer of this process on the engine (the
    store's, the read models') holds this lock, so threads queue on it instead of polling
    the database's busy handler (which sleeps up to 100 ms between tries)."""
    with _SQLITE_LOCKS_LOCK:
        return _SQLITE_LOCKS.setdefault(engine, threading.Lock())


def writer_connection(engine: Engine, postgres: bool) -> WriterConnection:
    """The one writer connection of ``engine``, shared by every store on it."""
    with _BY_ENGINE_LOCK:
        found = _BY_ENGINE.get(engine)
        if found is None:
            found = _BY_ENGINE[engine] = WriterConnection(engine, postgres)
        return found


def _on_dispose(ref: weakref.ref[WriterConnection]) -> Any:
    def listener(_engine: Engine) -> None:
        writer = ref()
        if writer is not None:
            writer.dispose()
    return listener


class WriterConnection:
    """One pooled connection kept for an engine's writers between their commits."""

    def __init__(self, engine: Engine, postgres: bool) -> None:
        self._engine = weakref.ref(engine)  # the engine owns this (through _BY_ENGINE)
        self.postgres = postgres
        recycle = getattr(engine.pool, "_recycle", -1)
        self._recycle = recycle if isinstance(recycle, int | float) and recycle > 0 else None
        self._fairy: Any = None
        self._since = 0.0
        self._pid = os.getpid()
        self._in_use = False
        self._close_after_use = False
        self._guard = threading.Lock()  # the fields above; dispose() may come from anywhere
        self.head: KnownHead | None = None  # read and set only within a turn
        # one transaction at a time, whichever store: on SQLite the engine's writer lock
        # itself, which the read models' writes hold too
        self._turn = threading.Lock() if postgres else sqlite_writer_lock(engine)
        sa.event.listen(engine, "engine_disposed", _on_dispose(weakref.ref(self)))

    def dispose(self) -> None:
        """The engine was disposed: close the connection now, or when its commit ends."""
        with self._guard:
            if self._in_use:
                self._close_after_use = True
                return
        self.release(close=True)

    def release(self, *, close: bool = False) -> None:
        """Give the connection back to the pool, or close it; the next commit takes another."""
        with self._guard:
            fairy, self._fairy = self._fairy, None
            self._close_after_use = False
            inherited = self._pid != os.getpid()
        if fairy is None:
            return
        if inherited:
            _INHERITED.append(fairy)
        elif close:
            fairy.invalidate()
        else:
            fairy.close()

    def _connection(self) -> Any:
        with self._guard:
            fairy = self._fairy
            if fairy is not None and self._pid != os.getpid():  # a forked child
                _INHERITED.append(fairy)
                fairy = self._fairy = None
            if fairy is not None and (
                    getattr(fairy.driver_connection, "closed", False)
                    or (self._recycle is not None
                        and time.monotonic() - self._since > self._recycle)):
                self._fairy = None
                fairy.invalidate()
                fairy = None
            if fairy is None:
                engine = self._engine()
                if engine is None:  # pragma: no cover - the engine owns this object
                    raise RuntimeError("the engine of this writer is gone")
                fairy = engine.raw_connection()
                self._fairy, self._since, self._pid = fairy, time.monotonic(), os.getpid()
            return fairy

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the writers' turn (one transaction at a time, whichever store)."""
        with self._turn:
            with self._guard:
                self._in_use = True
            try:
                yield
            finally:
                with self._guard:
                    self._in_use = False
                    close = self._close_after_use
                if close:
                    self.release(close=True)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A write transaction holding the writer's lock; yields the driver's cursor.
        Committed when the block ends, rolled back when it raises; a connection whose
        transaction failed is handed back to the pool."""
        with self.turn():
            cursor, driver = self._begin()
            try:
                yield cursor
                driver.commit()  # both drivers commit an open transaction in autocommit
            except BaseException:
                self.head = None  # whatever the block noted did not commit
                self._abandon(cursor, driver)
                raise
            self._done(cursor, driver)

    def run_alone(self, sql: str, params: Sequence[Any]) -> int:
        """PostgreSQL, within a ``turn``: run one statement as its own transaction (autocommit:
        committed, its WAL flushed, when it returns) and return its row count.

        Raises ``NotCommitted`` when the statement certainly did not commit:
        - the kept connection was closed, or something arrived on it while it was idle (the
          server's FATAL before it ended the session, or the end of the stream: a restart, an
          idle timeout, a terminated backend, a dropped connection), seen without a round trip
          before anything is sent;
        - the server answered with an error (an SQLSTATE outside class 08): in autocommit the
          statement was rolled back (a unique violation, a serialization failure, a lock
          timeout, a cancel).
        Raises ``OutcomeUnknown`` when the reply was lost (the connection broke while the
        statement was sent or running): it may have committed, or may still. Either way the
        connection goes back to the pool."""
        driver = self._connection().driver_connection
        if driver.closed or _readable(driver):
            self.head = None
            self.release(close=True)
            raise NotCommitted("the writer's kept connection was closed while idle")
        driver.autocommit = True
        backend = driver.info.backend_pid
        cursor = driver.cursor()
        try:
            cursor.execute(sql, params)
            count = cursor.rowcount
        except BaseException as error:
            self.head = None
            self._abandon(cursor, driver)
            sqlstate = getattr(error, "sqlstate", None)
            if sqlstate is not None and not sqlstate.startswith("08"):
                raise NotCommitted(f"{type(error).__name__}: {error}") from error
            if isinstance(error, Exception) and hasattr(error, "sqlstate"):
                raise OutcomeUnknown(backend, error) from error  # a driver error, no answer
            raise
        self._done(cursor, driver)
        return count

    def _begin(self) -> tuple[Any, Any]:
        """Open the transaction. A kept PostgreSQL connection the server has closed meanwhile
        (a restart, an idle timeout, a terminated backend) fails at BEGIN, before anything
        was written: the writer then begins once more on a fresh connection."""
        for attempt in (1, 2):
            driver = self._connection().driver_connection
            if self.postgres:
                driver.autocommit = True  # no implicit BEGIN: ours goes with the lock
            cursor = driver.cursor()
            try:
                cursor.execute(BEGIN_POSTGRES if self.postgres else "BEGIN IMMEDIATE")
            except BaseException:
                lost = self.postgres and driver.closed
                self._abandon(cursor, driver)
                if lost and attempt == 1:
                    continue
                raise
            return cursor, driver
        raise AssertionError("unreachable")  # pragma: no cover

    def _abandon(self, cursor: Any, driver: Any) -> None:
        """After a failure: roll back what is open (BEGIN may have run and the lock failed:
        a lock_timeout, a cancel), then give the connection up, whatever fails meanwhile."""
        try:
            driver.rollback()  # both drivers roll back an open transaction in autocommit
        except Exception:  # the original error is the one raised
            pass
        finally:
            try:
                self._done(cursor, driver)
            except Exception:  # e.g. a broken connection
                pass
            finally:
                self.release(close=bool(getattr(driver, "closed", False)))

    def _done(self, cursor: Any, driver: Any) -> None:
        cursor.close()
        if self.postgres and not driver.closed:
            driver.autocommit = False  # as the pool lent it
