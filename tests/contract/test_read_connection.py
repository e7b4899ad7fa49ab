"""The reads on every request's path (events.reading.RawReads) take a pooled driver
connection of their own. A read connection the server dropped while it sat in the pool (a
restart, an idle timeout, an administrator) is discarded and the read runs again on a new one:
a read changes nothing, so the request answers instead of failing. PostgreSQL (SQLite has no
server to drop a connection)."""

from __future__ import annotations

import gc
import os
import threading
import time

import pytest
import sqlalchemy as sa

from events import EventStore, NewEvent, make_engine


@pytest.fixture
def reader_engine(database_url, db_kind, engine):
    if db_kind != "postgresql":
        pytest.skip("SQLite has no server to drop the connection")
    url, connect_args = database_url
    reader = make_engine(url, connect_args={**connect_args, "application_name": "dropped-reader"})
    yield reader
    reader.dispose()


def drop_every_connection_of(engine: sa.Engine, name: str) -> int:
    """End every server process of the connections named ``name`` and wait until they are
    gone (each poll in a statement of its own: in a transaction the view is a snapshot)."""
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    with autocommit.connect() as admin:
        ended = admin.execute(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = :name"), {"name": name}).scalar()
        deadline = time.monotonic() + 30
        while admin.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE "
                                    "application_name = :name"), {"name": name}).scalar():
            assert time.monotonic() < deadline, "the server did not end them"
            time.sleep(0.01)
    return ended


def test_reads_answer_after_the_server_dropped_the_pooled_read_connections(
        reader_engine, engine, signer):
    writer = EventStore(engine, signer=signer)
    writer.append("S-1", [NewEvent("Noted", {"n": 1})], expected_version=0)
    store = EventStore(reader_engine, signer=signer)
    assert [e.position for e in store.read_all(0, 10)] == [1]  # a pooled read connection
    assert store.read_stream("S-1")[0].data == {"n": 1}
    assert drop_every_connection_of(engine, "dropped-reader") >= 1
    writer.append("S-1", [NewEvent("Noted", {"n": 2})], expected_version=1)
    store.refresh()  # meets a dropped connection first
    assert [e.data["n"] for e in store.read_stream("S-1")] == [1, 2]
    assert [e.position for e in store.read_all(0, 10)] == [1, 2]
    assert drop_every_connection_of(engine, "dropped-reader") >= 1
    assert [e.position for e in store.read_all(0, 10)] == [1, 2]


def test_no_read_fails_after_the_server_dropped_every_idle_connection_of_a_full_pool(
        reader_engine, engine, signer):
    """After a restart every idle connection of the pool is dead: each read goes through
    them, discarding each, until a new one answers (8 reads failed in a row before)."""
    EventStore(engine, signer=signer).append("S-1", [NewEvent("Noted", {"n": 1})],
                                             expected_version=0)
    store = EventStore(reader_engine, signer=signer)
    held = [reader_engine.raw_connection() for _ in range(8)]  # eight idle in the pool
    for connection in held:
        connection.close()
    assert reader_engine.pool.checkedin() >= 8
    assert drop_every_connection_of(engine, "dropped-reader") >= 8
    for _ in range(10):
        assert [e.position for e in store.read_all(0, 10)] == [1]


# --- connections kept for the reads (both databases) ------------------------------------------

@pytest.fixture
def kept_reads(database_url, engine):
    url, connect_args = database_url
    reads = make_engine(url, connect_args=connect_args)
    yield reads
    reads.dispose()


def one_event_read_through(reads: sa.Engine, engine: sa.Engine, signer
                           ) -> tuple[EventStore, list]:
    """A log of one event, a store reading it through ``reads``, and the driver connections
    ``reads`` opens from now on."""
    EventStore(engine, signer=signer).append("S-1", [NewEvent("Noted", {"n": 1})],
                                             expected_version=0)
    opened: list = []
    sa.event.listen(reads, "connect", lambda dbapi, record: opened.append(dbapi))
    return EventStore(reads, signer=signer), opened


def test_reads_keep_their_connections_out_of_the_pool_and_open_none_per_read(
        kept_reads, engine, signer):
    store, opened = one_event_read_through(kept_reads, engine, signer)
    for _ in range(50):
        store.refresh()
        assert [e.position for e in store.read_all(0, 10)] == [1]
    assert len(opened) == 1  # one connection made, kept, used by every read
    assert kept_reads.pool.checkedout() == 0


def test_threads_reading_at_once_each_get_a_connection_and_keep_them_for_later_reads(
        kept_reads, engine, signer):
    store, opened = one_event_read_through(kept_reads, engine, signer)
    failures: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(100):
                assert [e.data["n"] for e in store.read_all(0, 10)] == [1]
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)

    for _round in range(3):
        threads = [threading.Thread(target=read) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
    assert 1 <= len(opened) <= 8  # at most one for each thread reading at once, all kept


def test_disposing_the_engine_closes_the_kept_read_connections(kept_reads, engine, signer,
                                                               db_kind):
    store, opened = one_event_read_through(kept_reads, engine, signer)
    assert store.read_all(0, 10)
    kept_reads.dispose()
    assert opened and all(_is_closed(conn, db_kind) for conn in opened)
    assert [e.position for e in store.read_all(0, 10)] == [1]  # a new one after dispose


def _is_closed(conn, db_kind: str) -> bool:
    if db_kind == "postgresql":
        return conn.closed
    try:
        conn.execute("SELECT 1")
    except Exception:  # sqlite3.ProgrammingError: Cannot operate on a closed database
        return True
    return False


def test_a_forked_child_reads_on_its_own_connections_and_leaves_the_parents_open(
        kept_reads, engine, signer):
    EventStore(engine, signer=signer).append("S-1", [NewEvent("Noted", {"n": 1})],
                                             expected_version=0)
    store = EventStore(kept_reads, signer=signer)
    assert [e.position for e in store.read_all(0, 10)] == [1]  # the parent keeps one
    (parents, _made), = store._raw._idle
    pid = os.fork()
    if pid == 0:  # the child: read, drop the store (its finalizer runs), exit at once
        code = 1
        try:
            # SQLAlchemy's way for a child: a pool of its own, the parent's left open (its
            # dispose event must not close the parent's kept read connection either)
            kept_reads.dispose(close=False)
            child = [row[0] for row in store._raw.query(store._raw.after, (0, 10))]
            del store
            gc.collect()
            code = 0 if child == [1] else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert parents.execute("SELECT 1").fetchone()[0] == 1  # not closed by the child
    EventStore(engine, signer=signer).append("S-1", [NewEvent("Noted", {"n": 2})],
                                             expected_version=1)
    assert [e.position for e in store.read_all(0, 10)] == [1, 2]  # the parent's still works


def test_a_read_that_fails_for_another_reason_is_not_retried_and_keeps_its_connection(
        kept_reads, engine, signer):
    store, opened = one_event_read_through(kept_reads, engine, signer)
    assert store.read_all(0, 10)
    with pytest.raises(kept_reads.dialect.loaded_dbapi.Error) as failed:
        store._raw.query("SELECT no_such_column FROM events", ())
    assert not kept_reads.dialect.is_disconnect(failed.value, None, None)
    assert [e.position for e in store.read_all(0, 10)] == [1]
    assert len(opened) == 1  # the connection survived the error: not closed, not retried


def test_a_connection_in_use_when_the_engine_is_disposed_is_closed_when_it_comes_back(
        kept_reads, engine, signer, db_kind):
    store, _opened = one_event_read_through(kept_reads, engine, signer)
    raw = store._raw
    generation = raw._generation
    conn, made, pooled = raw._take()  # a read in flight
    kept_reads.dispose()
    raw._give_back(conn, made, pooled, generation)
    assert raw._idle == [] and _is_closed(conn, db_kind)
    assert [e.position for e in store.read_all(0, 10)] == [1]


def test_kept_connections_older_than_the_recycle_age_are_replaced(kept_reads, engine, signer,
                                                                  db_kind):
    store, opened = one_event_read_through(kept_reads, engine, signer)
    assert store.read_all(0, 10)
    store._raw.recycle = 0.0
    assert store.read_all(0, 10)
    assert len(opened) == 2 and _is_closed(opened[0], db_kind)


def test_an_in_memory_sqlite_log_is_read_through_its_one_pooled_connection(signer):
    memory = make_engine("sqlite://")
    try:
        from ecrf.schema import upgrade

        upgrade(memory)
        store = EventStore(memory, signer=signer)
        for n in (1, 2):
            store.append("S-1", [NewEvent("Noted", {"n": n})], expected_version=n - 1)
            assert [e.data["n"] for e in store.read_stream("S-1")] == list(range(1, n + 1))
    finally:
        memory.dispose()
