"""The statements that read events and the one decoding of a row into a RecordedEvent."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from events.model import RecordedEvent, utc
from events.tables import events as T
from events.upcasting import Upcasters

COLUMNS = (
    T.c.position, T.c.stream_id, T.c.stream_version, T.c.type, T.c.schema_version,
    T.c.data, T.c["metadata"], T.c.recorded_at, T.c.hash,
)
#: Decoding stored JSON: the standard library's C scanner. orjson was measured beside it on
#: the store's payloads (20,000 rows of ~300-byte texts) and was slower, 271 ms against 212,
#: since it must first encode each str to UTF-8; it also reads integers beyond 64 bits as
#: floats. So it does not pay here.
loads = json.JSONDecoder().decode


def decode_rows(rows: Sequence[sa.Row], upcasters: Upcasters | None = None
                ) -> list[RecordedEvent]:
    """Decode rows by tuple unpacking: named Row attribute access costs ~0.35 us a field."""
    if upcasters:
        return [decode_row(row, upcasters) for row in rows]
    out = []
    append = out.append
    for (position, stream_id, stream_version, type_, schema_version, data, metadata,
         recorded_at, hash_, *_rest) in rows:
        append(RecordedEvent(
            position, stream_id, stream_version, type_, schema_version, loads(data),
            loads(metadata),
            recorded_at.replace(tzinfo=UTC) if recorded_at.tzinfo is None
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
    return RecordedEvent(position, stream_id, stream_version, type_, version, data,
                         loads(metadata), utc(recorded_at), hash_)


class RawReads:
    """The two reads on every request's path (the log after a position, one stream), sent
    through the driver's own cursor: SQLAlchemy's statement execution costs ~100 us a call
    in pure Python, more than SQLite takes to answer them."""

    def __init__(self, postgres: bool) -> None:
        mark = "%s" if postgres else "?"
        select = ("SELECT events.position, events.stream_id, events.stream_version, "
                  "events.type, events.schema_version, events.data, events.metadata, "
                  "events.recorded_at, events.hash FROM events")
        self.after = f"{select} WHERE events.position > {mark} ORDER BY events.position " \
                     f"LIMIT {mark}"
        self.stream = f"{select} WHERE events.stream_id = {mark} " \
                      "ORDER BY events.stream_version"
        self.head = "SELECT max(events.position) FROM events"
        self._text_times = not postgres  # SQLite keeps DateTime as text

    def rows(self, conn: sa.Connection, sql: str, params: tuple) -> list[tuple]:
        """Run one statement on the connection's driver cursor; times come back as UTC."""
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        finally:
            cursor.close()
        if self._text_times and rows and len(rows[0]) > 7 and isinstance(rows[0][7], str):
            parse = datetime.fromisoformat
            rows = [(*row[:7], parse(row[7]), *row[8:]) for row in rows]
        return rows
