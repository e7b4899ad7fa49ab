"""On SQLite, a read asks whether the log moved with ``PRAGMA data_version`` on a probe
connection that keeps the GIL (events.data_version), and skips the log query while nothing
was committed. What must hold: every commit, by this process or another, is seen by the next
read; the probe holds no snapshot; it never loads a second copy of SQLite; it has no
PostgreSQL or in-memory form; a forked child and a disposed engine each get a connection of
their own."""

from __future__ import annotations

import gc
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from events import EventStore, NewEvent, make_engine
from events import data_version as dv
from events.data_version import DataVersionProbe
from events.reading import RawReads

ROOT = Path(__file__).resolve().parents[2]


def noted(n: int) -> list[NewEvent]:
    return [NewEvent("Noted", {"n": n})]


@pytest.fixture
def sqlite_only(db_kind):
    if db_kind != "sqlite":
        pytest.skip("PostgreSQL has no data version: its reads run the query (tested below)")


def file_of(engine: sa.Engine) -> str:
    return engine.url.database


def commit_elsewhere(path: str, n: int) -> None:
    """A commit to the database file by another process (a table of its own)."""
    subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import sqlite3
        db = sqlite3.connect({path!r}, isolation_level=None, timeout=30)
        db.execute("CREATE TABLE IF NOT EXISTS scratch (n INTEGER)")
        db.execute("INSERT INTO scratch VALUES ({n})")
        db.close()
    """)], check=True, timeout=60)


def count_queries(store: EventStore, monkeypatch) -> list[str]:
    """The statements the store's reads send to the database from now on."""
    sent: list[str] = []
    query = store._raw.query
    monkeypatch.setattr(store._raw, "query", lambda sql, params: sent.append(sql) or
                        query(sql, params))
    return sent


def test_the_data_version_moves_with_each_commit_of_another_connection_or_process(
        sqlite_only, store, engine):
    store.append("S-1", noted(1), expected_version=0)
    probe = DataVersionProbe.for_engine(engine)
    assert probe is not None
    first = probe.version()
    assert isinstance(first, int) and probe.version() == first  # nothing committed
    store.append("S-1", noted(2), expected_version=1)  # this process, another connection
    second = probe.version()
    assert second != first and probe.version() == second
    commit_elsewhere(file_of(engine), 3)  # another process
    assert probe.version() != second
    probe.close()


def test_reads_skip_the_log_query_while_nothing_was_committed_and_see_every_commit(
        sqlite_only, store, engine, signer, monkeypatch):
    store.append("S-1", noted(1), expected_version=0)
    assert [e.data["n"] for e in store.read_stream("S-1")] == [1]
    sent = count_queries(store, monkeypatch)
    for _ in range(20):
        assert [e.data["n"] for e in store.read_stream("S-1")] == [1]
    assert sent == []  # twenty reads, no query: the data version stood still
    other = make_engine(f"sqlite:///{file_of(engine)}")
    try:
        EventStore(other, signer=signer).append("S-1", noted(2), expected_version=1)
    finally:
        other.dispose()
    assert [e.data["n"] for e in store.read_stream("S-1")] == [1, 2]
    assert len(sent) == 1  # the commit moved the version: the log was read once
    assert [e.data["n"] for e in store.read_stream("S-1")] == [1, 2]
    assert len(sent) == 1


def test_an_append_by_another_process_is_seen_by_the_next_read(sqlite_only, store, engine):
    store.append("S-1", noted(1), expected_version=0)
    assert len(store.read_stream("S-1")) == 1
    subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        from events import EventStore, NewEvent, make_engine
        store = EventStore(make_engine({f"sqlite:///{file_of(engine)}"!r}))
        store.append("S-1", [NewEvent("Noted", {{"n": 2}})], expected_version=1)
    """)], check=True, timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert [e.data["n"] for e in store.read_stream("S-1")] == [1, 2]


def test_the_probe_holds_no_snapshot_a_checkpoint_would_wait_for(sqlite_only, store, engine):
    for n in range(1, 6):
        store.append("S-1", noted(n), expected_version=n - 1)
    probe = DataVersionProbe.for_engine(engine)
    assert probe.version() is not None
    other = sqlite3.connect(file_of(engine), isolation_level=None)
    try:
        busy, _frames, _done = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        other.close()
    assert busy == 0  # a reader holding a snapshot makes a TRUNCATE checkpoint busy
    assert os.path.getsize(file_of(engine) + "-wal") == 0
    probe.close()


def test_a_library_not_already_loaded_is_never_loaded(monkeypatch):
    """Two copies of SQLite in one process can corrupt a database: the probe only uses the
    copy Python's sqlite3 already loaded, found by name, never loads one."""
    monkeypatch.setattr(dv, "LIBRARY", "libsqlite3-not-loaded-here.so.0")
    monkeypatch.setattr(dv, "_library", None)
    assert dv.sqlite_library() is None
    monkeypatch.setattr(dv, "_library", None)  # the next test finds the real one again


def test_the_probe_runs_on_the_library_python_uses(sqlite_only):
    lib = dv.sqlite_library()
    assert lib is not None
    assert lib.sqlite3_libversion().decode() == sqlite3.sqlite_version


def test_postgresql_and_memory_have_no_probe_and_read_the_log(db_kind, engine, monkeypatch):
    memory = make_engine("sqlite://")
    try:
        assert RawReads(memory).data_version() is None
        assert DataVersionProbe.for_engine(memory) is None
    finally:
        memory.dispose()
    if db_kind == "postgresql":
        assert RawReads(engine).data_version() is None
        store = EventStore(engine)
        store.append("S-1", noted(1), expected_version=0)
        store.read_stream("S-1")
        sent = count_queries(store, monkeypatch)
        store.read_stream("S-1")
        assert len(sent) == 1  # every read outside a view asks the log


def test_dispose_closes_the_probe_and_the_next_read_opens_another(
        sqlite_only, store, engine, signer):
    store.append("S-1", noted(1), expected_version=0)
    assert store._raw.data_version() is not None
    probe = store._raw._probe
    assert probe._handles is not None
    engine.dispose()
    assert probe._handles is None
    EventStore(engine, signer=signer).append("S-1", noted(2), expected_version=1)
    assert [e.data["n"] for e in store.read_stream("S-1")] == [1, 2]
    assert probe._handles is not None


def test_a_forked_child_asks_on_its_own_connection_and_leaves_the_parents(
        sqlite_only, store, engine, signer):
    store.append("S-1", noted(1), expected_version=0)
    assert store._raw.data_version() is not None
    probe = store._raw._probe
    parents = probe._handles
    probe._lock.acquire()  # as if a parent's thread were asking at the fork
    pid = os.fork()
    if pid == 0:  # the child: ask, drop the probe (its finalizer runs), exit at once
        code = 1
        try:
            signal.alarm(20)  # a lock held for good would hang the child: end it instead
            engine.dispose(close=False)
            asked = probe.version()
            code = 0 if isinstance(asked, int) and probe._handles is not parents else 2
            del probe
            gc.collect()
        finally:
            os._exit(code)
    probe._lock.release()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert probe._handles is parents  # still the parent's, still open
    before = probe.version()
    EventStore(engine, signer=signer).append("S-1", noted(2), expected_version=1)
    assert probe.version() != before
    assert [e.data["n"] for e in store.read_stream("S-1")] == [1, 2]
