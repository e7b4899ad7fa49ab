"""Engines for the two supported databases, configured for an append-only log.

SQLite: WAL journal, full fsync on commit, and write transactions opened with
``BEGIN IMMEDIATE`` so that writers queue instead of failing on lock upgrade.
PostgreSQL: psycopg 3.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

WRITE = {"sqlite_begin": "IMMEDIATE"}
#: Reads of one statement need no transaction around them (SQLite; PostgreSQL uses AUTOCOMMIT).
SINGLE_READ = {"sqlite_begin": "NONE"}


def normalise_url(url: str) -> str:
    """Route plain ``postgresql://`` URLs to the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


#: Connections the pool keeps: one for each of `ecrf serve`'s request threads (8) reading at
#: once, the writer's kept connection, the read-model worker, and a few to spare. With
#: SQLAlchemy's default of 5, every connection over 5 was closed when handed back and opened
#: again by the next request (under 8 clients, ~35 new PostgreSQL backends a second).
POOL_SIZE = 16
#: Seconds a connection serves before it is replaced (``pool_recycle``; the kept read
#: connections too): a firewall may drop one idle longer without telling either side.
RECYCLE_SECONDS = 3600


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the settings the store relies on."""
    url = normalise_url(url)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", POOL_SIZE)
    if url.startswith("sqlite"):
        connect_args = {"timeout": 30, **kwargs.pop("connect_args", {})}
        engine = sa.create_engine(url, connect_args=connect_args, **kwargs)
        _configure_sqlite(engine)
        return engine
    # No pool_pre_ping: it costs a round trip per checkout. After a server restart the first
    # statement on a stale connection fails, SQLAlchemy then invalidates the whole pool, and
    # the client retries (safely, with its Idempotency-Key).
    engine = sa.create_engine(url, pool_recycle=RECYCLE_SECONDS, **kwargs)
    _configure_postgres(engine)
    return engine


def is_postgres(engine: Engine) -> bool:
    """Tell whether the engine talks to PostgreSQL."""
    return engine.dialect.name == "postgresql"


def _configure_postgres(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        """Every session in UTC, whatever the server's or the URL's default: the store's
        times are UTC, and psycopg then loads them with ``datetime.UTC`` itself, which the
        decoding keeps as is. With a named zone (Debian's default is 'Etc/UTC') each one is
        loaded as that zone and converted again: read_all decoded 12-19% fewer events a
        second so (A/B of 15 interleaved reads of 20,000 events, twice). Instants are the
        same either way; no statement of ours depends on the session's zone."""
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        try:
            dbapi_connection.execute("SET TIME ZONE 'UTC'")
        finally:
            dbapi_connection.autocommit = autocommit


def _configure_sqlite(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode != "NONE":  # NONE: single-statement reads, each its own snapshot
            connection.exec_driver_sql(f"BEGIN {mode}")
