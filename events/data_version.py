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
seen before a refresh that read the log, nothing was committed since, and the query is
skipped; when it differs, or the probe cannot answer, the query runs as before.

The library must be the very copy ``sqlite3`` uses: two copies of SQLite in one process each
keep their own POSIX locks and can corrupt a database (sqlite.org/howtocorrupt.html, 2.2).
So the probe only looks the library up among those already loaded (``RTLD_NOLOAD``) and only
where ``_sqlite3`` is linked to it by name; elsewhere (a statically linked ``_sqlite3``,
another system) there is no probe and every request runs the query. The probe never writes,
runs its statement with no busy wait (SQLITE_BUSY reads as "do not know"), and resets it at
once so that it holds no read transaction (a checkpoint would wait for it). PostgreSQL has
no such question without a round trip, so its stores run the query.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import weakref
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

LIBRARY = "libsqlite3.so.0"
_OPEN_READONLY, _OPEN_FULLMUTEX, _OPEN_PRIVATECACHE = 0x1, 0x10000, 0x40000
_ROW = 100

_library: Any = None
_library_lock = threading.Lock()
_forks = [0]  # one more in each forked child: a probe opened before a fork is the parent's
_probes: weakref.WeakSet[DataVersionProbe] = weakref.WeakSet()


def _forked() -> None:
    """In a forked child: the probes' connections are the parent's, and a lock a parent's
    thread held at the fork would stay held for good."""
    _forks[0] += 1
    for probe in list(_probes):
        probe._lock = threading.Lock()


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
    try:
        import _sqlite3
        with open(_sqlite3.__file__, "rb") as linked:
            if LIBRARY.encode() not in linked.read():  # statically linked: another copy
                return None
        lib = ctypes.PyDLL(LIBRARY, mode=os.RTLD_NOLOAD | os.RTLD_NOW)  # loaded, or fails
    except (ImportError, OSError, AttributeError):
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
    import sqlite3
    if lib.sqlite3_libversion().decode() != sqlite3.sqlite_version:
        return None
    return lib


class DataVersionProbe:
    """``PRAGMA data_version`` of one SQLite database file, on a connection of its own, opened
    at the first question (after a fork, the child opens its own and leaves the parent's)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._handles: tuple[Any, Any] | None = None
        self._fork = -1
        self._failed = False
        self._lock = threading.Lock()
        self._finalizer: weakref.finalize | None = None
        _probes.add(self)

    @classmethod
    def for_engine(cls, engine: Engine) -> DataVersionProbe | None:
        """A probe for a SQLite engine on a database file, else None (PostgreSQL, memory, no
        usable library)."""
        if engine.dialect.name != "sqlite" or sqlite_library() is None:
            return None
        with engine.connect() as conn:
            main = [row[2] for row in conn.exec_driver_sql("PRAGMA database_list")
                    if row[1] == "main"]
        if not main or not main[0]:
            return None  # in memory or temporary: one connection, nothing to ask
        return cls(main[0])

    def version(self) -> int | None:
        """The database's data version as this probe's connection sees it now, or None when
        it cannot tell (the caller then asks the database the long way)."""
        if (self._handles is None or self._fork != _forks[0]) and self._open() is None:
            return None
        lib = _library
        with self._lock:  # one statement, one caller at a time; not while it is closed
            handles = self._handles
            if handles is None or self._fork != _forks[0]:
                return None
            stmt = handles[1]
            try:
                if lib.sqlite3_step(stmt) != _ROW:
                    return None
                return int(lib.sqlite3_column_int64(stmt, 0))
            finally:
                lib.sqlite3_reset(stmt)  # ends the read: no snapshot held between calls

    def _open(self) -> tuple[Any, Any] | None:
        with self._lock:
            if self._handles is not None and self._fork == _forks[0]:
                return self._handles
            if self._failed or (lib := sqlite_library()) is None:
                return None
            db, stmt = ctypes.c_void_p(), ctypes.c_void_p()
            flags = _OPEN_READONLY | _OPEN_FULLMUTEX | _OPEN_PRIVATECACHE
            if lib.sqlite3_open_v2(self.path.encode(), ctypes.byref(db), flags, None) != 0 \
                    or lib.sqlite3_prepare_v2(db, b"PRAGMA data_version", -1,
                                              ctypes.byref(stmt), None) != 0:
                if db.value:
                    lib.sqlite3_close_v2(db)
                self._failed = True
                return None
            # a forked child leaves the parent's connection alone: SQLite forbids using it,
            # and closing it there could release locks the parent's threads rely on
            self._handles, self._fork = (db, stmt), _forks[0]
            if self._finalizer is not None:
                self._finalizer.detach()
            self._finalizer = weakref.finalize(self, _close, lib, db, stmt, os.getpid())
            return self._handles

    def close(self) -> None:
        """Close the probe's connection (the next question opens another)."""
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()
            self._handles, self._finalizer = None, None


def _close(lib: Any, db: Any, stmt: Any, pid: int) -> None:
    if pid == os.getpid():
        with contextlib.suppress(Exception):
            lib.sqlite3_finalize(stmt)
            lib.sqlite3_close_v2(db)


def probe_for(engine: Engine) -> DataVersionProbe | None:
    """``DataVersionProbe.for_engine``, None when the database cannot be reached yet."""
    try:
        return DataVersionProbe.for_engine(engine)
    except sa.exc.DBAPIError:
        return None
