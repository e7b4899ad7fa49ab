"""The floor of the event-store benchmark: the same rows stored by the database driver alone.

``BareDriver`` writes each event as one row (stream, version, type, payload and metadata as
JSON text, a time, a 64-character hash field) with the same durability as the two stores
(SQLite: WAL, synchronous=FULL, BEGIN IMMEDIATE; PostgreSQL: the server's defaults, one
commit per append), and does nothing else: no version check, no chain head, no hashing, no
signature, no cache. No event store can append faster than this on the machine of the run,
so ``bare / peer`` is the best ratio any store could reach against the peer there: when a
target ratio is above it, the target cannot be met on that machine, whatever the store does.

``BareDriver(chained=True)`` adds only what a hash-chained, signed log cannot do without:
inside the write transaction it reads the chain head and the stream's version (one SELECT),
hashes each row with SHA-256 after the previous hash, and signs the last hash with Ed25519
(``cryptography``, as ours). No version check is enforced, nothing is decoded back, no cache
or signal: the floor of any store that keeps our guarantees, written with the driver alone.
bench_event_store.py runs both interleaved with the two stores, in the same turns.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HASH_TEXT = "0" * 64  # the width of a SHA-256 hex digest, never computed

_TABLE = ("CREATE TABLE events (position {pk}, stream_id TEXT NOT NULL, "
          "stream_version INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, "
          "metadata TEXT NOT NULL, recorded_at {time} NOT NULL, hash TEXT NOT NULL, "
          "UNIQUE (stream_id, stream_version))")
_COLUMNS = "stream_id, stream_version, type, data, metadata, recorded_at, hash"


class BareDriver:
    """One connection per thread (the concurrent appends use eight), opened on first use."""

    PLAIN, CHAINED = "bare driver", "bare driver, chained and signed"

    def __init__(self, *, sqlite_path: Path | None = None, pg_dsn: str | None = None,
                 schema: str | None = None, cleanup: Callable[[], None],
                 event_type: str, metadata: dict[str, Any], chained: bool = False) -> None:
        self.name = self.CHAINED if chained else self.PLAIN
        self.durability = ""
        self._chained = chained
        self._key = Ed25519PrivateKey.generate() if chained else None
        self._sqlite_path, self._pg_dsn, self._schema = sqlite_path, pg_dsn, schema
        self._cleanup, self._type, self._metadata = cleanup, event_type, metadata
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self._postgres = pg_dsn is not None
        mark = "%s" if self._postgres else "?"
        self._insert = f"INSERT INTO events ({_COLUMNS}) VALUES ({', '.join([mark] * 7)})"
        self._page = (f"SELECT position, stream_id, stream_version, type, data, metadata, "
                      f"recorded_at, hash FROM events WHERE position > {mark} "
                      f"ORDER BY position LIMIT {mark}")
        self._stream = (f"SELECT position, data, metadata FROM events WHERE stream_id = {mark} "
                        "ORDER BY stream_version")
        self._head = ("SELECT position, hash, (SELECT max(stream_version) FROM events "
                      f"WHERE stream_id = {mark}) FROM events ORDER BY position DESC LIMIT 1")
        conn = self._conn()
        if self._postgres:
            conn.execute(_TABLE.format(pk="BIGSERIAL PRIMARY KEY", time="TIMESTAMPTZ"))
            conn.commit()
        else:
            conn.execute(_TABLE.format(pk="INTEGER PRIMARY KEY", time="TEXT"))

    # -- connections ------------------------------------------------------------------------
    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._postgres:
                conn = psycopg.connect(f"{self._pg_dsn} options='-c search_path={self._schema}'",
                                       autocommit=self._chained)
            else:
                conn = sqlite3.connect(self._sqlite_path, isolation_level=None, timeout=30,
                                       check_same_thread=False)
                conn.execute("PRAGMA journal_mode=wal")
                conn.execute("PRAGMA synchronous=FULL")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def settings(self) -> list[Any]:
        """The durability settings in force on this side's connection (read, not assumed)."""
        conn = self._conn()
        if self._postgres:
            names = ("synchronous_commit", "fsync", "wal_sync_method")
            values = [conn.execute(f"SHOW {n}").fetchone()[0] for n in names]
            conn.rollback()
            return [f"{n}={v}" for n, v in zip(names, values, strict=True)]
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
        sync = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[
            conn.execute("PRAGMA synchronous").fetchone()[0]]
        return [f"journal_mode={journal}", f"synchronous={sync}"]

    # -- the workload -------------------------------------------------------------------------
    def _rows(self, stream: str, first_version: int, payloads: list[dict[str, Any]],
              request_id: str) -> list[tuple]:
        meta = json.dumps({**self._metadata, "request_id": request_id})
        now = datetime.now(UTC)
        moment = now if self._postgres else now.isoformat()
        return [(stream, first_version + i, self._type, json.dumps(p), meta, moment, HASH_TEXT)
                for i, p in enumerate(payloads)]

    def _link(self, cursor: Any, rows: list[tuple]) -> list[tuple]:
        """Read the head inside the transaction, chain the rows' hashes after it, sign the
        last one (the signature is computed, as ours; this table has no column for it)."""
        cursor.execute(self._head, (rows[0][0],))
        found = cursor.fetchone()
        prev = found[1] if found else HASH_TEXT
        linked = []
        for row in rows:
            prev = hashlib.sha256(f"{prev}{row[0]}{row[1]}{row[3]}{row[4]}{row[5]}".encode()
                                  ).hexdigest()
            linked.append((*row[:6], prev))
        assert self._key is not None
        self._key.sign(prev.encode("ascii"))
        return linked

    def _write(self, rows: list[tuple]) -> None:
        conn = self._conn()
        if self._postgres:
            with conn.cursor() as cursor:
                if self._chained:  # BEGIN and a lock of its own in one round trip, as ours
                    cursor.execute("BEGIN; SELECT pg_advisory_xact_lock(4242002)")
                    rows = self._link(cursor, rows)
                if len(rows) == 1:
                    cursor.execute(self._insert, rows[0])
                else:
                    cursor.executemany(self._insert, rows)
            conn.commit()
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            if self._chained:
                rows = self._link(conn.cursor(), rows)
            conn.executemany(self._insert, rows)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def append_one(self, stream: str, version: int, payload: dict[str, Any],
                   request_id: str) -> None:
        self._write(self._rows(stream, version + 1, [payload], request_id))

    def append_batch(self, stream: str, payloads: list[dict[str, Any]],
                     request_id: str) -> None:
        self._write(self._rows(stream, 1, payloads, request_id))

    def read_all(self) -> int:
        conn, after, seen = self._conn(), 0, 0
        while True:
            page = conn.execute(self._page, (after, 1000)).fetchall()
            decoded = [(json.loads(row[4]), json.loads(row[5])) for row in page]
            seen += len(decoded)
            if self._postgres:
                conn.rollback()
            if len(page) < 1000:
                return seen
            after = page[-1][0]

    def load(self, stream: str) -> int:
        conn = self._conn()
        rows = conn.execute(self._stream, (stream,)).fetchall()
        if self._postgres:
            conn.rollback()
        return len([(json.loads(row[1]), json.loads(row[2])) for row in rows])

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._cleanup()
