"""Keeps the read models current: reads the store after its checkpoint, commits rows and
checkpoint in one transaction. Signals only nudge it; a missed signal merely delays it.

A subject touched by new events is re-folded from its whole stream (up to the page's last
position): its summary, adverse-event, visit and query rows are replaced, and the audit rows of
its new events are added (an event's audit rows never change). Rows and checkpoint commit
together and a page is applied only from the checkpoint it read (else the transaction rolls
back), so no event's rows are written twice, and catching up equals rebuilding.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from events import EventStore, RecordedEvent, events_committed
from events.engine import WRITE
from events.store import writer_lock
from projections.casebook import REGISTRATION, Casebook, apply
from projections.casebook_cache import casebook_of
from projections.readmodel.reads import reader
from projections.readmodel.rows import subject_rows
from projections.readmodel.tables import audit_events, checkpoints, metadata, subjects
from projections.readmodel.trail import SubjectFold, audit_record, fold_subject, query_records
from projections.trial_config import DEFAULT_TRIAL, TrialConfig

NAME = "trial"
# The most of the CPU the background catch-up takes under sustained writes (see run_forever):
# at 0.1 the submission p95 under 8 clients was 44-60 ms, at 0.03 35-48 ms (A/B, 6 runs each).
BACKGROUND_SHARE = 0.03
MAX_PAUSE_SECONDS = 30.0
DELETE_CHUNK = 500  # subject ids per DELETE ... IN (...), below SQLite's variable limit
TABLES = ("rm_subjects", "rm_adverse_events", "rm_visits", "rm_queries", "rm_audit_events")


class ProjectionRunner:
    """Catch-up and rebuild of the trial read models for one store."""

    def __init__(self, store: EventStore, *, config: TrialConfig = DEFAULT_TRIAL,
                 batch: int = 2000) -> None:
        self.store, self.config, self.batch = store, config, batch
        self._lock = threading.Lock()
        # The rows this runner last committed per (subject, table), valid while the
        # checkpoint is still the one it saved (another process's catch-up clears them): a
        # table whose rows come out the same is not deleted and inserted again.
        self._written: dict[tuple[str, str], list[dict]] = {}
        self._written_at: int | None = None
        self._nudged = threading.Event()
        self._reader = reader(store.engine)
        _RUNNERS[store] = self

    @property
    def engine(self) -> Engine:
        return self.store.engine

    # -- status --------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Return the checkpoint, the store head, the lag and the last error."""
        with self._reader.connect() as conn:
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
        return self._catch_up()[0]

    def ensure_current(self) -> bool:
        """Catch up; tell whether the read models now cover the log up to its head as of this
        call (False when a projection failed: the caller must not serve them as whole)."""
        return self._catch_up()[1]

    def _catch_up(self) -> tuple[int, bool]:
        """Return the events read and whether the models reached the head.

        A page shorter than ``batch`` was read up to the head of that moment (positions are
        committed in order), which is at or after the head when the call began.
        """
        read = 0
        with self._lock:
            after, failed = self._checkpoint()
            if after != self._written_at:
                self._written.clear()
            while True:
                page = self.store.read_all(after, self.batch)
                if page:
                    try:
                        self._apply_page(after, page)
                    except Exception as error:
                        self._record_failure(page[0].position, error)
                        return read, False
                    read, after, failed = read + len(page), page[-1].position, None
                if len(page) < self.batch:
                    # a failure at or before the checkpoint is stale: applied since
                    return read, failed is None or failed <= after

    def _apply_page(self, after: int, page: list[RecordedEvent]) -> None:
        last = page[-1].position
        folds = [fold for stream in self._subject_streams(page)
                 if (fold := fold_subject(self.store.read_stream(stream, up_to_position=last),
                                          after, self._casebook_of)) is not None]
        # The rows are worked out before the writer lock is taken: on SQLite every append
        # waits while the runner holds it, and the projections are most of a catch-up's time.
        changed = [(fold, self._changed_tables(fold)) for fold in folds]
        written: dict[tuple[str, str], list[dict]] = {}
        with writer_lock(self.engine), \
                self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            self._replace(conn, changed, written)
            self._save_checkpoint(conn, after, last)
        self._written.update(written)  # committed
        self._written_at = last

    def _casebook_of(self, events: Sequence[RecordedEvent]) -> Casebook | None:
        return casebook_of(self.store, events)

    def _subject_streams(self, page: list[RecordedEvent]) -> list[str]:
        """The subject streams among the page's: registered in it, or known to the models
        (account, audit-log and security streams are skipped without being read)."""
        streams = {e.stream_id for e in page}
        registered = {e.stream_id for e in page
                      if e.type == REGISTRATION and e.stream_version == 1}
        with self._reader.connect() as conn:
            known = set(conn.execute(sa.select(subjects.c.subject_id).where(
                subjects.c.subject_id.in_(sorted(streams - registered)))).scalars())
        return sorted(registered | known)

    # -- rebuild -----------------------------------------------------------------------------
    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Empty the read models and fold every event again; return the events read.

        One transaction: the audit rows are written page by page as the log is read (they
        are too many to hold), the other rows at the end, then the checkpoint.
        """
        with self._lock, _gc_paused(), writer_lock(self.engine), \
                self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            for table in TABLES:
                conn.execute(metadata.tables[table].delete())
            folds: dict[str, SubjectFold] = {}
            last, read = 0, 0
            for page in _pages(self.store, self.batch):
                records: list[dict] = []
                for event in page:
                    fold = folds.get(event.stream_id)
                    if event.type == REGISTRATION and event.stream_version == 1:
                        values = event.data["values"]
                        fold = folds[event.stream_id] = SubjectFold(
                            Casebook(values["subject_id"], values["site_id"]), event.position)
                    if fold is not None:
                        if record := audit_record(fold.book, event):
                            records.append(record)
                        apply(fold.book, event)
                insert_many(conn, audit_events, records)
                last, read = page[-1].position, read + len(page)
                if progress:
                    progress(len(page))
            rows: dict[str, list[dict]] = {t: [] for t in TABLES}
            for fold in folds.values():
                for table, table_rows in subject_rows(fold.book, config=self.config).items():
                    rows[table].extend(table_rows)
                rows["rm_queries"] += query_records(fold.book, fold.registered_position)
            for table, table_rows in rows.items():
                insert_many(conn, metadata.tables[table], table_rows)
            conn.execute(checkpoints.delete().where(checkpoints.c.name == NAME))
            self._save_checkpoint(conn, None, last)
            self._written.clear()
            self._written_at = None
            folds.clear()  # freed by reference counting before the collector resumes
        if self.engine.dialect.name == "postgresql":
            # fresh statistics, so the planner uses the indexes on the new rows at once
            # (a role that does not own the tables gets a warning, not an error)
            with self._reader.connect() as conn:
                conn.exec_driver_sql("ANALYZE " + ", ".join(TABLES))
        return read

    # -- background ---------------------------------------------------------------------------
    def nudge(self) -> None:
        """Tell the background worker there is something new (called on commit)."""
        self._nudged.set()

    def run_forever(self, stop: threading.Event, idle_seconds: float = 5.0,
                    gather_seconds: float = 1.0, share: float = BACKGROUND_SHARE) -> None:
        """Catch up whenever nudged (or every ``idle_seconds``) until ``stop`` is set.

        After a nudge it waits ``gather_seconds`` so that a burst of writes is applied in one
        page, re-folding each touched subject once rather than once per event; and at least
        long enough that its catch-ups take no more than ``share`` of the process's CPU
        (`background_pause`): under sustained writes the requests, which share the GIL with
        it, come first. Nothing reads the models without catching up first
        (`ensure_current`), so a longer pause delays work, never an answer.
        """
        pause = 0.0
        while not stop.is_set():
            if self._nudged.wait(idle_seconds) and stop.wait(max(gather_seconds, pause)):
                break  # stopping: no new catch-up (the next start catches up)
            self._nudged.clear()
            started = time.thread_time()
            self.catch_up()
            pause = background_pause(time.thread_time() - started, share)

    # -- helpers -------------------------------------------------------------------------------
    def _changed_tables(self, fold: SubjectFold) -> dict[str, list[dict]]:
        """A subject's rows per table, less the tables whose rows this runner committed
        last time exactly so (pure: no database)."""
        book = fold.book
        tables = {**subject_rows(book, config=self.config),
                  "rm_queries": query_records(book, fold.registered_position)}
        return {table: rows for table, rows in tables.items()
                if self._written.get((book.subject_id, table)) != rows}

    def _replace(self, conn: sa.Connection,
                 changed: list[tuple[SubjectFold, dict[str, list[dict]]]],
                 written: dict[tuple[str, str], list[dict]]) -> None:
        """Replace the changed tables' rows of every touched subject and add the audit rows
        of the new events: per table one DELETE of those subjects and one bulk insert (on
        SQLite every append waits while this runs, so it is a dozen statements, not two per
        subject and table)."""
        replaced: dict[str, tuple[list[str], list[dict]]] = {}
        audit: list[dict] = []
        for fold, tables in changed:
            subject_id = fold.book.subject_id
            for table, rows in tables.items():
                written[(subject_id, table)] = rows
                ids, table_rows = replaced.setdefault(table, ([], []))
                ids.append(subject_id)
                table_rows.extend(rows)
            audit.extend(fold.audit)
        for table, (ids, rows) in replaced.items():
            t = metadata.tables[table]
            for start in range(0, len(ids), DELETE_CHUNK):
                conn.execute(t.delete().where(
                    t.c.subject_id.in_(ids[start:start + DELETE_CHUNK])))
            insert_many(conn, t, rows)
        insert_many(conn, audit_events, audit)

    def _checkpoint(self) -> tuple[int, int | None]:
        """The checkpoint's position and failed position (0, None before the first run)."""
        with self._reader.connect() as conn:
            row = conn.execute(sa.select(checkpoints.c.position, checkpoints.c.failed_position)
                               .where(checkpoints.c.name == NAME)).first()
        return (row.position, row.failed_position) if row else (0, None)

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
        with writer_lock(self.engine), \
                self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            updated = conn.execute(checkpoints.update().where(checkpoints.c.name == NAME),
                                   {"failed_position": position, "last_error": message}
                                   ).rowcount
            if not updated:
                conn.execute(checkpoints.insert(), {
                    "name": NAME, "position": 0, "updated_at": datetime.now(UTC),
                    "failed_position": position, "last_error": message})


def background_pause(cost_seconds: float, share: float = BACKGROUND_SHARE) -> float:
    """How long to wait after a catch-up that took ``cost_seconds`` of CPU so that catch-ups
    take at most ``share`` of the time: cost / (cost + pause) <= share (at most 30 s)."""
    if not 0 < share <= 1:
        raise ValueError("share must be in (0, 1]")
    return min(MAX_PAUSE_SECONDS, max(0.0, cost_seconds) * (1 - share) / share)


def insert_many(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows through the driver (COPY on PostgreSQL, executemany on SQLite): a
    rebuild writes millions of rows, and SQLAlchemy's per-row parameter processing would cost
    a quarter of its time (PostgreSQL's executemany half)."""
    if not rows:
        return
    names = [c.name for c in table.columns]
    if conn.dialect.name == "postgresql":
        quote = conn.dialect.identifier_preparer.quote
        driver = conn.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(
                f"COPY {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
                "FROM STDIN") as copy:
            for row in rows:
                copy.write_row(tuple(row[n] for n in names))
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    quote = conn.dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
           f"VALUES ({', '.join([mark] * len(names))})")
    conn.exec_driver_sql(sql, [tuple(row[n] for n in names) for row in rows])


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
