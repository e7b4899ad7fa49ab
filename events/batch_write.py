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
from events.engine import WRITE
from events.errors import ConcurrencyError, IdempotencyKeyReused
from events.group_commit import PendingAppend
from events.model import ONE_MICROSECOND, Head, NewEvent, RecordedEvent, utc
from events.reading import COLUMNS, READ_STREAM_AFTER, decode_row, decode_rows
from events.rotation import ROTATION_TYPE
from events.signing import SigningKeyError
from events.tables import events as T

if TYPE_CHECKING:
    from events.store import EventStore

# One transaction-scoped advisory lock serialises the store's writers on PostgreSQL. Unlike
# LOCK TABLE ... EXCLUSIVE it needs no UPDATE, DELETE or TRUNCATE privilege, so the app can
# run as a role that may only SELECT and INSERT events (ecrf db grant-app-role).
APPEND_LOCK = "SELECT pg_advisory_xact_lock(4242001)"

_INSERT = T.insert()
_HEAD = (sa.select(T.c.position, T.c.hash, T.c.recorded_at, T.c.key_id, T.c.type)
         .order_by(T.c.position.desc()).limit(1))
# Stream version and chain head in ONE statement, for the usual batch of one append. The head
# row is missing only when the log is empty, and then no stream exists either (version 0).
_VERSION_AND_HEAD = (
    sa.select(
        sa.select(sa.func.max(T.c.stream_version))
        .where(T.c.stream_id == sa.bindparam("stream_id"))
        .scalar_subquery().label("version"),
        T.c.position, T.c.hash, T.c.recorded_at, T.c.key_id, T.c.type,
    )
    .order_by(T.c.position.desc()).limit(1)
)
_VERSIONS = (sa.select(T.c.stream_id, sa.func.max(T.c.stream_version))
             .where(T.c.stream_id.in_(sa.bindparam("ids", expanding=True)))
             .group_by(T.c.stream_id))


class BatchWriter:
    """Commits batches for one store (events.group_commit calls ``commit``)."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def commit(self, batch: list[PendingAppend]) -> None:
        """Decide and commit a batch; if the database refuses the batch as a whole, commit its
        appends one by one so that one bad append cannot fail the others."""
        try:
            committed = self._commit(batch)
        except sa.exc.DBAPIError:
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
        store = self.store
        answers: list[tuple[PendingAppend, list[RecordedEvent] | None, Exception | None]] = []
        with store._writer_lock, store.engine.connect().execution_options(**WRITE) as conn, \
                conn.begin():
            if store._postgres:
                conn.exec_driver_sql(APPEND_LOCK)
            head, versions = self._state(conn, batch)
            earlier = self._earlier_keys(conn, batch)
            rows: list[dict[str, Any]] = []
            pending_events: dict[str, list[RecordedEvent]] = {}
            for pending in batch:
                try:
                    recorded, new_rows = self._decide(conn, pending, head, versions, earlier,
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
                conn.execute(_INSERT, rows)
        accepted = []
        for pending, recorded, refusal in answers:
            if recorded is not None:
                pending.succeed(recorded)
                accepted.append(pending)
            else:
                assert refusal is not None
                pending.fail(refusal)
        return accepted

    def _state(self, conn: sa.Connection, batch: list[PendingAppend]
               ) -> tuple[Head | None, dict[str, int]]:
        """The chain head and the version of every stream the batch appends to; refuses the
        whole batch (SigningKeyError) when this server's key is not the one the log expects."""
        streams = sorted({p.stream_id for p in batch})
        if len(streams) == 1:
            found = conn.execute(_VERSION_AND_HEAD, {"stream_id": streams[0]}).first()
            versions = {streams[0]: (found.version or 0) if found is not None else 0}
        else:
            found = conn.execute(_HEAD).first()
            versions = dict(conn.execute(_VERSIONS, {"ids": streams}).all()) if found else {}
        if found is None:
            return None, versions
        if self.store.signer is not None and found.key_id is not None:
            self._check_signer_follows(conn, found)
        return _head_row(found), versions

    def _earlier_keys(self, conn: sa.Connection, batch: list[PendingAppend]
                      ) -> dict[str, list[RecordedEvent]]:
        keys = [p.idempotency_key for p in batch if p.idempotency_key is not None]
        if not keys:
            return {}
        found = conn.execute(sa.select(*COLUMNS, T.c.idempotency_key)
                             .where(T.c.idempotency_key.in_(keys))).all()
        return {row.idempotency_key: [decode_row(row, self.store.upcasters)] for row in found}

    def _decide(self, conn: sa.Connection, pending: PendingAppend, head: Head | None,
                versions: dict[str, int], earlier: dict[str, list[RecordedEvent]],
                pending_events: dict[str, list[RecordedEvent]]
                ) -> tuple[list[RecordedEvent], list[dict[str, Any]]]:
        key = pending.idempotency_key
        if key is not None and key in earlier:
            raise IdempotencyKeyReused(key, earlier[key])
        stream_id = pending.stream_id
        version = versions.get(stream_id, 0)
        new_events = pending.new_events
        if pending.expected_version is not None and version != pending.expected_version:
            if pending.rebase is None:
                raise ConcurrencyError(stream_id, pending.expected_version, version)
            now = self._stream_now(conn, stream_id, pending_events.get(stream_id, []))
            new_events = list(pending.rebase(now))
            if not new_events:
                raise ValueError("a rebase must give at least one event")
        recorded, rows = number_and_link(stream_id, version, head, new_events, pending.stamp)
        signer = self.store.signer
        if signer is not None:
            sign, key_id = signer.sign, signer.key_id
            for row in rows:
                row["signature"], row["key_id"] = sign(row["hash"].encode("ascii")), key_id
        if key is not None:
            rows[0]["idempotency_key"] = key
        return recorded, rows

    def _stream_now(self, conn: sa.Connection, stream_id: str,
                    in_batch: list[RecordedEvent]) -> list[RecordedEvent]:
        """The stream as it stands inside this transaction: what the cache holds, what the
        database has after that, and what earlier appends of this batch add."""
        held = list(self.store._cache.get(stream_id) or ())
        rows = conn.execute(READ_STREAM_AFTER, {"stream_id": stream_id,
                                                "after_version": len(held)}).all()
        return held + decode_rows(rows, self.store.upcasters) + in_batch

    def _check_signer_follows(self, conn: sa.Connection, head: sa.Row) -> None:
        """Refuse to sign with a key the log no longer expects: the head was signed by another
        key, or a rotation (made by another process, e.g. `ecrf keys rotate` while this server
        ran) retired this one. Signing on would leave events that never verify."""
        signer = self.store.signer
        assert signer is not None
        expected = head.key_id
        if head.type == ROTATION_TYPE:
            data = conn.execute(sa.select(T.c.data).where(T.c.position == head.position)
                                ).scalar_one()
            try:
                expected = json.loads(data)["new_key_id"]
            except (ValueError, KeyError, TypeError):
                expected = head.key_id
        if expected != signer.key_id:
            raise SigningKeyError(
                f"this server signs with key {signer.key_id}, but the log now expects "
                f"key {expected} (a key rotation?): nothing was recorded; restart the server "
                "with the current key")


def number_and_link(stream_id: str, version: int, head: Head | None,
                    new_events: Sequence[NewEvent], stamp: dict[str, Any]
                    ) -> tuple[list[RecordedEvent], list[dict[str, Any]]]:
    """Number, link and encode the events; each payload is encoded to canonical JSON once,
    and that text is both stored and hashed (events.encoding.hash_encoded)."""
    position = head.position if head else 0
    prev_hash = head.hash if head else GENESIS_HASH
    now = datetime.now(UTC)
    if head and head.recorded_at and head.recorded_at >= now:
        # recorded_at never runs backwards along the log, and two appends never share one:
        # the events of one append are those with its recorded_at (receipts rely on it)
        now = head.recorded_at + ONE_MICROSECOND
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


def _head_row(found: sa.Row) -> Head:
    return Head(found.position, found.hash, utc(found.recorded_at))


def _head_of(event: RecordedEvent) -> Head:
    return Head(event.position, event.hash, event.recorded_at)

