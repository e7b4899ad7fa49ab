"""The writer's own database connection and the shape of its transaction.

The store has one writer at a time (events.group_commit), so it keeps one connection for it
instead of borrowing one from SQLAlchemy's pool for every commit (checkout, reset and
checkin cost ~40 us of Python, a tenth of a whole SQLite append). The connection is given
back when the engine is disposed (``engine.dispose()``: tests, the CLI), replaced when the
driver reports it closed (a server restart, an idle timeout) and renewed after an hour, as
the pool's ``pool_recycle`` would.

One transaction, through the driver's cursor: SQLite ``BEGIN IMMEDIATE``; PostgreSQL
``BEGIN`` and the advisory lock sent as one simple query (one round trip instead of
psycopg's implicit BEGIN and then the lock). The head is read by the next statement, which
under READ COMMITTED takes its snapshot once the lock is held, so it sees every append
committed before (tests/contract/test_event_store.py checks it with four stores).

Tried and left out: reading the head in that same simple query (as ``EXECUTE`` of a prepared
statement with the stream id as a literal). It saved ~60 us a transaction in isolation
(bare psycopg, 217 against 281 us), but nothing measurable in the store's appends against
PostgreSQL's run-to-run noise, so it was not worth the quoting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

#: One transaction-scoped advisory lock serialises the store's writers on PostgreSQL. Unlike
#: LOCK TABLE ... EXCLUSIVE it needs no UPDATE, DELETE or TRUNCATE privilege, so the app can
#: run as a role that may only SELECT and INSERT events (ecrf db grant-app-role).
APPEND_LOCK = "SELECT pg_advisory_xact_lock(4242001)"

RECYCLE_SECONDS = 3600.0


class WriterConnection:
    """One pooled connection kept for the writer between its commits."""

    def __init__(self, engine: Engine, postgres: bool) -> None:
        self.engine, self.postgres = engine, postgres
        self._fairy: Any = None
        self._since = 0.0
        self._guard = threading.Lock()  # dispose() may come from another thread
        sa.event.listen(engine, "engine_disposed", self._on_dispose)

    def _on_dispose(self, _engine: Engine) -> None:
        # close it now: a connection given back to a disposed pool would stay open until
        # that pool is garbage collected (and keep a PostgreSQL database from being dropped)
        self.release(close=True)

    def release(self, *, close: bool = False) -> None:
        """Give the connection back to the pool, or close it; the next commit takes another."""
        with self._guard:
            fairy, self._fairy = self._fairy, None
        if fairy is not None:
            if close:
                fairy.invalidate()
            else:
                fairy.close()

    def _connection(self) -> Any:
        with self._guard:
            fairy = self._fairy
            if fairy is not None and (
                    getattr(fairy.driver_connection, "closed", False)
                    or time.monotonic() - self._since > RECYCLE_SECONDS):
                self._fairy = None
                fairy.invalidate()
                fairy = None
            if fairy is None:
                fairy = self.engine.raw_connection()
                self._fairy, self._since = fairy, time.monotonic()
            return fairy

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A write transaction holding the writer's lock; yields the driver's cursor.
        Committed when the block ends, rolled back when it raises; a connection whose
        transaction failed is given up."""
        cursor, driver = self._begin()
        try:
            yield cursor
            driver.commit()  # both drivers commit an open transaction in autocommit mode
        except BaseException:
            try:
                driver.rollback()
            finally:
                self._done(cursor, driver)
                self.release()  # a connection that failed is not kept
            raise
        self._done(cursor, driver)

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
                cursor.execute(f"BEGIN; {APPEND_LOCK}" if self.postgres else "BEGIN IMMEDIATE")
            except BaseException:
                lost = self.postgres and driver.closed
                self._done(cursor, driver)
                self.release(close=True)
                if lost and attempt == 1:
                    continue
                raise
            return cursor, driver
        raise AssertionError("unreachable")  # pragma: no cover

    def _done(self, cursor: Any, driver: Any) -> None:
        cursor.close()
        if self.postgres and not driver.closed:
            driver.autocommit = False  # as the pool lent it
