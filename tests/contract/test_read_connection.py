"""The reads on every request's path (events.reading.RawReads) take a pooled driver
connection of their own. A read connection the server dropped while it sat in the pool (a
restart, an idle timeout, an administrator) is discarded and the read runs again on a new one:
a read changes nothing, so the request answers instead of failing. PostgreSQL (SQLite has no
server to drop a connection)."""

from __future__ import annotations

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
