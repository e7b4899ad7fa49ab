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
import threading
import time
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


def append_elsewhere(engine: sa.Engine, signer, n: int) -> None:
    """Append ``{"n": n}`` to S-1 (at version n - 1) through an engine of its own."""
    other = make_engine(f"sqlite:///{file_of(engine)}")
    try:
        EventStore(other, signer=signer).append("S-1", noted(n), expected_version=n - 1)
    finally:
        other.dispose()


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
    assert isinstance(first[1], int) and probe.version() == first  # nothing committed
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
    append_elsewhere(engine, signer, 2)
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


def test_without_the_standard_sqlite3_module_loaded_there_is_no_library(monkeypatch):
    """``_sqlite3`` is looked up, never imported: importing it could load the system library
    beside another driver's copy."""
    monkeypatch.delitem(sys.modules, "_sqlite3")
    monkeypatch.setattr(dv, "_library", None)
    assert dv.sqlite_library() is None
    assert "_sqlite3" not in sys.modules
    monkeypatch.setattr(dv, "_library", None)


def test_an_engine_of_another_sqlite_driver_gets_no_probe(sqlite_only, engine):
    """pysqlcipher or ``pysqlite3`` bring their own SQLite: a probe on the system library
    beside them would be a second copy. Stood for by a module that is not the standard
    library's (a copy of its namespace)."""
    import sqlite3.dbapi2
    import types

    other = types.ModuleType("another_sqlite_driver")
    other.__dict__.update({k: v for k, v in vars(sqlite3.dbapi2).items()
                           if not k.startswith("__")})
    foreign = sa.create_engine(f"sqlite:///{file_of(engine)}", module=other)
    try:
        assert DataVersionProbe.for_engine(foreign) is None
        assert RawReads(foreign).data_version() is None
    finally:
        foreign.dispose()
    assert DataVersionProbe.for_engine(engine) is not None  # the standard driver has one


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
    assert probe._conn is not None
    engine.dispose()
    assert probe._conn is None
    EventStore(engine, signer=signer).append("S-1", noted(2), expected_version=1)
    assert [e.data["n"] for e in store.read_stream("S-1")] == [1, 2]
    assert probe._conn is not None


def test_a_commit_made_while_the_probe_was_closed_is_seen_by_the_next_read(
        sqlite_only, store, engine, signer):
    """A new connection's data version starts at the same number whatever was committed
    before it opened: the value remembered from the old connection must not be taken for
    the new one's (the answers carry their connection's epoch)."""
    store.append("S-1", noted(1), expected_version=0)
    assert [e.data["n"] for e in store.read_stream("S-1")] == [1]
    assert store._cache.data_version is not None  # remembered from the first connection
    engine.dispose()  # the probe's connection closed
    append_elsewhere(engine, signer, 2)
    assert [e.data["n"] for e in store.read_stream("S-1")] == [1, 2]


def test_an_answer_of_another_probe_is_not_taken_for_this_ones(
        sqlite_only, store, engine, signer):
    """Two probes (two threads making the first one at once, say) answer on two connections:
    a commit between the first probe's answer and the second's opening is still seen."""
    store.append("S-1", noted(1), expected_version=0)
    assert [e.data["n"] for e in store.read_stream("S-1")] == [1]
    EventStore(engine, signer=signer).append("S-1", noted(2), expected_version=1)
    store._raw._probe = DataVersionProbe(file_of(engine))  # opens after the commit
    assert [e.data["n"] for e in store.read_stream("S-1")] == [1, 2]


def test_the_first_probe_is_made_once_by_threads_reading_at_once(sqlite_only, store):
    store.append("S-1", noted(1), expected_version=0)
    made: list[DataVersionProbe] = []
    real = DataVersionProbe.for_engine.__func__
    start = threading.Barrier(8)

    def counting(cls, engine):
        probe = real(cls, engine)
        made.append(probe)
        return probe

    def read():
        start.wait()
        store._raw.data_version()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DataVersionProbe, "for_engine", classmethod(counting))
        threads = [threading.Thread(target=read) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(made) == 1 and store._raw._probe is made[0]


def test_no_probe_connection_is_closed_under_a_daemon_thread_at_exit(tmp_path):
    """waitress's workers are daemon threads: they may still ask while the interpreter exits.
    The probe's connection is not closed at exit, so none asks on a freed one (it crashed
    with a segmentation fault before)."""
    def script(n: int) -> str:
        return textwrap.dedent(f"""
        import atexit, time
        atexit.register(time.sleep, 0.3)  # runs last: the threads go on asking meanwhile
        import threading
        from ecrf.schema import upgrade
        from events import EventStore, NewEvent, make_engine
        engine = make_engine({f"sqlite:///{tmp_path / f'exit-{n}.db'}"!r})
        upgrade(engine)
        store = EventStore(engine)
        store.append("S-1", [NewEvent("Noted", {{"n": 1}})], expected_version=0)
        store.read_stream("S-1")
        probe = store._raw._probe
        def ask():
            while True:
                probe.version()
        for _ in range(2):
            threading.Thread(target=ask, daemon=True).start()
        time.sleep(0.1)
        """)
    for n in range(3):
        done = subprocess.run([sys.executable, "-c", script(n)], cwd=ROOT, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(ROOT)},
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]


def test_a_forked_child_asks_on_its_own_connection_and_leaves_the_parents(
        sqlite_only, store, engine, signer):
    store.append("S-1", noted(1), expected_version=0)
    assert [e.data["n"] for e in store.read_stream("S-1")] == [1]  # remembers a version
    probe = store._raw._probe
    parents = probe._conn
    # a commit the parent has not read yet: the child's first read must see it
    EventStore(engine, signer=signer).append("S-1", noted(2), expected_version=1)
    parents.lock.acquire()  # as if a parent's thread were asking at the fork
    pid = os.fork()
    if pid == 0:  # the child: read, drop the probe (its finalizer runs), exit at once
        code = 1
        try:
            signal.alarm(20)  # a lock held for good would hang the child: end it instead
            engine.dispose(close=False)
            seen = [e.data["n"] for e in store.read_stream("S-1")]
            code = 0 if seen == [1, 2] and probe._conn is not parents else 2
            del probe
            gc.collect()
        finally:
            os._exit(code)
    parents.lock.release()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert probe._conn is parents and not parents.closed  # still the parent's, still open
    before = probe.version()
    EventStore(engine, signer=signer).append("S-1", noted(3), expected_version=2)
    assert probe.version() != before
    assert [e.data["n"] for e in store.read_stream("S-1")] == [1, 2, 3]


def test_a_close_waits_for_a_question_in_progress_and_a_closed_connection_is_never_asked(
        sqlite_only, store, engine):
    store.append("S-1", noted(1), expected_version=0)
    probe = DataVersionProbe.for_engine(engine)
    assert probe.version() is not None
    conn = probe._conn
    conn.lock.acquire()  # a question in progress
    closing = threading.Thread(target=probe.close)
    closing.start()
    closing.join(0.3)
    assert closing.is_alive() and not conn.closed  # the close waits for it
    conn.lock.release()
    closing.join(10)
    assert conn.closed
    probe._conn = conn  # a caller that took the connection before it was closed
    assert probe.version() is None


def test_a_connection_that_cannot_be_opened_is_tried_again_a_minute_later(
        sqlite_only, store, engine, tmp_path):
    store.append("S-1", noted(1), expected_version=0)
    probe = DataVersionProbe(str(tmp_path / "no such folder" / "log.db"))
    assert probe.version() is None
    assert probe._retry_at > time.monotonic() + dv.RETRY_SECONDS - 5
    probe.path = file_of(engine)
    assert probe.version() is None  # not yet
    probe._retry_at = 0.0  # a minute later
    assert probe.version() is not None
