"""Whether a SQLite database changed since a moment, asked without giving up the GIL.

Every request asks the log whether it moved (``EventStore.refresh``): one indexed query that
usually finds nothing. Python's ``sqlite3`` releases the GIL around every statement, and
under load each release hands the GIL to another thread and waits for it back: that query
was 8 of a cached read's 20 context switches and ~0.2 ms of its 1.1-1.2 ms of CPU
(benchmarks/profile_http.py), for a few microseconds of SQLite's own work.

``PRAGMA data_version`` is SQLite's documented way to ask this: its value, on one
connection, changes whenever another connection (of this process or any other) committed a
change to the database file, and it costs no table read. The probe runs it on a read-only
connection of its own, through the SQLite library Python's ``sqlite3`` already uses, called
through ``ctypes.PyDLL``, which keeps the GIL: ~4 us, no switch. When the value is the one
seen, on the same probe connection, before a refresh that read the log, nothing was committed
since, and the query is skipped; when it differs, or the probe cannot answer, the query runs
as before. A value means nothing on another connection (a new one starts at the same number
whatever was committed before it opened), so each answer carries its connection's epoch.

The library must be the very copy the engine's driver uses: two copies of SQLite in one
process each keep their own POSIX locks and can corrupt a database
(sqlite.org/howtocorrupt.html, 2.2). So there is a probe only for an engine whose driver is
the standard library's ``sqlite3`` (not pysqlcipher, not ``pysqlite3``), whose ``_sqlite3`` is
already imported and linked to ``libsqlite3.so.0`` by name, and the library is only looked up
among those already loaded (``RTLD_NOLOAD``); elsewhere (a statically linked ``_sqlite3``,
another driver, another system) there is no probe and every request runs the query. The
probe never writes, has no busy handler (SQLITE_BUSY reads as "do not know"), and resets its
statement at once so that it holds no read transaction (a checkpoint would wait for it). One
wait remains, inside SQLite: while another connection rewrites the WAL index (recovering it
after a crash), a read retries with short sleeps, here with the GIL held, so the process
pauses for as long. PostgreSQL has no such question without a round trip, so its stores run
the query.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import sys
import threading
import time
import weakref
from typing import Any

from sqlalchemy.engine import Engine

LIBRARY = "libsqlite3.so.0"
_OPEN_READONLY, _OPEN_FULLMUTEX, _OPEN_PRIVATECACHE = 0x1, 0x10000, 0x40000
_ROW = 100
#: After a connection could not be opened, how long the probe answers "do not know".
RETRY_SECONDS = 60.0

_library: Any = None
_library_lock = threading.Lock()
_forks = [0]  # one more in each forked child: a probe opened before a fork is the parent's
_epochs = itertools.count(1)  # one per probe connection ever opened in this process
_probes: weakref.WeakSet[DataVersionProbe] = weakref.WeakSet()


def _forked() -> None:
    """In a forked child: the probes' connections are the parent's, and a lock a parent's
    thread held at the fork would stay held for good."""
    global _library_lock
    _forks[0] += 1
    _library_lock = threading.Lock()
    for probe in list(_probes):
        probe._opening = threading.Lock()


os.register_at_fork(after_in_child=_forked)


def sqlite_library() -> Any:
    """The SQLite library Python's ``sqlite3`` runs on, as a ``ctypes.PyDLL`` (calls keep the
    GIL), or None when it cannot be shown to be that very copy."""
    global _library
    with _library_lock:
        if _library is None:
            _library = _load() or False
    return _library or None


def _load() -> Any:
    linked_module = sys.modules.get("_sqlite3")  # never imported here: that could load one
    path = getattr(linked_module, "__file__", None)
    if not path:
        return None
    try:
        with open(path, "rb") as linked:
            if LIBRARY.encode() not in linked.read():  # statically linked: another copy
                return None
        lib = ctypes.PyDLL(LIBRARY, mode=os.RTLD_NOLOAD | os.RTLD_NOW)  # loaded, or fails
    except (OSError, AttributeError):
        return None
    lib.sqlite3_open_v2.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p),
                                    ctypes.c_int, ctypes.c_char_p]
    lib.sqlite3_prepare_v2.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                       ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
    for name in ("sqlite3_step", "sqlite3_reset", "sqlite3_finalize"):
        getattr(lib, name).argtypes = [ctypes.c_void_p]
    lib.sqlite3_column_int64.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.sqlite3_column_int64.restype = ctypes.c_int64
    lib.sqlite3_close_v2.argtypes = [ctypes.c_void_p]
    lib.sqlite3_libversion.restype = ctypes.c_char_p
    if lib.sqlite3_libversion().decode() != getattr(linked_module, "sqlite_version", None):
        return None
    return lib


def standard_driver(engine: Engine) -> bool:
    """Whether the engine's driver is the standard library's ``sqlite3``."""
    import sqlite3
    import sqlite3.dbapi2
    return engine.dialect.name == "sqlite" and engine.dialect.driver == "pysqlite" and \
        getattr(engine.dialect, "loaded_dbapi", None) in (sqlite3, sqlite3.dbapi2)


class _Connection:
    """One probe connection: its handles, its epoch, the fork it belongs to, and a lock that
    keeps a close from freeing it under a statement."""

    __slots__ = ("closed", "db", "epoch", "fork", "lock", "stmt")

    def __init__(self, db: Any, stmt: Any) -> None:
        self.db, self.stmt, self.closed = db, stmt, False
        self.epoch, self.fork, self.lock = next(_epochs), _forks[0], threading.Lock()


class DataVersionProbe:
    """``PRAGMA data_version`` of one SQLite database file, on a connection of its own, opened
    at the first question (after a fork, the child opens its own and leaves the parent's)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: _Connection | None = None
        self._retry_at = 0.0
        self._opening = threading.Lock()
        self._finalizer: weakref.finalize | None = None
        _probes.add(self)

    @classmethod
    def for_engine(cls, engine: Engine) -> DataVersionProbe | None:
        """A probe for an engine of the standard ``sqlite3`` driver on a database file, else
        None (PostgreSQL, another driver, memory, no usable library). Raises the driver's
        error when the database cannot be reached."""
        if not standard_driver(engine) or sqlite_library() is None:
            return None
        with engine.connect() as conn:
            main = [row[2] for row in conn.exec_driver_sql("PRAGMA database_list")
                    if row[1] == "main"]
        if not main or not main[0]:
            return None  # in memory or temporary: one connection, nothing to ask
        return cls(main[0])

    def version(self) -> tuple[int, int] | None:
        """(this connection's epoch, the database's data version as it sees it now), or None
        when it cannot tell (the caller then asks the database the long way). Two answers
        with the same epoch and value mean nothing was committed between them."""
        conn = self._conn
        if conn is None or conn.fork != _forks[0]:
            conn = self._open()
            if conn is None:
                return None
        lib = _library
        with conn.lock:  # one statement at a time; never on a closed connection
            if conn.closed:
                return None
            try:
                if lib.sqlite3_step(conn.stmt) != _ROW:
                    return None
                return conn.epoch, int(lib.sqlite3_column_int64(conn.stmt, 0))
            finally:
                lib.sqlite3_reset(conn.stmt)  # ends the read: no snapshot held between calls

    def _open(self) -> _Connection | None:
        with self._opening:
            conn = self._conn
            if conn is not None and conn.fork == _forks[0]:
                return conn
            if time.monotonic() < self._retry_at or (lib := sqlite_library()) is None:
                return None
            db, stmt = ctypes.c_void_p(), ctypes.c_void_p()
            flags = _OPEN_READONLY | _OPEN_FULLMUTEX | _OPEN_PRIVATECACHE
            if lib.sqlite3_open_v2(self.path.encode(), ctypes.byref(db), flags, None) != 0 \
                    or lib.sqlite3_prepare_v2(db, b"PRAGMA data_version", -1,
                                              ctypes.byref(stmt), None) != 0:
                if db.value:
                    lib.sqlite3_close_v2(db)
                self._retry_at = time.monotonic() + RETRY_SECONDS
                return None
            # a forked child leaves the parent's connection alone: SQLite forbids using it,
            # and closing it there could release locks the parent's threads rely on
            conn = self._conn = _Connection(db, stmt)
            if self._finalizer is not None:
                self._finalizer.detach()
            self._finalizer = weakref.finalize(self, _close, lib, conn)
            # not at exit: daemon threads (waitress's workers) may still be asking then
            self._finalizer.atexit = False
            return conn

    def close(self) -> None:
        """Close the probe's connection (the next question opens another, of a new epoch)."""
        with self._opening:
            finalizer, self._finalizer, self._conn = self._finalizer, None, None
        if finalizer is not None:
            finalizer()


def _close(lib: Any, conn: _Connection) -> None:
    if conn.fork != _forks[0]:  # the parent's (its lock may have been held at the fork)
        return
    with conn.lock:
        if conn.closed:
            return
        conn.closed = True
        lib.sqlite3_finalize(conn.stmt)
        lib.sqlite3_close_v2(conn.db)
