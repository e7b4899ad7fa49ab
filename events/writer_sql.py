"""The writer's statements, in the driver's own parameter style, sent through its cursor."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from events.model import utc
from events.writer_connection import APPEND_LOCK

_FIELDS = ("position", "stream_id", "stream_version", "type", "schema_version", "data",
           "metadata", "recorded_at", "hash", "idempotency_key", "signature", "key_id")
#: the PostgreSQL types of _FIELDS, for the VALUES list of insert_on_head
_CASTS = ("bigint", "varchar", "integer", "varchar", "integer", "text", "text", "timestamptz",
          "varchar", "varchar", "varchar", "varchar")
_SELECTED = ("events.position, events.stream_id, events.stream_version, events.type, "
             "events.schema_version, events.data, events.metadata, events.recorded_at, "
             "events.hash")


_HEAD = "events.position, events.hash, events.recorded_at, events.key_id, events.type"


class WriterSql:
    """The writer's statements in the driver's own parameter style, sent through its cursor:
    SQLAlchemy's statement execution would cost more than SQLite takes to run them."""

    def __init__(self, postgres: bool) -> None:
        self.mark = mark = "%s" if postgres else "?"
        self.head = f"SELECT {_HEAD} FROM events ORDER BY events.position DESC LIMIT 1"
        self.version_and_head = (
            f"SELECT {_HEAD}, (SELECT max(e.stream_version) FROM events AS e "
            f"WHERE e.stream_id = {mark}) FROM events ORDER BY events.position DESC LIMIT 1")
        self.empty_version = f"SELECT max(stream_version) FROM events WHERE stream_id = {mark}"
        self.stream_after = (f"SELECT {_SELECTED} FROM events WHERE events.stream_id = {mark} "
                             f"AND events.stream_version > {mark} "
                             "ORDER BY events.stream_version")
        self.data_at = f"SELECT events.data FROM events WHERE events.position = {mark}"
        self.insert = (f"INSERT INTO events ({', '.join(_FIELDS)}) VALUES "
                       f"({', '.join([mark] * len(_FIELDS))})")
        self.text_times = not postgres

    def insert_on_head(self, rows: int, keys: int, streams: int = 0) -> str:
        """PostgreSQL: one statement that is a whole append in autocommit (events.head_append):
        it takes the writer lock and inserts ``rows`` rows only if the log's head is still
        the event given (its position and hash: a lost tail refilled by another writer is
        not the same head), none of ``keys`` idempotency keys is stored yet, and each of
        ``streams`` streams the writer does not hold is at the version given; else it inserts
        nothing. Parameters: each row's fields, the head's position and hash, the position
        again, the keys, then each such stream's id and version (None for a new one)."""
        row = "(" + ", ".join(f"%s::{cast}" for cast in _CASTS) + ")"
        unused = (" AND NOT EXISTS (SELECT 1 FROM events AS k WHERE k.idempotency_key IN "
                  f"({self.marks(keys)}))") if keys else ""
        unused += (" AND (SELECT max(s.stream_version) FROM events AS s WHERE s.stream_id = %s)"
                   " IS NOT DISTINCT FROM %s") * streams
        return (f"WITH locked AS MATERIALIZED ({APPEND_LOCK}) "
                f"INSERT INTO events ({', '.join(_FIELDS)}) "
                f"SELECT v.* FROM (VALUES {', '.join([row] * rows)}) AS v({', '.join(_FIELDS)}) "
                "WHERE EXISTS (SELECT 1 FROM locked) "
                "AND EXISTS (SELECT 1 FROM events AS h WHERE h.position = %s AND h.hash = %s) "
                "AND NOT EXISTS (SELECT 1 FROM events AS n WHERE n.position > %s)"
                + unused)

    def marks(self, n: int) -> str:
        return ", ".join([self.mark] * n)

    def versions(self, n: int) -> str:
        return (f"SELECT stream_id, max(stream_version) FROM events WHERE stream_id IN "
                f"({self.marks(n)}) GROUP BY stream_id")

    def keys(self, n: int) -> str:
        return (f"SELECT {_SELECTED}, events.idempotency_key FROM events "
                f"WHERE events.idempotency_key IN ({self.marks(n)})")

    def stored_time(self, moment: datetime) -> Any:
        """recorded_at as the column stores it (SQLite: SQLAlchemy's text of the UTC time)."""
        if self.text_times:  # isoformat: the same text as strftime, 2.0 us against 3.1
            return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        return moment

    def read_time(self, value: Any) -> datetime:
        return utc(datetime.fromisoformat(value) if isinstance(value, str) else value)
