"""The one-statement append (PostgreSQL, events/batch_write.py `_commit_on_known_head`): when
the writer knows the head and the streams, a batch is one autocommit statement that takes the
writer lock and inserts only if the head has not moved and no key is stored yet. Whatever
moved, it inserts nothing and the batch goes the long way; the log stays gapless, chained and
signed, and nothing is recorded twice. On SQLite every batch takes the transaction."""

from __future__ import annotations

import os
import socket
import threading

import pytest
import sqlalchemy as sa
from msgspec import structs

from events import EventStore, NewEvent, make_engine, verify_chain
from events.errors import ConcurrencyError, IdempotencyKeyReused
from events.group_commit import PendingAppend
from tests.attacker import Attacker
from tests.batching import HeldCommit, holding_the_writer_lock, in_thread, wait_until


def _one(n: int = 1, **data) -> list[NewEvent]:
    return [NewEvent("PlateletCountRecorded", {"platelets": 40 + i, **data}) for i in range(n)]


def _counts(store) -> dict[str, int]:
    return dict(store._writer.counts)


def _keys(signer) -> dict:
    return {signer.key_id: signer.public_key}


def _lock_waiters(engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).scalars())


def _writer_pid(store) -> int | None:
    """The server process of the writer's kept connection (None between two)."""
    fairy = store._writer.connection._fairy
    return None if fairy is None else fairy.driver_connection.info.backend_pid


def _ready(store, stream: str = "S-1") -> None:
    """A first append (the long way: nothing known yet) and the stream held by the cache, as
    a command's read of the casebook holds it."""
    store.append(stream, _one(), expected_version=0)
    store.read_stream(stream)


def test_appends_of_one_process_take_one_statement_each(store, db_kind, signer):
    _ready(store)
    store.read_stream("S-2")
    before = _counts(store)
    for version in range(1, 11):
        store.append("S-1", _one(2), expected_version=version * 2 - 1)
    store.append("S-2", _one(), expected_version=0)
    made = _counts(store)["one_statement"] - before["one_statement"]
    assert made == (11 if db_kind == "postgresql" else 0)
    assert _counts(store)["long_way"] == before["long_way"]
    assert [e.position for e in store.read_all()] == list(range(1, 23))
    assert verify_chain(store.engine, public_keys=_keys(signer)).ok


def test_an_append_by_another_process_sends_the_next_one_the_long_way(
        store, database_url, db_kind, signer):
    url, connect_args = database_url
    _ready(store)
    other_engine = make_engine(url, connect_args=connect_args)
    other = EventStore(other_engine, signer=signer)
    try:
        other.append("S-9", _one(), expected_version=0)  # moves the head behind our back
        before = _counts(store)
        recorded = store.append("S-1", _one(), expected_version=1)
        assert recorded[0].position == 3
        if db_kind == "postgresql":  # the statement ran, inserted nothing, and then the
            assert _counts(store)["long_way"] == before["long_way"] + 1  # long way
        again = store.append("S-1", _one(), expected_version=2)
        assert again[0].position == 4
        assert [e.position for e in store.read_all()] == [1, 2, 3, 4]
        assert verify_chain(store.engine, public_keys=_keys(signer)).ok
    finally:
        other_engine.dispose()


def test_a_stale_expected_version_is_refused_the_long_way_and_leaves_no_row(store):
    _ready(store)
    with pytest.raises(ConcurrencyError):
        store.append("S-1", _one(), expected_version=0)
    assert store.count() == 1
    assert store.append("S-1", _one(), expected_version=1)[0].position == 2


def test_a_stored_idempotency_key_is_answered_the_long_way(store, db_kind):
    _ready(store)
    first = store.append("S-1", _one(), expected_version=1, idempotency_key="k-1")
    before = _counts(store)
    with pytest.raises(IdempotencyKeyReused) as refused:
        store.append("S-1", _one(), expected_version=2, idempotency_key="k-1")
    assert refused.value.events == first
    assert store.count() == 2
    if db_kind == "postgresql":  # the key was only found by the statement's guard
        assert _counts(store)["long_way"] == before["long_way"] + 1


def test_a_failed_statement_appends_nothing_and_the_next_append_goes_through(
        store, monkeypatch, signer):
    _ready(store)

    def disk_full(sql, params):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store._writer, "insert_on_head", disk_full)
    if store._postgres:
        with pytest.raises(RuntimeError):
            store.append("S-1", _one(), expected_version=1)
        assert store._writer.connection.head is None  # forgotten: the next goes the long way
    assert store.count() == 1
    monkeypatch.undo()
    assert store.append("S-1", _one(), expected_version=1)[0].position == 2
    assert verify_chain(store.engine, public_keys=_keys(signer)).ok


def test_a_connection_the_server_closed_meanwhile_loses_nothing_and_records_nothing_twice(
        store, db_kind, signer):
    if db_kind != "postgresql":
        pytest.skip("SQLite has no server to close the connection")
    _ready(store)
    kept = store._writer.connection._fairy.driver_connection
    with store.engine.connect() as other:
        other.execute(sa.text("SELECT pg_terminate_backend(:pid)"),
                      {"pid": kept.info.backend_pid})
    recorded = store.append("S-1", _one(), expected_version=1)
    assert recorded[0].position == 2 and store.count() == 2
    assert verify_chain(store.engine, public_keys=_keys(signer)).ok


def test_the_statement_waits_for_the_writer_lock(store, engine, db_kind):
    _ready(store)
    done = threading.Event()
    with holding_the_writer_lock(engine):
        appending = threading.Thread(
            target=lambda: (store.append("S-1", _one(), expected_version=1), done.set()))
        appending.start()
        if db_kind == "postgresql":
            wait_until(lambda: _writer_pid(store) in _lock_waiters(engine))  # it waits
        assert not done.is_set() and store.count() == 1
    appending.join(30)
    assert done.is_set() and store.count() == 2


def test_two_processes_writing_at_once_keep_the_log_gapless_and_verified(
        store, database_url, signer):
    url, connect_args = database_url
    other_engine = make_engine(url, connect_args=connect_args)
    stores = [store, EventStore(other_engine, signer=signer)]
    errors: list[BaseException] = []
    per_thread, threads = 15, 3

    def writer(each: EventStore, stream: str) -> None:
        try:
            for version in range(per_thread):
                each.read_stream(stream)
                each.append(stream, _one(), expected_version=version)
        except BaseException as error:  # the test reports it
            errors.append(error)

    workers = [threading.Thread(target=writer, args=(each, f"P{n}-T{t}"))
               for n, each in enumerate(stores) for t in range(threads)]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
        assert not errors, errors
        total = len(workers) * per_thread
        assert [e.position for e in store.read_all()] == list(range(1, total + 1))
        for n in range(2):
            for t in range(threads):
                assert len(store.read_stream(f"P{n}-T{t}")) == per_thread
        assert verify_chain(store.engine, public_keys=_keys(signer)).ok
    finally:
        other_engine.dispose()


def test_a_stream_the_writer_does_not_hold_is_checked_by_the_statement(store, db_kind):
    """Appending with an expected version to a stream never read: the statement checks the
    version in the database; a wrong one inserts nothing and is refused the long way."""
    _ready(store)
    store._cache.forget("S-1")
    before = _counts(store)
    store.append("NEW-1", _one(), expected_version=0)  # a new stream, never read
    store.append("S-1", _one(), expected_version=1)  # an old one the cache let go
    if db_kind == "postgresql":
        assert _counts(store)["one_statement"] == before["one_statement"] + 2
    store._cache.forget("S-1")
    with pytest.raises(ConcurrencyError):
        store.append("S-1", _one(), expected_version=1)  # it is at 2 now
    if db_kind == "postgresql":
        assert _counts(store)["long_way"] == before["long_way"] + 1
    assert [len(store.read_stream(s)) for s in ("S-1", "NEW-1")] == [2, 1]
    assert [e.position for e in store.read_all()] == [1, 2, 3]


def test_a_large_batch_takes_the_transaction(store, signer):
    from events.batch_write import ONE_STATEMENT_ROWS

    _ready(store)
    store.append("S-1", _one(), expected_version=1)  # the head is known now
    before = _counts(store)
    store.append("S-1", _one(ONE_STATEMENT_ROWS + 1), expected_version=2)
    assert _counts(store) == before  # neither sent nor tried: the long way at once
    assert store.count() == ONE_STATEMENT_ROWS + 3
    assert verify_chain(store.engine, public_keys=_keys(signer)).ok


# -- found by the adversarial review -------------------------------------------------------

def _break_the_socket(store) -> int:
    """Cut the writer's kept connection on this side, as a network reset would; return the
    server process that ran it."""
    driver = store._writer.connection._fairy.driver_connection
    sock = socket.socket(fileno=os.dup(driver.pgconn.socket))
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    return driver.info.backend_pid


@pytest.mark.parametrize("appends", [1, 2])
def test_a_reply_lost_while_the_statement_waits_records_each_append_once(
        store, engine, db_kind, signer, appends):
    """The connection breaks while the statement waits for the writer lock: the server would
    run it on once the lock is free. The writer ends that server process, finds nothing was
    committed, and records the batch the long way: once, not twice."""
    if db_kind != "postgresql":
        pytest.skip("SQLite has no server to lose a reply from")
    streams = [f"S-{n}" for n in range(1, appends + 1)]
    for stream in streams:
        store.append(stream, _one(), expected_version=0)
        store.read_stream(stream)
    batch = [PendingAppend(stream, _one(), None, None, {}) for stream in streams]
    with holding_the_writer_lock(engine):  # freed once the orphan is gone, the long way waits
        committing = in_thread(lambda: store._writer.commit(batch))
        wait_until(lambda: _writer_pid(store) in _lock_waiters(engine))  # the statement
        orphan = _break_the_socket(store)                                   # waits
        wait_until(lambda: orphan not in (w := _lock_waiters(engine))
                   and _writer_pid(store) not in (None, orphan) and _writer_pid(store) in w)
    committing.join()
    assert committing.error is None, committing.error
    assert all(p.error is None and p.result for p in batch), [p.error for p in batch]
    assert [e.stream_id for e in store.read_all()] == [*streams, *streams]
    assert _counts(store)["long_way"] >= 1
    assert verify_chain(store.engine, public_keys=_keys(signer)).ok


def test_a_lost_reply_of_a_statement_that_committed_is_acknowledged(store, db_kind):
    """What settles a lost reply: the statement's last row is there (committed), or not."""
    if db_kind != "postgresql":
        pytest.skip("SQLite has no server to lose a reply from")
    from events.batch_write import _head_of
    from events.writer_connection import OutcomeUnknown

    recorded = store.append("S-1", _one(), expected_version=0)
    closed = store.engine.raw_connection()
    gone = closed.driver_connection.info.backend_pid
    closed.invalidate()  # that server process ends
    lost = OutcomeUnknown(gone, RuntimeError("connection reset"))
    assert store._writer._committed_after_all(lost, _head_of(recorded[-1])) is True
    other = structs.replace(recorded[-1], hash="0" * 64)
    assert store._writer._committed_after_all(lost, _head_of(other)) is False


def test_a_lost_tail_refilled_by_another_process_does_not_fork_the_chain(
        store, database_url, db_kind, signer):
    """A failover to an asynchronous replica loses the last commit; another process appends
    at that position; this process remembers its own event there. The head's position
    matches again, its hash does not: the statement inserts nothing."""
    store.append("S-1", _one(), expected_version=0)
    store.append("S-2", _one(), expected_version=0)
    store.read_stream("S-3")
    Attacker(store.engine, db_kind).delete_last(1)  # the lost commit (bypasses the guard)
    url, connect_args = database_url
    other_engine = make_engine(url, connect_args=connect_args)
    try:
        EventStore(other_engine, signer=signer).append("S-9", _one(), expected_version=0)
        assert store.append("S-3", _one(), expected_version=0)[0].position == 3
        assert verify_chain(store.engine, public_keys=_keys(signer)).ok
    finally:
        other_engine.dispose()


@pytest.mark.parametrize("isolation", ["read committed", "serializable"])
def test_losing_the_race_to_another_process_goes_the_long_way(
        store, database_url, db_kind, signer, isolation):
    """Our statement takes its snapshot, then waits for the lock another process holds; that
    process commits the next position. Under READ COMMITTED ours then fails on the primary
    key, under a SERIALIZABLE server default with a serialization failure: either way it
    committed nothing, and the append is recorded the long way."""
    if db_kind != "postgresql":
        pytest.skip("SQLite takes the transaction every time")
    url, connect_args = database_url
    level = isolation.replace(" ", "\\ ")  # libpq options: a space in a value is escaped
    options = f"{connect_args.get('options', '')} -c default_transaction_isolation={level}"
    ours_engine = make_engine(url, connect_args={**connect_args, "options": options})
    other_engine = make_engine(url, connect_args=connect_args)
    try:
        ours = EventStore(ours_engine, signer=signer)
        _ready(ours)
        ours.append("S-1", _one(), expected_version=1)
        other = EventStore(other_engine, signer=signer)
        with HeldCommit(other) as held:  # the other holds the lock, before its INSERT
            theirs = in_thread(lambda: other.append("S-9", _one(), expected_version=0))
            assert held.reached.wait(30)
            before = _counts(ours)
            mine = in_thread(lambda: ours.append("S-1", _one(), expected_version=2))
            wait_until(lambda: _writer_pid(ours) in _lock_waiters(ours_engine))
            held.release()
            theirs.join(), mine.join()
        assert theirs.error is None and mine.error is None, (theirs.error, mine.error)
        assert theirs.result[0].position == 3 and mine.result[0].position == 4
        assert _counts(ours)["long_way"] == before["long_way"] + 1
        assert verify_chain(ours_engine, public_keys=_keys(signer)).ok
    finally:
        ours_engine.dispose()
        other_engine.dispose()


def test_a_connection_dropped_while_idle_without_a_word_is_replaced(store, db_kind, signer):
    """A proxy or a crash restart drops the idle connection without the server's FATAL: the
    writer sees the end of the stream before sending and goes the long way on a new one."""
    if db_kind != "postgresql":
        pytest.skip("SQLite has no server to drop the connection")
    _ready(store)
    _break_the_socket(store)
    assert store.append("S-1", _one(), expected_version=1)[0].position == 2
    assert store.count() == 2
    assert verify_chain(store.engine, public_keys=_keys(signer)).ok
