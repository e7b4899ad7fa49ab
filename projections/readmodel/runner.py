"""Keeps the read models current: reads the store after its checkpoint, commits rows and
checkpoint in one transaction. Signals only nudge it; a missed signal merely delays it.

A subject touched by new events is re-folded from its whole stream, so applying the same
events twice gives the same rows (idempotent), and catching up equals rebuilding.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from events import EventStore, RecordedEvent, events_committed
from projections.casebook import REGISTRATION, Casebook, apply, fold_casebook
from projections.readmodel.rows import subject_rows
from projections.readmodel.tables import checkpoints, metadata
from projections.trial_config import DEFAULT_TRIAL, TrialConfig

NAME = "trial"
TABLES = ("rm_subjects", "rm_adverse_events", "rm_visits")


class ProjectionRunner:
    """Catch-up and rebuild of the trial read models for one store."""

    def __init__(self, store: EventStore, *, config: TrialConfig = DEFAULT_TRIAL,
                 batch: int = 2000) -> None:
        self.store, self.config, self.batch = store, config, batch
        self._lock = threading.Lock()
        self._nudged = threading.Event()
        _RUNNERS[store] = self

    @property
    def engine(self) -> Engine:
        return self.store.engine

    # -- status --------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Return the checkpoint, the store head, the lag and the last error."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(checkpoints).where(checkpoints.c.name == NAME)).first()
        head = self.store.head()
        position = row.position if row else 0
        head_position = head.position if head else 0
        return {"name": NAME, "position": position, "head": head_position,
                "lag": head_position - position,
                "failed_position": row.failed_position if row else None,
                "last_error": row.last_error if row else None}

    # -- incremental -----------------------------------------------------------------------
    def catch_up(self) -> int:
        """Apply every event after the checkpoint; return how many were read.

        A failure is recorded on the checkpoint row and stops the catch-up there; the next
        call retries from the same checkpoint.
        """
        read = 0
        with self._lock:
            while True:
                after = self._checkpoint()
                page = self.store.read_all(after, self.batch)
                if not page:
                    return read
                try:
                    self._apply_page(after, page)
                except Exception as error:
                    self._record_failure(page[0].position, error)
                    return read
                read += len(page)

    def _apply_page(self, after: int, page: list[RecordedEvent]) -> None:
        touched = sorted({e.stream_id for e in page if not e.stream_id.startswith("user:")})
        books = [fold_casebook(self.store.read_stream(s)) for s in touched]
        with self.engine.begin() as conn:
            for book in books:
                if book is not None:
                    self._replace(conn, book)
            self._save_checkpoint(conn, after, page[-1].position)

    # -- rebuild -----------------------------------------------------------------------------
    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Empty the read models and fold every event again; return the events read."""
        with self._lock, _gc_paused():
            books: dict[str, Casebook] = {}
            last, read = 0, 0
            for page in _pages(self.store, self.batch):
                for event in page:
                    book = books.get(event.stream_id)
                    if event.type == REGISTRATION and event.stream_version == 1:
                        book = books[event.stream_id] = fold_casebook([event])
                    elif book is not None:
                        apply(book, event)
                last, read = page[-1].position, read + len(page)
                if progress:
                    progress(len(page))
            with self.engine.begin() as conn:
                for table in TABLES:
                    conn.execute(metadata.tables[table].delete())
                rows: dict[str, list[dict]] = {t: [] for t in TABLES}
                for book in books.values():
                    for table, table_rows in subject_rows(book, config=self.config).items():
                        rows[table].extend(table_rows)
                for table, table_rows in rows.items():
                    if table_rows:
                        conn.execute(metadata.tables[table].insert(), table_rows)
                conn.execute(checkpoints.delete().where(checkpoints.c.name == NAME))
                self._save_checkpoint(conn, None, last)
            books.clear()  # freed by reference counting before the collector resumes
            return read

    # -- background ---------------------------------------------------------------------------
    def nudge(self) -> None:
        """Tell the background worker there is something new (called on commit)."""
        self._nudged.set()

    def run_forever(self, stop: threading.Event, idle_seconds: float = 5.0,
                    gather_seconds: float = 0.5) -> None:
        """Catch up whenever nudged (or every ``idle_seconds``) until ``stop`` is set.

        After a nudge it waits ``gather_seconds`` so that a burst of writes is applied in one
        page, re-folding each touched subject once rather than once per event.
        """
        while not stop.is_set():
            if self._nudged.wait(idle_seconds):
                stop.wait(gather_seconds)
            self._nudged.clear()
            self.catch_up()

    # -- helpers -------------------------------------------------------------------------------
    def _replace(self, conn: sa.Connection, book: Casebook) -> None:
        for table, rows in subject_rows(book, config=self.config).items():
            t = metadata.tables[table]
            conn.execute(t.delete().where(t.c.subject_id == book.subject_id))
            if rows:
                conn.execute(t.insert(), rows)

    def _checkpoint(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(checkpoints.c.position)
                                 .where(checkpoints.c.name == NAME)).scalar()
        return value or 0

    @staticmethod
    def _save_checkpoint(conn: sa.Connection, expected: int | None, position: int) -> None:
        now = datetime.now(UTC)
        values = {"position": position, "updated_at": now, "failed_position": None,
                  "last_error": None}
        updated = conn.execute(checkpoints.update().where(
            checkpoints.c.name == NAME, checkpoints.c.position == expected), values).rowcount
        if not updated:
            if expected not in (None, 0):
                raise RuntimeError("the checkpoint moved under this runner")
            conn.execute(checkpoints.insert(), {"name": NAME, **values})

    def _record_failure(self, position: int, error: Exception) -> None:
        message = f"{type(error).__name__}: {error}"[:2000]
        with self.engine.begin() as conn:
            updated = conn.execute(checkpoints.update().where(checkpoints.c.name == NAME),
                                   {"failed_position": position, "last_error": message}
                                   ).rowcount
            if not updated:
                conn.execute(checkpoints.insert(), {
                    "name": NAME, "position": 0, "updated_at": datetime.now(UTC),
                    "failed_position": position, "last_error": message})


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a rebuild holds every casebook.

    Casebooks are acyclic and freed by reference counting; with a million events held, each
    full collection walks tens of millions of objects, and the collector runs dozens of them.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _pages(store: EventStore, batch: int) -> Iterable[list[RecordedEvent]]:
    after = 0
    while page := store.read_all(after, batch):
        yield page
        after = page[-1].position


_RUNNERS: weakref.WeakKeyDictionary[EventStore, ProjectionRunner] = weakref.WeakKeyDictionary()


def _on_commit(sender: EventStore, events: list[RecordedEvent]) -> None:
    runner = _RUNNERS.get(sender)
    if runner is not None:
        runner.nudge()


events_committed.connect(_on_commit)
