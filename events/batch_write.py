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
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from events.errors import ConcurrencyError, IdempotencyKeyReused, StaleRead
from events.group_commit import PendingAppend
from events.linking import number_and_link
from events.model import Head, RecordedEvent
from events.reading import decode_row
from events.rotation import ROTATION_TYPE
from events.signing import SigningKeyError
from events.writer_connection import (
    APPEND_LOCK,
    KnownHead,
    NotCommitted,
    OutcomeUnknown,
    writer_connection,
)
from events.writer_sql import WriterSql

__all__ = ["APPEND_LOCK", "BatchWriter", "WriterSql", "number_and_link"]

#: The most rows the one-statement append sends. A larger batch saves little by it (its round
#: trips are a small part of it), and a 50-row INSERT ... SELECT FROM VALUES with casts ran
#: slower than psycopg's pipelined executemany: 1.26x the peer against 1.52x, measured.
ONE_STATEMENT_ROWS = 16

#: How long to wait for the server process of a statement whose reply was lost to end.
SETTLE_SECONDS = 10.0

#: one append's answer: its events once committed, or why it was refused
Answer = tuple[PendingAppend, list[RecordedEvent] | None, Exception | None]

if TYPE_CHECKING:
    from events.store import EventStore


class BatchWriter:
    """Commits batches for one store (events.group_commit calls ``commit``)."""

    #: PostgreSQL: try the one-statement append first (``_commit_on_known_head``); off, every
    #: batch takes the transaction (tests that act between its INSERT and COMMIT turn it off)
    one_statement = True

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.sql = WriterSql(store._postgres)
        self._driver_error = store.engine.dialect.loaded_dbapi.Error
        #: batches committed in one statement, and batches that tried and went the long way
        self.counts = {"one_statement": 0, "long_way": 0}
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
        if self.store._postgres and self.one_statement:
            accepted = self._commit_on_known_head(batch)
            if accepted is not None:
                self.counts["one_statement"] += 1
                return accepted
        connection = self.connection
        with connection.transaction() as cursor:  # a failed commit forgets connection.head
            connection.head = None
            head, versions = self._state(cursor, batch)
            self._log_head = head[0].position if head else 0
            earlier = self._earlier_keys(cursor, batch)
            answers, rows, head = self._decide_all(cursor, batch, head, versions, earlier)
            if rows:
                self.insert_rows(cursor, rows)
            connection.head = head
        return _hand_out(answers)

    def _commit_on_known_head(self, batch: list[PendingAppend]) -> list[PendingAppend] | None:
        """PostgreSQL: commit the batch in ONE round trip, or return None to go the long way.

        The writers of this engine know the head they last committed (``connection.head``)
        and the stream cache knows the streams up to it. If both still hold, the batch is
        decided on them and sent as one autocommit statement that takes the writer lock and
        inserts only if the head has not moved and no idempotency key is stored yet
        (WriterSql.insert_on_head); else it inserts nothing. Only a batch whose every append
        is accepted goes this way: a refusal is always decided on what the database holds.
        Measured with bare psycopg: 0.35 ms an append against 1.1 ms for BEGIN and lock,
        head read, INSERT, COMMIT (four round trips).
        """
        if sum(len(p.new_events) for p in batch) > ONE_STATEMENT_ROWS:
            return None  # before any work: a rebase may give more events, which is harmless
        connection = self.connection
        with connection.turn():
            known = connection.head
            signer = self.store.signer
            if known is None or known[2] == ROTATION_TYPE or (
                    signer is not None and known[1] is not None and known[1] != signer.key_id):
                return None  # a rotation or another key: the long way checks the signer
            found = self._cached_versions(batch, known[0].position)
            if found is None:
                return None
            versions, unheld = found
            self._log_head = known[0].position
            answers, rows, head = self._decide_all(None, batch, known, versions, {})
            if not rows or any(recorded is None for _, recorded, _ in answers):
                return None
            keys = [p.idempotency_key for p in batch if p.idempotency_key is not None]
            connection.head = None  # known again only if this commits
            last = head[0] if head else known[0]
            try:
                inserted = self.insert_on_head(
                    self.sql.insert_on_head(len(rows), len(keys), len(unheld)),
                    [*(v for row in rows for v in row),
                     known[0].position, known[0].hash, known[0].position, *keys,
                     *(v for stream_id, version in unheld.items()
                       for v in (stream_id, version or None))])
            except NotCommitted:
                self.counts["long_way"] += 1
                return None  # another writer came first, a closed connection, an error the
                # server answered: the long way decides again on what the database holds
            except OutcomeUnknown as lost:
                if not self._committed_after_all(lost, last):
                    self.counts["long_way"] += 1
                    return None  # it never committed and never will: the long way is safe
                inserted = len(rows)
            if inserted == 0:
                self.counts["long_way"] += 1
                return None  # the head moved (another process), or a key is stored
            if inserted != len(rows):  # pragma: no cover - one statement: all or nothing
                raise RuntimeError(f"{inserted} of {len(rows)} rows inserted")
            connection.head = head
        return _hand_out(answers)

    def _committed_after_all(self, lost: OutcomeUnknown, last: Head) -> bool:
        """After a lost reply: end the server process that ran the statement (waiting until
        it is gone, so it cannot commit later), then look for the statement's last row.
        Raises ``lost`` when that cannot be settled: the batch then fails as a whole and is
        not retried, since retrying could record it twice."""
        try:
            with self.store.engine.connect() as conn:
                driver = conn.connection.driver_connection
                driver.autocommit = True  # each look a fresh snapshot (pg_stat_activity too)
                try:
                    driver.execute("SELECT pg_terminate_backend(%s)", (lost.backend,))
                    deadline = time.monotonic() + SETTLE_SECONDS
                    while driver.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s",
                                         (lost.backend,)).fetchone():
                        if time.monotonic() > deadline:
                            raise lost
                        time.sleep(0.01)
                    found = driver.execute("SELECT hash FROM events WHERE position = %s",
                                           (last.position,)).fetchone()
                finally:
                    if not driver.closed:
                        driver.autocommit = False  # as the pool lent it
        except OutcomeUnknown:
            raise
        except Exception as error:
            raise lost from error
        return found is not None and found[0] == last.hash

    def insert_rows(self, cursor: Any, rows: list[tuple]) -> None:
        """Insert the accepted rows (one statement; tests replace it to fail a commit)."""
        if len(rows) == 1:  # psycopg's executemany runs a pipeline: ~0.1 ms more for one row
            cursor.execute(self.sql.insert, rows[0])
        else:
            cursor.executemany(self.sql.insert, rows)

    def insert_on_head(self, sql: str, params: list[Any]) -> int:
        """Run the one-statement append (tests replace it to fail a commit)."""
        return self.connection.run_alone(sql, params)

    def _cached_versions(self, batch: list[PendingAppend], head: int
                         ) -> tuple[dict[str, int], dict[str, int]] | None:
        """The version of every stream the batch appends to or depends on, if the stream
        cache knows the log exactly up to ``head``: from the cache where it holds the stream;
        else, for a stream appended to with an expected version, that version, which the
        statement then checks (the second dict); else None (the long way)."""
        cache = self.store._cache
        if cache.seen != head:
            return None
        versions, unheld = {}, {}
        expected = {p.stream_id: p.expected_version for p in batch}
        for stream_id in {s for p in batch for s in (p.stream_id, *p.depends)}:
            held = cache.get(stream_id)
            if held is not None:
                versions[stream_id] = len(held)
            elif expected.get(stream_id) is not None and all(
                    p.expected_version is not None for p in batch if p.stream_id == stream_id):
                versions[stream_id] = unheld[stream_id] = expected[stream_id]
            else:
                return None
        return (versions, unheld) if cache.seen == head else None

    def _decide_all(self, cursor: Any, batch: list[PendingAppend], head: KnownHead | None,
                    versions: dict[str, int], earlier: dict[str, list[RecordedEvent]]
                    ) -> tuple[list[Answer], list[tuple], KnownHead | None]:
        """Decide the appends in queue order, each after the ones before it: the answers, the
        rows to insert, and the head after them."""
        answers: list[Answer] = []
        rows: list[tuple] = []
        pending_events: dict[str, list[RecordedEvent]] = {}
        signer = self.store.signer
        for pending in batch:
            try:
                recorded, new_rows = self._decide(cursor, pending, head[0] if head else None,
                                                  versions, earlier, pending_events)
            except Exception as refusal:  # this append is refused; the batch goes on
                answers.append((pending, None, refusal))
                continue
            answers.append((pending, recorded, None))
            rows += new_rows
            last = recorded[-1]
            head = (_head_of(last), signer.key_id if signer else None, last.type)
            versions[pending.stream_id] = last.stream_version
            pending_events.setdefault(pending.stream_id, []).extend(recorded)
            if pending.idempotency_key is not None:
                earlier[pending.idempotency_key] = [recorded[0]]
        return answers, rows, head

    def _state(self, cursor: Any, batch: list[PendingAppend]
               ) -> tuple[KnownHead | None, dict[str, int]]:
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
        return (Head(position, hash_, self.sql.read_time(recorded_at)), key_id, type_), versions

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


def _hand_out(answers: list[Answer]) -> list[PendingAppend]:
    """Give each append its answer (once its transaction committed); return the accepted."""
    accepted = []
    for pending, recorded, refusal in answers:
        if recorded is not None:
            pending.succeed(recorded)
            accepted.append(pending)
        else:
            assert refusal is not None
            pending.fail(refusal)
    return accepted


def _head_of(event: RecordedEvent) -> Head:
    return Head(event.position, event.hash, event.recorded_at)

