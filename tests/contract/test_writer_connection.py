"""The writer's kept connection (events/writer_connection.py): one connection serves the
commits one after another, it is closed when the engine is disposed, a connection the
server closed is replaced without losing the append, and a failed commit gives it back to
the pool, rolled back."""

from __future__ import annotations

import os
import sqlite3
import threading
import time

import psycopg
import pytest
import sqlalchemy as sa

from events import EventStore, NewEvent, verify_chain
from tests.batching import holding_the_writer_lock


def _one(n: int = 1) -> list[NewEvent]:
    return [NewEvent("PlateletCountRecorded", {"platelets": 40 + i}) for i in range(n)]


def _driver(store):
    fairy = store._writer.connection._fairy
    return None if fairy is None else fairy.driver_connection


def _is_closed(driver) -> bool:
    if isinstance(driver, sqlite3.Connection):
        try:
            driver.execute("SELECT 1")
        except sqlite3.ProgrammingError:
            return True
        return False
    return driver.closed


def test_one_connection_serves_the_commits_one_after_another(store):
    store.append("S-1", _one(), expected_version=0)
    first = _driver(store)
    store.append("S-1", _one(3), expected_version=1)
    store.append("S-2", _one(), expected_version=0)
    assert first is not None and _driver(store) is first
    assert not _is_closed(first)


def test_disposing_the_engine_closes_the_writers_connection(store):
    store.append("S-1", _one(), expected_version=0)
    driver = _driver(store)
    store.engine.dispose()
    assert _is_closed(driver) and _driver(store) is None
    store.append("S-1", _one(), expected_version=1)  # a later append takes a new one
    assert _driver(store) is not driver and store.count() == 2


def test_a_failed_commit_gives_the_connection_up_and_the_next_append_goes_through(
        store, monkeypatch):
    store.append("S-1", _one(), expected_version=0)
    store._writer.one_statement = False  # the transaction's INSERT, then its COMMIT

    def disk_full(cursor, rows):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store._writer, "insert_rows", disk_full)
    with pytest.raises(RuntimeError):
        store.append("S-1", _one(), expected_version=1)
    assert _driver(store) is None and store.count() == 1  # rolled back, back in the pool
    monkeypatch.undo()
    store.append("S-1", _one(), expected_version=1)
    assert _driver(store) is not None and store.count() == 2
    assert verify_chain(store.engine).ok


def test_a_connection_the_server_closed_is_replaced_and_the_append_is_not_lost(
        store, db_kind):
    """A restart or an idle timeout closes the kept connection behind the writer's back; the
    next append fails at BEGIN, before writing anything, and begins again on a new one."""
    if db_kind != "postgresql":
        pytest.skip("SQLite has no server to close the connection")
    store.append("S-1", _one(), expected_version=0)
    kept = _driver(store)
    with store.engine.connect() as other:
        assert other.execute(sa.text("SELECT pg_terminate_backend(:pid)"),
                             {"pid": kept.info.backend_pid}).scalar() is True
    recorded = store.append("S-1", _one(), expected_version=1)
    assert recorded[0].position == 2 and store.count() == 2
    assert kept.closed and _driver(store) is not kept
    assert verify_chain(store.engine).ok
    with pytest.raises(psycopg.OperationalError):
        kept.execute("SELECT 1")


def test_stores_of_one_engine_share_one_writer_connection_and_never_drain_the_pool(
        engine, signer):
    """Every app or command makes its own store; twenty of them on one engine must not keep
    twenty connections (the pool holds 15)."""
    stores = [EventStore(engine, signer=signer) for _ in range(20)]
    for n, each in enumerate(stores):
        each.append(f"S-{n}", _one(), expected_version=0)
    assert len({id(each._writer.connection) for each in stores}) == 1
    with engine.connect() as conn:  # the pool still lends a reader its connection
        assert conn.execute(sa.text("SELECT count(*) FROM events")).scalar() == 20
    assert verify_chain(engine, public_keys={signer.key_id: signer.public_key}).ok


def test_a_lock_that_times_out_fails_that_append_only(engine, database_url, db_kind, signer):
    """BEGIN runs, the writer lock is not granted in time (PostgreSQL's lock_timeout, SQLite's
    busy timeout): the append fails with the database's own error, and once the lock is free
    the next append goes through on the same store."""
    url, connect_args = database_url
    if db_kind == "postgresql":
        args = {**connect_args, "options": f"{connect_args.get('options', '')} "
                                           "-c lock_timeout=200"}
    else:
        args = {**connect_args, "timeout": 0.2}
    from events import make_engine

    impatient = make_engine(url, connect_args=args)
    store = EventStore(impatient, signer=signer)
    store.append("S-1", _one(), expected_version=0)
    with holding_the_writer_lock(engine), pytest.raises(
            (psycopg.errors.LockNotAvailable, sqlite3.OperationalError)):
        store.append("S-1", _one(), expected_version=1)
    assert store.count() == 1
    store.append("S-1", _one(), expected_version=1)
    assert store.count() == 2 and verify_chain(impatient).ok
    impatient.dispose()


def test_disposing_the_engine_during_a_commit_lets_that_commit_finish(store, monkeypatch):
    store.append("S-1", _one(), expected_version=0)
    store._writer.one_statement = False  # the transaction's INSERT, then its COMMIT
    insert = store._writer.insert_rows
    started = threading.Event()

    def slow(cursor, rows):
        started.set()
        time.sleep(0.3)
        insert(cursor, rows)

    monkeypatch.setattr(store._writer, "insert_rows", slow)
    disposer = threading.Thread(target=lambda: (started.wait(5), store.engine.dispose()))
    disposer.start()
    store.append("S-1", _one(), expected_version=1)  # must not fail on a closed connection
    disposer.join()
    assert store.count() == 2 and _driver(store) is None  # closed once the commit ended
    monkeypatch.undo()
    store.append("S-1", _one(), expected_version=2)
    assert store.count() == 3 and verify_chain(store.engine).ok


def test_the_connection_is_renewed_after_the_pools_recycle_time(database_url, db_kind, signer):
    url, connect_args = database_url
    from ecrf.schema import upgrade
    from events import make_engine

    extra = {} if db_kind == "postgresql" else {"pool_recycle": 3600}  # PostgreSQL's default
    engine = make_engine(url, connect_args=connect_args, **extra)
    upgrade(engine)
    store = EventStore(engine, signer=signer)
    store.append("S-1", _one(), expected_version=0)
    kept = _driver(store)
    connection = store._writer.connection
    connection._since -= 3601  # an hour and a second later
    store.append("S-1", _one(), expected_version=1)
    assert _driver(store) is not kept and _is_closed(kept) and store.count() == 2
    engine.dispose()


def test_on_sqlite_the_event_writer_and_the_read_models_take_one_lock(store, db_kind):
    """The read models' writes hold the engine's writer lock; an append waits for them
    instead of meeting SQLite's busy handler."""
    if db_kind != "sqlite":
        pytest.skip("PostgreSQL serialises the writers with its advisory lock")
    from events.store import writer_lock

    done = threading.Event()
    with writer_lock(store.engine):
        worker = threading.Thread(
            target=lambda: (store.append("S-1", _one(), expected_version=0), done.set()))
        worker.start()
        assert not done.wait(0.3) and store.count() == 0  # the append queues on the lock
    worker.join(5)
    assert done.is_set() and store.count() == 1


def test_a_forked_child_never_uses_or_closes_its_parents_connection(store):
    """A child that disposes its inherited engine, as SQLAlchemy asks
    (``dispose(close=False)``), and appends, takes a connection of its own; the parent's
    kept connection goes on working."""
    store.append("S-1", _one(), expected_version=0)
    kept = _driver(store)
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        code = 1
        try:
            store.engine.dispose(close=False)
            store.append("S-2", _one(), expected_version=0)
            code = 0 if _driver(store) is not kept else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    store.append("S-1", _one(), expected_version=1)
    assert _driver(store) is kept and not _is_closed(kept)
    assert store.count() == 3 and verify_chain(store.engine).ok
