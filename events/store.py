"""The append-only event store.

Writers are serialised (PostgreSQL: ``LOCK TABLE events IN EXCLUSIVE MODE``; SQLite:
``BEGIN IMMEDIATE``), so each append reads the chain head, numbers its events head+1 ...
and links their hashes while nobody else can. Positions therefore commit in order and
without gaps, which lets a reader poll ``read_all(after=checkpoint)`` and never miss an
event (docs/event-store.md says why a table lock rather than a high-water mark).
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from events.cache import StreamCache
from events.context import current_metadata
from events.encoding import GENESIS_HASH, canonical_json, format_timestamp, hash_encoded
from events.engine import WRITE, is_postgres
from events.errors import ConcurrencyError, IdempotencyKeyReused
from events.model import NewEvent, RecordedEvent
from events.rotation import ROTATION_TYPE
from events.signals import events_committed
from events.signing import Signer, SigningKeyError
from events.tables import events as T
from events.upcasting import Upcasters

_COLUMNS = (
    T.c.position, T.c.stream_id, T.c.stream_version, T.c.type, T.c.schema_version,
    T.c.data, T.c["metadata"], T.c.recorded_at, T.c.hash,
)
# One transaction-scoped advisory lock serialises the store's writers on PostgreSQL. Unlike
# LOCK TABLE ... EXCLUSIVE it needs no UPDATE, DELETE or TRUNCATE privilege, so the app can
# run as a role that may only SELECT and INSERT events (ecrf db grant-app-role).
APPEND_LOCK = "SELECT pg_advisory_xact_lock(4242001)"
_ONE_MICROSECOND = timedelta(microseconds=1)


# Built once: constructing and coercing a select per call costs ~20 us of pure Python.
_INSERT = T.insert()
# Stream version and chain head in ONE statement (one round trip instead of two). The head row
# is missing only when the log is empty, and then no stream exists either (version 0).
_VERSION_AND_HEAD = (
    sa.select(
        sa.select(sa.func.max(T.c.stream_version))
        .where(T.c.stream_id == sa.bindparam("stream_id"))
        .scalar_subquery().label("version"),
        T.c.position, T.c.hash, T.c.recorded_at, T.c.key_id, T.c.type,
    )
    .order_by(T.c.position.desc()).limit(1)
)
_READ_STREAM_AFTER = (sa.select(*_COLUMNS)
                      .where(T.c.stream_id == sa.bindparam("stream_id"),
                             T.c.stream_version > sa.bindparam("after_version"))
                      .order_by(T.c.stream_version))
_READ_ALL_PAGE = (sa.select(*_COLUMNS).where(T.c.position > sa.bindparam("after"))
                  .order_by(T.c.position).limit(sa.bindparam("limit")))
_loads = json.JSONDecoder().decode


@dataclass(frozen=True, slots=True)
class Head:
    """The last event of the log: noted by an inspector to prove later nothing before changed."""

    position: int
    hash: str
    recorded_at: datetime | None


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
        # SQLite admits one writer at a time; threads of this process queue on a lock instead
        # of polling the database's busy handler (which sleeps up to 100 ms between tries).
        self._writer_lock = nullcontext() if self._postgres else _sqlite_writer_lock(engine)
        # Reads are single statements: on PostgreSQL run them in autocommit, which saves the
        # BEGIN and the ROLLBACK round trips around each one.
        self._reader = engine.execution_options(isolation_level="AUTOCOMMIT") if self._postgres \
            else engine

    # -- writing -------------------------------------------------------------------------
    def append(
        self,
        stream_id: str,
        new_events: Sequence[NewEvent],
        *,
        expected_version: int | None,
        idempotency_key: str | None = None,
    ) -> list[RecordedEvent]:
        """Append events to a stream atomically and return them as recorded.

        ``expected_version`` is the stream version the caller decided on (0: the stream must
        not exist yet; None: no check). Raises ConcurrencyError when the stream moved, and
        IdempotencyKeyReused (carrying the first result) when the key was seen before.
        """
        if not new_events:
            raise ValueError("append needs at least one event")
        stamp = current_metadata()
        with self._writer_lock, self.engine.connect().execution_options(**WRITE) as conn, \
                conn.begin():
            if self._postgres:
                conn.exec_driver_sql(APPEND_LOCK)
            if idempotency_key is not None:
                earlier = self._by_idempotency_key(conn, idempotency_key)
                if earlier:
                    raise IdempotencyKeyReused(idempotency_key, earlier)
            found = conn.execute(_VERSION_AND_HEAD, {"stream_id": stream_id}).first()
            if found is None:
                version, head = 0, None
            else:
                version = found.version or 0
                head = Head(found.position, found.hash, _utc(found.recorded_at))
            if expected_version is not None and version != expected_version:
                raise ConcurrencyError(stream_id, expected_version, version)
            if self.signer is not None and found is not None and found.key_id is not None:
                self._check_signer_follows(conn, found)
            recorded, rows = self._number_and_link(stream_id, version, head, new_events, stamp)
            if self.signer is not None:
                sign, key_id = self.signer.sign, self.signer.key_id
                for row in rows:
                    row["signature"], row["key_id"] = sign(row["hash"].encode("ascii")), key_id
            if idempotency_key is not None:
                rows[0]["idempotency_key"] = idempotency_key
            conn.execute(_INSERT, rows)
        events_committed.send(self, events=recorded)
        return recorded

    @staticmethod
    def _number_and_link(
        stream_id: str,
        version: int,
        head: Head | None,
        new_events: Sequence[NewEvent],
        stamp: dict[str, Any],
    ) -> tuple[list[RecordedEvent], list[dict[str, Any]]]:
        """Number, link and encode the events; each payload is encoded to canonical JSON once,
        and that text is both stored and hashed (events.encoding.hash_encoded)."""
        position = head.position if head else 0
        prev_hash = head.hash if head else GENESIS_HASH
        now = datetime.now(UTC)
        if head and head.recorded_at and head.recorded_at >= now:
            # recorded_at never runs backwards along the log, and two appends never share one:
            # the events of one append are those with its recorded_at (receipts rely on it)
            now = head.recorded_at + _ONE_MICROSECOND
        stamp_text = format_timestamp(now)
        stream_text = canonical_json(stream_id)
        recorded, rows = [], []
        meta_cache: tuple[dict[str, Any], str] | None = None
        for offset, new in enumerate(new_events, start=1):
            meta = {**stamp, **new.metadata} if new.metadata else stamp
            if meta_cache is None or meta_cache[0] is not meta:
                meta_cache = (meta, canonical_json(meta))
            meta_text = meta_cache[1]
            data_text = canonical_json(new.data)
            pos, ver, sv = position + offset, version + offset, new.schema_version
            if type(sv) is not int or not isinstance(new.type, str):
                raise TypeError("schema_version must be an int and type a str")
            prev_hash = hash_encoded(prev_hash, pos, stream_text, ver, canonical_json(new.type),
                                     sv, data_text, meta_text, stamp_text)
            recorded.append(RecordedEvent(pos, stream_id, ver, new.type, sv, new.data,
                                          dict(meta), now, prev_hash))
            rows.append({"position": pos, "stream_id": stream_id, "stream_version": ver,
                         "type": new.type, "schema_version": sv, "data": data_text,
                         "metadata": meta_text, "recorded_at": now, "hash": prev_hash,
                         "idempotency_key": None, "signature": None, "key_id": None})
        return recorded, rows

    # -- reading -------------------------------------------------------------------------
    def read_stream(self, stream_id: str, *, up_to_position: int | None = None
                    ) -> list[RecordedEvent]:
        """Return a stream's events in version order, optionally only those up to a position.

        Decoded events are cached per stream; the database is asked only for later versions.
        """
        known = self._cache.known(stream_id)
        with self._reader.connect() as conn:
            rows = conn.execute(_READ_STREAM_AFTER, {"stream_id": stream_id,
                                                     "after_version": len(known)}).all()
        events = self._cache.extend(stream_id, known, self._decode_all(rows)) if rows else known
        if up_to_position is not None:
            return [e for e in events if e.position <= up_to_position]
        return list(events)

    def read_all(self, after: int = 0, limit: int | None = None, *,
                 types: Iterable[str] | None = None) -> list[RecordedEvent]:
        """Return events with a position greater than ``after``, in position order."""
        with self._reader.connect() as conn:
            if types is None and limit is not None:
                rows = conn.execute(_READ_ALL_PAGE, {"after": after, "limit": limit}).all()
            else:
                query = sa.select(*_COLUMNS).where(T.c.position > after)
                if types is not None:
                    query = query.where(T.c.type.in_(list(types)))
                query = query.order_by(T.c.position)
                if limit is not None:
                    query = query.limit(limit)
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

    def _check_signer_follows(self, conn: sa.Connection, head: sa.Row) -> None:
        """Refuse to sign with a key the log no longer expects: the head was signed by another
        key, or a rotation (made by another process, e.g. `ecrf keys rotate` while this server
        ran) retired this one. Signing on would leave events that never verify."""
        expected = head.key_id
        if head.type == ROTATION_TYPE:
            data = conn.execute(sa.select(T.c.data).where(T.c.position == head.position)
                                ).scalar_one()
            try:
                expected = json.loads(data)["new_key_id"]
            except (ValueError, KeyError, TypeError):
                expected = head.key_id
        if expected != self.signer.key_id:  # type: ignore[union-attr]
            raise SigningKeyError(
                f"this server signs with key {self.signer.key_id}, but the log now expects "  # type: ignore[union-attr]
                f"key {expected} (a key rotation?): nothing was recorded; restart the server "
                "with the current key")

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
        with self.engine.connect() as conn:
            return self._stream_version(conn, stream_id)

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
        first = conn.execute(sa.select(*_COLUMNS).where(T.c.idempotency_key == key)).first()
        return [] if first is None else [self._decode(first)]

    @staticmethod
    def _stream_version(conn: sa.Connection, stream_id: str) -> int:
        query = sa.select(sa.func.max(T.c.stream_version)).where(T.c.stream_id == stream_id)
        return conn.execute(query).scalar() or 0

    @staticmethod
    def _head(conn: sa.Connection) -> Head | None:
        row = conn.execute(
            sa.select(T.c.position, T.c.hash, T.c.recorded_at)
            .order_by(T.c.position.desc()).limit(1)
        ).first()
        if row is None:
            return None
        return Head(row.position, row.hash, _utc(row.recorded_at))

    def _decode_all(self, rows: Sequence[sa.Row]) -> list[RecordedEvent]:
        """Decode rows by tuple unpacking: named Row attribute access costs ~0.35 us a field."""
        if self.upcasters:
            return [self._decode(row) for row in rows]
        out = []
        append = out.append
        for (position, stream_id, stream_version, type_, schema_version, data, metadata,
             recorded_at, hash_) in rows:
            append(RecordedEvent(
                position, stream_id, stream_version, type_, schema_version, _loads(data),
                _loads(metadata),
                recorded_at.replace(tzinfo=UTC) if recorded_at.tzinfo is None
                else recorded_at.astimezone(UTC),
                hash_))
        return out

    def _decode(self, row: sa.Row) -> RecordedEvent:
        version, data = row.schema_version, json.loads(row.data)
        if self.upcasters:
            version, data = self.upcasters.upcast(row.type, version, data)
        return RecordedEvent(
            position=row.position,
            stream_id=row.stream_id,
            stream_version=row.stream_version,
            type=row.type,
            schema_version=version,
            data=data,
            metadata=json.loads(row.metadata),
            recorded_at=_utc(row.recorded_at),
            hash=row.hash,
        )


_SQLITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


def _sqlite_writer_lock(engine: Engine) -> threading.Lock:
    """One lock per engine, shared by every store built on it."""
    return _SQLITE_LOCKS.setdefault(engine, threading.Lock())


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored moment is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
