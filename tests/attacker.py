"""An attacker with write access to the database, but not the signing key.

The one deliberate bypass of the append-only guard in the suite: on SQLite the triggers are
dropped inside the test's own database file; on PostgreSQL a superuser session sets
``session_replication_role = replica`` (what issue #10 found: triggers off, no DDL). The
attacker knows the documented encoding, so every hash it writes is correct.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from events.encoding import GENESIS_HASH, canonical_json, event_hash
from events.model import utc as _utc
from events.signing import Signer
from events.tables import events as T


class Attacker:
    def __init__(self, engine: Engine, db_kind: str) -> None:
        self.engine, self.db_kind = engine, db_kind

    @contextmanager
    def unguarded(self) -> Iterator[sa.Connection]:
        with self.engine.begin() as conn:
            if self.db_kind == "postgresql":
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            else:
                conn.exec_driver_sql("DROP TRIGGER IF EXISTS events_refuse_update")
                conn.exec_driver_sql("DROP TRIGGER IF EXISTS events_refuse_delete")
            yield conn

    def rows(self, conn: sa.Connection) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in conn.execute(sa.select(T).order_by(T.c.position))]

    def rehash_from(self, conn: sa.Connection, rows: list[dict[str, Any]], start: int) -> None:
        """Recompute every hash from index ``start`` on and write the rows back."""
        prev = rows[start - 1]["hash"] if start else GENESIS_HASH
        for row in rows[start:]:
            row["hash"] = event_hash(
                prev, position=row["position"], stream_id=row["stream_id"],
                stream_version=row["stream_version"], type=row["type"],
                schema_version=row["schema_version"], data=json.loads(row["data"]),
                metadata=json.loads(row["metadata"]), recorded_at=_utc(row["recorded_at"]))
            prev = row["hash"]
        conn.execute(T.delete().where(T.c.position >= rows[start]["position"]))
        conn.execute(T.insert(), [{**r, "recorded_at": _utc(r["recorded_at"])}
                                  for r in rows[start:]])

    # -- the attacks of issue #10 -------------------------------------------------------------
    def change_value(self, position: int, change: dict[str, Any]) -> None:
        """Change an event's payload and recompute every later hash."""
        with self.unguarded() as conn:
            rows = self.rows(conn)
            index = position - 1
            data = json.loads(rows[index]["data"])
            data.update(change)
            rows[index]["data"] = canonical_json(data)
            self.rehash_from(conn, rows, index)

    def delete_last(self, count: int) -> None:
        with self.unguarded() as conn:
            head = conn.execute(sa.select(sa.func.max(T.c.position))).scalar()
            conn.execute(T.delete().where(T.c.position > head - count))

    def insert_forged(self, stream_id: str, type_: str, data: dict[str, Any],
                      key: Signer | None = None, *, same_append: bool = False) -> int:
        """Append a forged event with a correct hash, signed by the attacker's own key (or
        carrying the last event's signature); ``same_append`` gives it the last event's
        recorded_at and no signature, as if it belonged to the last append."""
        with self.unguarded() as conn:
            rows = self.rows(conn)
            last = rows[-1]
            version = max([r["stream_version"] for r in rows if r["stream_id"] == stream_id],
                          default=0) + 1
            row = {**last, "position": last["position"] + 1, "stream_id": stream_id,
                   "stream_version": version, "type": type_, "data": canonical_json(data),
                   "recorded_at": _utc(last["recorded_at"]) + (
                       timedelta(0) if same_append else timedelta(seconds=1)),
                   "idempotency_key": None,
                   **({"signature": None, "key_id": None} if same_append else {})}
            rows.append(row)
            self.rehash_from(conn, rows, len(rows) - 1)
            if key is not None:
                conn.execute(T.update().where(T.c.position == row["position"]).values(
                    signature=key.sign(rows[-1]["hash"].encode()), key_id=key.key_id))
            return row["position"]

    def insert_inside(self, position: int, data: dict[str, Any]) -> None:
        """Insert an unsigned event after ``position`` in the same append (same stream, same
        recorded_at), renumber what follows and recompute every later hash."""
        with self.unguarded() as conn:
            rows = self.rows(conn)
            before = rows[position - 1]
            forged = {**before, "position": position + 1,
                      "stream_version": before["stream_version"] + 1,
                      "data": canonical_json(data), "idempotency_key": None,
                      "signature": None, "key_id": None}
            for row in rows[position:]:
                row["position"] += 1
                if row["stream_id"] == before["stream_id"]:
                    row["stream_version"] += 1
            rows.insert(position, forged)
            self.rehash_from(conn, rows, position)

    def insert_row(self, row: dict[str, Any]) -> None:
        """Store one raw row as given (any position, even below 1)."""
        with self.unguarded() as conn:
            conn.execute(T.insert(), [row])

    def delete_and_renumber(self, position: int, backdate: timedelta) -> None:
        """Remove an event, close the gap (positions and stream versions) and backdate the
        later events so the times look plausible."""
        with self.unguarded() as conn:
            rows = self.rows(conn)
            gone = rows.pop(position - 1)
            for row in rows[position - 1:]:
                row["position"] -= 1
                if row["stream_id"] == gone["stream_id"]:
                    row["stream_version"] -= 1
                row["recorded_at"] = _utc(row["recorded_at"]) - backdate
            conn.execute(T.delete().where(T.c.position >= position))
            self.rehash_from(conn, rows, position - 1)

    def set_column(self, position: int, column: str, value: Any) -> None:
        """Write a raw value (NaN, a wrong type, NULL) into one column of one row."""
        with self.unguarded() as conn:
            if self.db_kind == "sqlite":
                conn.exec_driver_sql(f"UPDATE events SET {column} = ? WHERE position = ?",
                                     (value, position))
            else:
                conn.execute(sa.text(f"UPDATE events SET {column} = :v WHERE position = :p"),
                             {"v": value, "p": position})
