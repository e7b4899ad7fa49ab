"""Writing one batch of appends in one transaction: the store's only write path.

Inside the writer lock each append is decided in queue order against the log as it stands,
including the appends before it in the same batch: its idempotency key, its expected version
(or, when it brought a rebase, its events decided again on the stream as it now is), then its
events are numbered, linked into the chain and signed after the previous append's. One INSERT
and one COMMIT then hold them all. An append that is refused gets its own error and leaves no
row; the chain simply continues from the last accepted one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from events.encoding import GENESIS_HASH, canonical_json, format_timestamp, hash_encoded
from events.errors import ConcurrencyError, IdempotencyKeyReused, StaleRead
from events.group_commit import PendingAppend
from events.model import ONE_MICROSECOND, Head, NewEvent, RecordedEvent, utc
from events.reading import decode_row, loads
from events.rotation import ROTATION_TYPE
from events.signing import SigningKeyError
from events.writer_connection import APPEND_LOCK, writer_connection

__all__ = ["APPEND_LOCK", "BatchWriter", "WriterSql", "number_and_link"]

if TYPE_CHECKING:
    from events.store import EventStore


_FIELDS = ("position", "stream_id", "stream_version", "type", "schema_version", "data",
           "metadata", "recorded_at", "hash", "idempotency_key", "signature", "key_id")
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


class BatchWriter:
    """Commits batches for one store (events.group_commit calls ``commit``)."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.sql = WriterSql(store._postgres)
        self._driver_error = store.engine.dialect.loaded_dbapi.Error
        self._log_head = 0  # the head when the current batch took the lock
        self.connection = writer_connection(store.engine, store._postgres)

    def commit(self, batch: list[PendingAppend]) -> None:
        """Decide and commit a batch; if the database refuses the batch as a whole, commit its
        appends one by one so that one bad append cannot fail the others."""
        try:
            committed = self._commit(batch)
        except (sa.exc.DBAPIError, self._driver_error):
            if len(batch) == 1:
                raise
            for pending in batch:
                pending.result = pending.error = None
                try:
                    self._publish(self._commit([pending]))
                except BaseException as error:  # this append only; the others go on
                    pending.fail(error)
            return
        self._publish(committed)

    def _publish(self, committed: list[PendingAppend]) -> None:
        if committed:
            self.store._committed(committed)

    def _commit(self, batch: list[PendingAppend]) -> list[PendingAppend]:
        """One transaction for the batch; returns the appends it accepted, in log order.

        Answers (events or refusals) are handed out only once the transaction committed: if
        it fails, no append of the batch has an answer and the caller fails them all.
        """
        answers: list[tuple[PendingAppend, list[RecordedEvent] | None, Exception | None]] = []
        with self.connection.transaction() as cursor:
            head, versions = self._state(cursor, batch)
            self._log_head = head.position if head else 0
            earlier = self._earlier_keys(cursor, batch)
            rows: list[tuple] = []
            pending_events: dict[str, list[RecordedEvent]] = {}
            for pending in batch:
                try:
                    recorded, new_rows = self._decide(cursor, pending, head, versions, earlier,
                                                      pending_events)
                except Exception as refusal:  # this append is refused; the batch goes on
                    answers.append((pending, None, refusal))
                    continue
                answers.append((pending, recorded, None))
                rows += new_rows
                last = recorded[-1]
                head = _head_of(last)
                versions[pending.stream_id] = last.stream_version
                pending_events.setdefault(pending.stream_id, []).extend(recorded)
                if pending.idempotency_key is not None:
                    earlier[pending.idempotency_key] = [recorded[0]]
            if rows:
                self.insert_rows(cursor, rows)
        accepted = []
        for pending, recorded, refusal in answers:
            if recorded is not None:
                pending.succeed(recorded)
                accepted.append(pending)
            else:
                assert refusal is not None
                pending.fail(refusal)
        return accepted

    def insert_rows(self, cursor: Any, rows: list[tuple]) -> None:
        """Insert the accepted rows (one statement; tests replace it to fail a commit)."""
        if len(rows) == 1:  # psycopg's executemany runs a pipeline: ~0.1 ms more for one row
            cursor.execute(self.sql.insert, rows[0])
        else:
            cursor.executemany(self.sql.insert, rows)

    def _state(self, cursor: Any, batch: list[PendingAppend]
               ) -> tuple[Head | None, dict[str, int]]:
        """The chain head and the version of every stream the batch appends to; refuses the
        whole batch (SigningKeyError) when this server's key is not the one the log expects."""
        streams = sorted({p.stream_id for p in batch})
        if len(streams) == 1:
            cursor.execute(self.sql.version_and_head, (streams[0],))
            found = cursor.fetchone()
            versions = {streams[0]: (found[5] or 0) if found is not None else 0}
        else:
            cursor.execute(self.sql.head)
            found = cursor.fetchone()
            versions = {}
            if found is not None:
                cursor.execute(self.sql.versions(len(streams)), tuple(streams))
                versions = dict(cursor.fetchall())
        depends = sorted({s for p in batch for s in p.depends} - set(streams))
        if depends:
            versions.update(self._versions_of(cursor, depends, found[0] if found else 0))
        if found is None:
            return None, versions
        position, hash_, recorded_at, key_id, type_ = found[:5]
        if self.store.signer is not None and key_id is not None:
            self._check_signer_follows(cursor, position, key_id, type_)
        return Head(position, hash_, self.sql.read_time(recorded_at)), versions

    def _versions_of(self, cursor: Any, streams: list[str], head: int) -> dict[str, int]:
        """Stream versions from the cache when it knows the log up to the locked head (the
        trial stream always is), else from the database."""
        cache = self.store._cache
        complete = cache.seen >= head  # read before the streams: seen only grows
        found, missing = {}, []
        for stream_id in streams:
            held = cache.get(stream_id) if complete else None
            if held is None:
                missing.append(stream_id)
            else:
                found[stream_id] = len(held)
        if missing:
            cursor.execute(self.sql.versions(len(missing)), tuple(missing))
            found.update(dict(cursor.fetchall()))
        return found

    def _earlier_keys(self, cursor: Any, batch: list[PendingAppend]
                      ) -> dict[str, list[RecordedEvent]]:
        keys = [p.idempotency_key for p in batch if p.idempotency_key is not None]
        if not keys:
            return {}
        cursor.execute(self.sql.keys(len(keys)), tuple(keys))
        return {row[9]: [self._decoded(row)] for row in cursor.fetchall()}

    def _decoded(self, row: tuple) -> RecordedEvent:
        return decode_row((*row[:7], self.sql.read_time(row[7]), row[8]), self.store.upcasters)

    def _decide(self, cursor: Any, pending: PendingAppend, head: Head | None,
                versions: dict[str, int], earlier: dict[str, list[RecordedEvent]],
                pending_events: dict[str, list[RecordedEvent]]
                ) -> tuple[list[RecordedEvent], list[tuple]]:
        key = pending.idempotency_key
        if key is not None and key in earlier:
            raise IdempotencyKeyReused(key, earlier[key])
        for other, read in pending.depends.items():
            if versions.get(other, 0) != read:
                raise StaleRead(other, read, versions.get(other, 0))
        stream_id = pending.stream_id
        version = versions.get(stream_id, 0)
        new_events = pending.new_events
        if pending.expected_version is not None and version != pending.expected_version:
            if pending.rebase is None:
                raise ConcurrencyError(stream_id, pending.expected_version, version)
            now = self._stream_now(cursor, stream_id, pending_events.get(stream_id, []))
            new_events = list(pending.rebase(now))
            if not new_events:
                raise ValueError("a rebase must give at least one event")
        if any(e.type == ROTATION_TYPE for e in new_events[:-1]):
            # only an append's last event is signed, and a verifier follows a rotation
            # through that signature: a rotation inside an append would never be followed
            raise ValueError("a key rotation must be the last event of its append")
        recorded, texts = number_and_link(stream_id, version, head, new_events, pending.stamp)
        stored_time = self.sql.stored_time(recorded[0].recorded_at)
        rows = [[e.position, stream_id, e.stream_version, e.type, e.schema_version, data,
                 meta, stored_time, e.hash, None, None, None]
                for e, (data, meta) in zip(recorded, texts, strict=True)]
        rows[0][9] = key  # the idempotency key is stored on the append's first event
        # One signature per append, on its last event: through the chain it covers the
        # append's earlier events (events.coverage), which are stored without one.
        signer = self.store.signer
        if signer is not None:
            rows[-1][10:12] = signer.sign(recorded[-1].hash.encode("ascii")), signer.key_id
        return recorded, [tuple(row) for row in rows]

    def _stream_now(self, cursor: Any, stream_id: str,
                    in_batch: list[RecordedEvent]) -> list[RecordedEvent]:
        """The stream as it stands inside this transaction: what the cache holds, what the
        database has after that, and what earlier appends of this batch add."""
        cache = self.store._cache
        complete = cache.seen >= self._log_head  # read before the stream: seen only grows
        held = cache.get(stream_id)
        if held is not None and complete:
            return [*held, *in_batch]  # the cache knows the log up to the locked head
        known = list(held or ())
        cursor.execute(self.sql.stream_after, (stream_id, len(known)))
        return known + [self._decoded(row) for row in cursor.fetchall()] + in_batch

    def _check_signer_follows(self, cursor: Any, position: int, key_id: str, type_: str
                              ) -> None:
        """Refuse to sign with a key the log no longer expects: the head was signed by another
        key, or a rotation (made by another process, e.g. `ecrf keys rotate` while this server
        ran) retired this one. Signing on would leave events that never verify."""
        signer = self.store.signer
        assert signer is not None
        expected = key_id
        if type_ == ROTATION_TYPE:
            cursor.execute(self.sql.data_at, (position,))
            try:
                expected = json.loads(cursor.fetchone()[0])["new_key_id"]
            except (ValueError, KeyError, TypeError):
                expected = key_id
        if expected != signer.key_id:
            raise SigningKeyError(
                f"this server signs with key {signer.key_id}, but the log now expects "
                f"key {expected} (a key rotation?): nothing was recorded; restart the server "
                "with the current key")


_TYPE_TEXTS: dict[str, str] = {}  # an event type's canonical JSON, encoded once


def number_and_link(stream_id: str, version: int, head: Head | None,
                    new_events: Sequence[NewEvent], stamp: dict[str, Any]
                    ) -> tuple[list[RecordedEvent], list[tuple[str, str]]]:
    """Number, link and encode the events: the recorded events, and the stored texts of each
    one's payload and metadata. Each payload is encoded to canonical JSON once, and that
    text is both stored and hashed (events.encoding.hash_encoded)."""
    position = head.position if head else 0
    prev_hash = head.hash if head else GENESIS_HASH
    now = datetime.now(UTC)
    if head and head.recorded_at and head.recorded_at >= now:
        # recorded_at never runs backwards along the log, and two appends never share one:
        # the events of one append are those with its recorded_at (receipts rely on it)
        now = head.recorded_at + ONE_MICROSECOND
    stamp_text = format_timestamp(now)
    stream_text = canonical_json(stream_id)
    recorded, texts = [], []
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
        type_text = _TYPE_TEXTS.get(new.type)
        if type_text is None:
            type_text = canonical_json(new.type)
            if len(_TYPE_TEXTS) < 1000:  # event types are the code's own: a few dozen
                _TYPE_TEXTS[new.type] = type_text
        prev_hash = hash_encoded(prev_hash, pos, stream_text, ver, type_text, sv, data_text,
                                 meta_text, stamp_text)
        # the event as a read will give it: decoded from the stored text (key order, types),
        # so an answer never depends on whether it came from the cache or the database
        recorded.append(RecordedEvent(pos, stream_id, ver, new.type, sv, loads(data_text),
                                      loads(meta_text), now, prev_hash))
        texts.append((data_text, meta_text))
    return recorded, texts


def _head_of(event: RecordedEvent) -> Head:
    return Head(event.position, event.hash, event.recorded_at)

