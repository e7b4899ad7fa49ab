"""Helpers that make appends really share one group commit, without mocks or sleeps-as-proof.

``HeldCommit`` holds the leader of the next batch just before its INSERT (through the
writer's ``insert_rows`` seam, on the store's real database), so later appends queue behind
it; ``in_thread`` and ``queue_in_order`` start appends in their own threads, each once the
previous one is in the store's queue, so queue order is known.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Engine

from events import EventStore


def queued(store: EventStore) -> int:
    """How many appends wait in the store's group-commit queue."""
    committer = store.group_commit
    with committer._lock:
        return len(committer._queue)


def wait_until(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition never held")
        time.sleep(0.002)


@contextmanager
def holding_the_writer_lock(engine: Engine) -> Iterator[None]:
    """Hold the store's writer lock from a connection of its own, as another process would
    (PostgreSQL: the advisory lock; SQLite: a write transaction), until the block ends."""
    from events.writer_connection import APPEND_LOCK

    holder = engine.raw_connection()
    driver = holder.driver_connection
    postgres = engine.dialect.name == "postgresql"
    try:
        driver.execute(APPEND_LOCK.replace("pg_advisory_xact_lock", "pg_advisory_lock")
                       if postgres else "BEGIN IMMEDIATE")
        yield
    finally:
        driver.execute("SELECT pg_advisory_unlock_all()" if postgres else "ROLLBACK")
        holder.close()


class Outcome:
    """One append run in a thread: its events, or the error it raised."""

    def __init__(self) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def join(self) -> Outcome:
        assert self.thread is not None
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the append never returned"
        return self


def in_thread(call: Callable[[], Any]) -> Outcome:
    outcome = Outcome()

    def run() -> None:
        try:
            outcome.result = call()
        except BaseException as error:  # the test inspects it
            outcome.error = error

    outcome.thread = threading.Thread(target=run, daemon=True)
    outcome.thread.start()
    return outcome


class InsertHook:
    """Run ``before(rows)`` / ``after(rows)`` around the writer's real INSERT of a batch
    (``BatchWriter.insert_rows``, the writer's own seam); hooks nest, and each is removed only
    once no batch is being written. While hooked, every batch takes the transaction."""

    def __init__(self, store: EventStore, before: Callable[[list], None] | None = None,
                 after: Callable[[list], None] | None = None) -> None:
        self.store, self.before, self.after = store, before, after

    def __enter__(self) -> InsertHook:
        writer = self.store._writer
        self._inner = writer.insert_rows
        # the hooks act between a transaction's INSERT and its COMMIT, which the
        # one-statement append (PostgreSQL) does not have: batches take the transaction
        self._one_statement = writer.one_statement
        writer.one_statement = False

        def insert(cursor: Any, rows: list) -> None:
            if self.before:
                self.before(rows)
            self._inner(cursor, rows)
            if self.after:
                self.after(rows)

        writer.insert_rows = insert
        return self

    def __exit__(self, *exc: object) -> None:
        committer = self.store.group_commit

        def idle() -> bool:
            with committer._lock:
                return not committer._leading and not committer._queue

        wait_until(idle, 60)
        self.store._writer.insert_rows = self._inner
        self.store._writer.one_statement = self._one_statement


class HeldCommit:
    """Hold the next batch's INSERT until ``release``; meanwhile appends queue behind it."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.reached = threading.Event()
        self._release = threading.Event()
        self._armed = True
        self._hook = InsertHook(store, before=self._hold)

    def _hold(self, _rows: list) -> None:
        if self._armed:
            self._armed = False
            self.reached.set()
            self._release.wait(timeout=60)

    def __enter__(self) -> HeldCommit:
        self._hook.__enter__()
        return self

    def release(self) -> None:
        self._release.set()

    def __exit__(self, *exc: object) -> None:
        """Release, and unhook once no batch is being written."""
        self._release.set()
        self._hook.__exit__(*exc)


def queue_in_order(store: EventStore, calls: list[Callable[[], Any]]) -> list[Outcome]:
    """Start each call in its own thread, one after the other once the previous one queued
    (the leader must be held, see HeldCommit): their queue order is the list's order."""
    outcomes = []
    for call in calls:
        before = queued(store)
        outcomes.append(in_thread(call))
        wait_until(lambda before=before: queued(store) == before + 1)
    return outcomes
