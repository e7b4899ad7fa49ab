"""Benchmark the projections: full rebuild, as-of queries, and submit latency vs store size.

Run from the repository root::

    .venv/bin/python benchmarks/bench_projections.py [--subjects 2000 --events 500]
        [--only sqlite|postgres] [--runs 3] [--quick] [--no-docs]

For SQLite (a file in a temporary directory) and PostgreSQL (a fresh schema, dropped at the
end), one invocation:

0. generates a trial of ``subjects x events`` with ``benchmarks/trial_generator.py``
   (events appended 50 per commit, payloads shaped as the command layer records them) and
   reports the generation rate (not a target);
a. times full rebuilds of the read models, ``ProjectionRunner(store).rebuild()`` (median of
   ``--runs``, each a full rebuild), and splits the time of one extra, instrumented rebuild
   into reading (SQL fetch, JSON decode), folding, projecting and writing rows;
b. measures as-of queries of one subject (all its events, 500 at full size) through the real
   API (Flask test client, bearer token): ``GET /api/v1/subjects/<id>/efficacy|safety|
   eligibility?position=<p>`` at random positions of that subject's stream, p50/p95, with the
   app's stream cache warm and cold, and the pure read + fold + projection time without HTTP;
c. measures ``submit_form`` of a platelet count (the command path, with a real ``User``) to
   subjects with short streams, p50/p95, in a store of 10,000 events and in the generated
   trial (1,000,000 events at full size), interleaved in small turns, and their ratio.

The Markdown table is printed and, for a full run on both databases, written to
docs/benchmarks.md under "## Projections" (only that section is replaced). ``--quick``
(100 subjects x 100 events, fewer requests) is a smoke test and writes nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import os
import platform
import pstats
import random
import re
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("ECRF_SECRET_KEY", "bench-projections-secret")  # no instance file

import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402

import projections.readmodel.rows as rows_module  # noqa: E402
import projections.readmodel.runner as runner_module  # noqa: E402
from benchmarks.trial_generator import TrialGenerator, TrialStats  # noqa: E402
from ecrf.accounts.model import User  # noqa: E402
from ecrf.accounts.service import create_user  # noqa: E402
from ecrf.api.projections import forget_projections  # noqa: E402
from ecrf.app import create_app  # noqa: E402
from ecrf.builder import SubjectBuilder  # noqa: E402
from ecrf.commands.forms import submit_form  # noqa: E402
from ecrf.schema import upgrade  # noqa: E402
from events import EventStore, make_engine  # noqa: E402
from projections.casebook import fold_casebook  # noqa: E402
from projections.casebook_cache import forget_casebooks  # noqa: E402
from projections.edit_checks import findings  # noqa: E402
from projections.efficacy import efficacy  # noqa: E402
from projections.eligibility import eligibility  # noqa: E402
from projections.readmodel.runner import ProjectionRunner  # noqa: E402
from projections.readmodel.tables import subjects as rm_subjects  # noqa: E402
from projections.safety import safety  # noqa: E402

PG_HOST, PG_PORT, PG_USER, PG_DB = "127.0.0.1", 5432, "postgres", "test"
PG_URL = f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DB}"
PG_DSN = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={PG_DB}"
DB_LABEL = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
PASSWORD = "bench-password-1"
SITE = "SITE-01"
BENCH_USER = User("bench", "site_staff", (SITE,), "Bench")
ENDPOINTS = ("efficacy", "safety", "eligibility")
PROJECTIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "efficacy": efficacy, "safety": safety, "eligibility": eligibility}

# Targets (the issue).
REBUILD_RATE_TARGET = 30_000  # events/s
REBUILD_1M_SECONDS = 60.0
ASOF_P95_MS = 20.0
SUBMIT_RATIO = 1.2


@dataclass(frozen=True)
class Sizes:
    subjects: int
    events: int
    small_store: int  # events of the small store for the submit comparison
    requests: int  # as-of requests per endpoint
    submits: int  # timed submits per store
    submit_subjects: int = 20  # short-stream subjects the submits go round-robin over
    turn: int = 10  # submits per turn before the other store takes over


FULL = Sizes(subjects=2000, events=500, small_store=10_000, requests=200, submits=200)
QUICK = Sizes(subjects=100, events=100, small_store=2_000, requests=40, submits=40)


# -- small helpers -----------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def p50_p95(values: list[float]) -> tuple[float, float]:
    return percentile(values, 0.50), percentile(values, 0.95)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def _pg_admin(sql: str) -> None:
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(sql)


@dataclass
class Storage:
    """A fresh, migrated database; ``close`` disposes of the engine and deletes the data."""

    db: str
    engine: sa.Engine
    store: EventStore
    _drop: Callable[[], None]

    def close(self) -> None:
        self.engine.dispose()
        self._drop()


def fresh_storage(db: str, workdir: Path, tag: str) -> Storage:
    name = f"{tag}_{uuid.uuid4().hex[:10]}"
    if db == "sqlite":
        path = workdir / f"{name}.db"
        engine = make_engine(f"sqlite:///{path}")

        def drop() -> None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{path}{suffix}")
    else:
        schema = f"bench_proj_{name}"
        _pg_admin(f'CREATE SCHEMA "{schema}"')
        engine = make_engine(PG_URL, connect_args={"options": f"-c search_path={schema}"})

        def drop() -> None:
            _pg_admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    try:
        upgrade(engine)
    except BaseException:
        engine.dispose()
        drop()
        raise
    return Storage(db, engine, EventStore(engine), drop)


def forget_stream(store: EventStore, stream_id: str) -> bool:
    """A cold read: drop the stream from the store's decoded-stream cache, its casebooks
    from the casebook cache and the subject's remembered projections; False if no cache."""
    forget_casebooks(store, stream_id)
    forget_projections(store, stream_id)
    cache = getattr(store, "_cache", None)
    streams = getattr(cache, "_streams", None)
    if streams is None:
        return False
    streams.pop(stream_id, None)
    return True


class GcTimer:
    """Time spent in the cyclic garbage collector (``gc.callbacks``) while active."""

    def __init__(self) -> None:
        self.seconds, self.full, self._t0 = 0.0, 0, 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._t0
            self.full += info["generation"] == 2

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_exc: Any) -> None:
        gc.callbacks.remove(self._callback)


@contextlib.contextmanager
def patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    had = name in vars(obj)  # a module attribute, or an instance's own (not its class's)
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        if had:
            setattr(obj, name, old)
        else:
            delattr(obj, name)


# -- results -----------------------------------------------------------------------------------
@dataclass
class DbResult:
    db: str
    gen: TrialStats | None = None
    rebuild_seconds: list[float] = field(default_factory=list)
    rebuild_events: int = 0
    rebuild_rss_growth_mb: float = 0.0
    rebuild_gc: list[tuple[float, int]] = field(default_factory=list)  # seconds, full GCs
    split: dict[str, float] = field(default_factory=dict)
    split_total: float = 0.0
    split_gc: tuple[float, int] = (0.0, 0)
    read_models: dict[str, Any] = field(default_factory=dict)
    asof_subject: str = ""
    asof_events: int = 0
    http_warm: dict[str, list[float]] = field(default_factory=dict)  # endpoint -> ms
    http_cold: dict[str, list[float]] = field(default_factory=dict)
    pure: dict[str, list[float]] = field(default_factory=dict)  # step -> ms
    small_events: int = 0
    big_events: int = 0
    submit: dict[str, list[float]] = field(default_factory=dict)  # "small"/"big" -> ms
    submit_append: dict[str, list[float]] = field(default_factory=dict)
    durability: str = ""
    profile: str = ""

    @property
    def rebuild_median(self) -> float:
        return statistics.median(self.rebuild_seconds)

    @property
    def rebuild_rate(self) -> float:
        return self.rebuild_events / self.rebuild_median


# -- (a) rebuild -------------------------------------------------------------------------------
def time_rebuilds(storage: Storage, runs: int, res: DbResult) -> None:
    runner = ProjectionRunner(storage.store)
    growth = 0.0
    for run in range(runs):
        gc.collect()
        before = peak = rss_mb()

        def progress(_n: int) -> None:  # after each page of 2,000 events
            nonlocal peak
            peak = max(peak, rss_mb())

        with GcTimer() as collector:
            t0 = time.perf_counter()
            read = runner.rebuild(progress=progress)
            elapsed = time.perf_counter() - t0
        growth = max(growth, peak - before)
        res.rebuild_seconds.append(elapsed)
        res.rebuild_gc.append((collector.seconds, collector.full))
        res.rebuild_events = read
        log(f"{storage.db}: rebuild {run + 1}/{runs}: {read:,} events in {elapsed:.1f} s "
            f"= {read / elapsed:,.0f} ev/s (RSS +{peak - before:,.0f} MB during the fold; "
            f"cyclic GC {collector.seconds:.1f} s, {collector.full} full collections)")
    res.rebuild_rss_growth_mb = growth
    with storage.engine.connect() as conn:
        res.read_models = {
            "subjects": conn.execute(sa.select(sa.func.count()).select_from(rm_subjects))
            .scalar_one(),
            "best_response": dict(conn.execute(
                sa.select(rm_subjects.c.best_response, sa.func.count())
                .group_by(rm_subjects.c.best_response)).all()),
            "eligibility": dict(conn.execute(
                sa.select(rm_subjects.c.eligibility_status, sa.func.count())
                .group_by(rm_subjects.c.eligibility_status)).all()),
            "rows": {t: conn.execute(sa.select(sa.func.count()).select_from(
                runner_module.metadata.tables[t])).scalar_one() for t in runner_module.TABLES},
        }


def instrumented_rebuild(storage: Storage) -> tuple[dict[str, float], float,
                                                   tuple[float, int]]:
    """One more full rebuild, timed by phase through wrappers around the runner's steps.

    read = time inside the store's page reads (split into SQL fetch and JSON decode of the
    envelope + payload); fold = the runner's loop over a page (``apply`` per event) measured
    between page yields; project = ``subject_rows`` per subject (split by projection);
    write = SQL DELETE/INSERT/UPDATE statements of the read models; other = the rest (commit,
    begin, Python glue). The cyclic garbage collector's time (``gc.callbacks``) falls inside
    whichever phase allocated when it ran, and is also given on its own.
    """
    store, engine = storage.store, storage.engine
    t: dict[str, float] = Counter()
    original_pages, original_decode = runner_module._pages, store._decode_all
    original_rows = runner_module.subject_rows

    def timed_pages(st: EventStore, batch: int) -> Iterator[list]:
        pages = original_pages(st, batch)
        while True:
            t0 = time.perf_counter()
            page = next(pages, None)
            t["read"] += time.perf_counter() - t0
            if page is None:
                return
            t1 = time.perf_counter()
            yield page
            t["fold"] += time.perf_counter() - t1

    def timed_decode(rows: Any) -> Any:
        t0 = time.perf_counter()
        out = original_decode(rows)
        t["read: JSON decode + envelope"] += time.perf_counter() - t0
        return out

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                t[name] += time.perf_counter() - t0
        return run

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip()[:6].upper() in ("INSERT", "DELETE", "UPDATE") \
                and not bulk:  # the bulk inserts are timed on their own
            t["write rows (SQL)"] += time.perf_counter() - conn.info.pop("bench_t0", 0.0)

    bulk: list[bool] = []
    original_insert = runner_module.insert_many

    def timed_insert(conn: Any, table: sa.Table, rows: list) -> None:
        # the audit events are inserted page by page, inside the fold's loop
        name = "write: audit events" if table.name == "rm_audit_events" else "write: bulk"
        bulk.append(True)
        try:
            timed(name, original_insert)(conn, table, rows)
        finally:
            bulk.pop()

    runner = ProjectionRunner(store)
    gc.collect()
    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(patched(runner_module, "_pages", timed_pages))
            stack.enter_context(patched(store, "_decode_all", timed_decode))
            stack.enter_context(patched(runner_module, "subject_rows",
                                        timed("project", original_rows)))
            stack.enter_context(patched(runner_module, "insert_many", timed_insert))
            stack.enter_context(patched(runner_module, "audit_record", timed(
                "audit", runner_module.audit_record)))
            for name, label in (("response_summary", "efficacy"),
                                ("safety_summary", "safety"), ("schedule", "schedule"),
                                ("eligibility", "eligibility")):
                stack.enter_context(patched(rows_module, name, timed(
                    f"project: {label}", getattr(rows_module, name))))
            collector = stack.enter_context(GcTimer())
            t0 = time.perf_counter()
            runner.rebuild()
            total = time.perf_counter() - t0
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)
    decode = t["read: JSON decode + envelope"]
    inner = sum(t[f"project: {n}"] for n in ("efficacy", "safety", "schedule", "eligibility"))
    split = {
        "read: SQL fetch": t["read"] - decode,
        "read: JSON decode + envelope": decode,
        "fold (apply per event)": t["fold"] - t["audit"] - t["write: audit events"],
        "audit rows of each event (event_parts + JSON text)": t["audit"],
        "project: efficacy": t["project: efficacy"],
        "project: safety": t["project: safety"],
        "project: schedule": t["project: schedule"],
        "project: eligibility": t["project: eligibility"],
        "project: rest of subject_rows (status, rows)": t["project"] - inner,
        "write rows (SQL)": t["write rows (SQL)"] + t["write: bulk"]
        + t["write: audit events"],
    }
    split["other (commit, glue)"] = total - sum(split.values())
    return split, total, (collector.seconds, collector.full)


def profile_rebuild(storage: Storage, top: int = 25) -> str:
    profiler = cProfile.Profile()
    runner = ProjectionRunner(storage.store)
    gc.collect()
    profiler.enable()
    runner.rebuild()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def sanity_check(storage: Storage, stats: TrialStats, sample: int = 5) -> None:
    """A few generated subjects fold, are eligible and trip no edit check."""
    for subject_id in stats.subject_ids[:: max(1, len(stats.subject_ids) // sample)][:sample]:
        book = fold_casebook(storage.store.read_stream(subject_id))
        assert book is not None, subject_id
        status = eligibility(book)["status"]
        if status != "eligible" or findings(book):
            raise AssertionError(f"generated subject {subject_id} is {status} with findings "
                                 f"{findings(book)}")


# -- (b) as-of ---------------------------------------------------------------------------------
def measure_asof(storage: Storage, stats: TrialStats, sizes: Sizes, res: DbResult,
                 seed: int) -> None:
    store = storage.store
    subject = next(s for s in stats.subject_ids if stats.sites[s] == SITE)
    positions_all = [e.position for e in store.read_stream(subject)]
    res.asof_subject, res.asof_events = subject, len(positions_all)
    rng = random.Random(seed)
    positions = [rng.choice(positions_all) for _ in range(sizes.requests)]

    create_user(store, BENCH_USER.username, PASSWORD, BENCH_USER.role, list(BENCH_USER.sites),
                BENCH_USER.full_name)
    app = create_app({"ENGINE": storage.engine, "SECRET_KEY": "bench-projections",
                      "TESTING": True})
    app_store = app.extensions["ecrf"].store
    request_log = sys.modules["ecrf.request_log"].log
    with open(os.devnull, "w") as devnull:
        # Keep the request log's formatting work, send its lines nowhere.
        streams = [(h, h.setStream(devnull)) for h in request_log.handlers
                   if hasattr(h, "setStream")]
        try:
            client = app.test_client()
            reply = client.post("/api/v1/auth/token",
                                json={"username": BENCH_USER.username, "password": PASSWORD})
            assert reply.status_code == 200, reply.get_json()
            headers = {"Authorization": f"Bearer {reply.get_json()['access_token']}"}

            def get(endpoint: str, position: int) -> float:
                t0 = time.perf_counter()
                reply = client.get(f"/api/v1/subjects/{subject}/{endpoint}?position={position}",
                                   headers=headers)
                elapsed = (time.perf_counter() - t0) * 1000
                body = reply.get_json()
                if reply.status_code != 200 or body["as_of_position"] != position:
                    raise AssertionError(f"{endpoint}@{position}: {reply.status_code} {body}")
                return elapsed

            for endpoint in ENDPOINTS:  # warm-up: imports, caches, connection pool
                for p in positions[:5]:
                    get(endpoint, p)
            gc.collect()
            warm: dict[str, list[float]] = {e: [] for e in ENDPOINTS}
            for p in positions:
                for endpoint in ENDPOINTS:
                    warm[endpoint].append(get(endpoint, p))
            cold: dict[str, list[float]] = {e: [] for e in ENDPOINTS}
            has_cache = forget_stream(app_store, subject)
            for p in positions:
                for endpoint in ENDPOINTS:
                    forget_stream(app_store, subject)
                    cold[endpoint].append(get(endpoint, p))
            res.http_warm, res.http_cold = warm, cold
            if not has_cache:
                res.http_cold = {}
        finally:
            for handler, old in streams:
                handler.setStream(old)

    # Pure: read (warm and cold) + fold + projection, no HTTP, no auth.
    pure: dict[str, list[float]] = {k: [] for k in (
        "read_stream, cold", "read_stream, warm", "fold", *ENDPOINTS)}
    reader = EventStore(storage.engine)
    for p in positions[:5]:
        fold_casebook(reader.read_stream(subject), up_to_position=p)
    gc.collect()
    for p in positions:
        forget_stream(reader, subject)
        t0 = time.perf_counter()
        reader.read_stream(subject, up_to_position=p)
        t1 = time.perf_counter()
        events = reader.read_stream(subject, up_to_position=p)
        t2 = time.perf_counter()
        book = fold_casebook(events, up_to_position=p)
        t3 = time.perf_counter()
        pure["read_stream, cold"].append((t1 - t0) * 1000)
        pure["read_stream, warm"].append((t2 - t1) * 1000)
        pure["fold"].append((t3 - t2) * 1000)
        for endpoint in ENDPOINTS:
            t4 = time.perf_counter()
            PROJECTIONS[endpoint](book)
            pure[endpoint].append((time.perf_counter() - t4) * 1000)
    res.pure = pure


# -- (c) submit latency ------------------------------------------------------------------------
def short_subjects(store: EventStore, count: int, prefix: str, today: date) -> list[str]:
    """Subjects entered through the command path: screening and treatment, ~10 events each."""
    ids = []
    for i in range(count):
        builder = SubjectBuilder(store, f"{prefix}-{i + 1:03d}", user=BENCH_USER,
                                 day0=today - timedelta(days=60), site_id=SITE)
        builder.full_screening(15)
        builder.treat()
        ids.append(builder.subject_id)
    return ids


def measure_submits(stores: dict[str, Storage], sizes: Sizes, res: DbResult,
                    today: date) -> None:
    """Submit platelet counts to short-stream subjects of both stores, in alternating turns."""
    subjects = {k: short_subjects(s.store, sizes.submit_subjects, f"SUB{k[0].upper()}", today)
                for k, s in stores.items()}
    for key, storage in stores.items():
        setattr(res, f"{key}_events", storage.store.count())
    counter = {k: 0 for k in stores}
    latencies: dict[str, list[float]] = {k: [] for k in stores}
    appends: dict[str, list[float]] = {k: [] for k in stores}
    day0 = today - timedelta(days=60)

    def payload(n: int) -> dict[str, Any]:
        day = day0 + timedelta(days=1 + n // sizes.submit_subjects % 55)
        return {"visit": "UNSCHEDULED", "collected_at": f"{day.isoformat()}T09:00:00+00:00",
                "platelets": 20 + n % 80}

    def submit(key: str, timed: bool) -> None:
        store = stores[key].store
        n = counter[key]
        counter[key] += 1
        subject = subjects[key][n % len(subjects[key])]
        spent = [0.0]
        original = store.append

        def timed_append(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - t0

        store.append = timed_append  # type: ignore[method-assign]
        try:
            t0 = time.perf_counter()
            outcome = submit_form(store, BENCH_USER, subject, "platelet_count", payload(n))
            elapsed = time.perf_counter() - t0
        finally:
            del store.append
        if outcome.entry_id is None:
            raise AssertionError("submit_form returned no entry")
        if timed:
            latencies[key].append(elapsed * 1000)
            appends[key].append(spent[0] * 1000)

    for key in stores:  # warm-up: one submit per subject (stream caches, pools, statements)
        for _ in range(sizes.submit_subjects):
            submit(key, timed=False)
    gc.collect()
    keys = list(stores)
    for turn, _lo in enumerate(range(0, sizes.submits, sizes.turn)):
        for key in (keys if turn % 2 == 0 else keys[::-1]):
            for _ in range(sizes.turn):
                submit(key, timed=True)
    res.submit, res.submit_append = latencies, appends


# -- one database --------------------------------------------------------------------------------
def durability_of(storage: Storage) -> str:
    with storage.engine.connect() as conn:
        if storage.db == "sqlite":
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            return f"journal_mode={mode}, synchronous={ {2: 'FULL', 1: 'NORMAL'}.get(sync, sync)}"
        names = ("synchronous_commit", "fsync")
        return ", ".join(f"{n}={conn.exec_driver_sql(f'SHOW {n}').scalar()}" for n in names)


def run_db(db: str, sizes: Sizes, runs: int, workdir: Path, seed: int, profile: bool
           ) -> DbResult:
    res = DbResult(db)
    today = datetime.now(UTC).date()
    big = fresh_storage(db, workdir, "trial")
    small: Storage | None = None
    try:
        res.durability = durability_of(big)
        total = sizes.subjects * sizes.events
        step = max(1, total // 10)
        done = [0]

        def progress(n: int) -> None:
            before, done[0] = done[0], done[0] + n
            if before // step != done[0] // step:
                log(f"{db}: generated {done[0]:,} / {total:,} events")

        log(f"{db}: generating {sizes.subjects:,} subjects x {sizes.events} events")
        generator = TrialGenerator(seed=seed, today=today)
        res.gen = generator.generate(big.store, sizes.subjects, sizes.events, progress=progress)
        log(f"{db}: generated {res.gen.events:,} events in {res.gen.seconds:.1f} s "
            f"({res.gen.rate:,.0f} ev/s; {res.gen.validated:,} entries re-validated)")
        sanity_check(big, res.gen)

        time_rebuilds(big, runs, res)
        if res.read_models["subjects"] != sizes.subjects:
            raise AssertionError(f"read model holds {res.read_models['subjects']} subjects")
        res.split, res.split_total, res.split_gc = instrumented_rebuild(big)
        log(f"{db}: instrumented rebuild {res.split_total:.1f} s: " + ", ".join(
            f"{k} {v:.1f}" for k, v in res.split.items()))
        if profile:
            res.profile = profile_rebuild(big)
            print(res.profile)

        log(f"{db}: as-of queries")
        measure_asof(big, res.gen, sizes, res, seed)

        log(f"{db}: submit latency, {sizes.small_store:,}-event store vs the trial")
        small = fresh_storage(db, workdir, "small")
        per = sizes.events
        TrialGenerator(seed=seed + 1, today=today, prefix="SM").generate(
            small.store, max(1, sizes.small_store // per), per)
        measure_submits({"small": small, "big": big}, sizes, res, today)
        log(f"{db}: submit p50 small {percentile(res.submit['small'], 0.5):.2f} ms, "
            f"big {percentile(res.submit['big'], 0.5):.2f} ms")
    finally:
        if small is not None:
            small.close()
        big.close()
    return res


# -- report --------------------------------------------------------------------------------------
def status(met: bool) -> str:
    return "met" if met else "**missed**"


def ms(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.2f} / {pair[1]:.2f} ms"


def build_table(results: list[DbResult], sizes: Sizes) -> tuple[str, list[str]]:
    lines = ["| DB | measure | result | target | status |", "|---|---|--:|---|---|"]
    misses: list[str] = []

    def row(db: str, measure: str, result: str, target: str = "—",
            met: bool | None = None) -> None:
        lines.append(f"| {db} | {measure} | {result} | {target} | "
                     f"{'—' if met is None else status(met)} |")
        if met is False:
            misses.append(f"{db}: {measure}")

    for r in results:
        db = DB_LABEL[r.db]
        assert r.gen is not None
        row(db, f"generate the trial ({r.gen.subjects:,} subjects x {sizes.events} events, "
                f"50 per append)", f"{r.gen.rate:,.0f} ev/s ({r.gen.seconds:.0f} s)",
            "not a target")
        gc_share = statistics.median(g for g, _ in r.rebuild_gc) / r.rebuild_median
        row(db, f"full rebuild, all read models, {r.rebuild_events:,} events (share in the "
                f"cyclic GC)", f"{r.rebuild_rate:,.0f} ev/s ({100 * gc_share:.0f}% GC)",
            f"≥ {REBUILD_RATE_TARGET:,} ev/s", r.rebuild_rate >= REBUILD_RATE_TARGET)
        per_million = r.rebuild_median * 1_000_000 / r.rebuild_events
        exact = r.rebuild_events == 1_000_000
        row(db, "full rebuild, time for 1,000,000 events" + ("" if exact else
                                                             " (extrapolated)"),
            f"{per_million:.1f} s", f"< {REBUILD_1M_SECONDS:.0f} s",
            per_million < REBUILD_1M_SECONDS)
        for endpoint in ENDPOINTS:
            pair = p50_p95(r.http_warm[endpoint])
            row(db, f"as-of {endpoint}, HTTP, {r.asof_events}-event subject, warm cache "
                    f"(p50 / p95)", ms(pair),
                f"p95 ≤ {ASOF_P95_MS:.0f} ms", pair[1] <= ASOF_P95_MS)
        for endpoint in ENDPOINTS:
            if r.http_cold:
                pair = p50_p95(r.http_cold[endpoint])
                row(db, f"as-of {endpoint}, HTTP, {r.asof_events}-event subject, cold cache "
                        f"(p50 / p95)", ms(pair), f"p95 ≤ {ASOF_P95_MS:.0f} ms",
                    pair[1] <= ASOF_P95_MS)
        for endpoint in ENDPOINTS:
            combined = [a + b + c for a, b, c in zip(
                r.pure["read_stream, warm"], r.pure["fold"], r.pure[endpoint], strict=True)]
            row(db, f"as-of {endpoint}, no HTTP: read (warm) + fold + projection "
                    f"(p50 / p95)",
                ms(p50_p95(combined)))
        small, big = (p50_p95(r.submit[k]) for k in ("small", "big"))
        row(db, f"submit_form platelet count, {r.small_events:,}-event store (p50 / p95)",
            ms(small))
        row(db, f"submit_form platelet count, {r.big_events:,}-event store (p50 / p95)",
            ms(big))
        ratio50, ratio95 = big[0] / small[0], big[1] / small[1]
        row(db, "submit latency ratio, big / small store: p50 (p95)",
            f"{ratio50:.2f}x ({ratio95:.2f}x)", f"p50 ≤ {SUBMIT_RATIO}x",
            ratio50 <= SUBMIT_RATIO)
    return "\n".join(lines), misses


def split_table(results: list[DbResult]) -> str:
    names = list(results[0].split)
    head = "| phase of one instrumented rebuild | " + " | ".join(
        DB_LABEL[r.db] for r in results) + " |"
    lines = [head, "|---|" + "--:|" * len(results)]
    for name in names:
        cells = [f"{r.split[name]:.1f} s ({100 * r.split[name] / r.split_total:.0f}%)"
                 for r in results]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| **total** | " + " | ".join(
        f"**{r.split_total:.1f} s** ({r.rebuild_events / r.split_total:,.0f} ev/s)"
        for r in results) + " |")
    lines.append("| of which in the cyclic garbage collector (spread over the phases) | "
                 + " | ".join(f"{r.split_gc[0]:.1f} s ({100 * r.split_gc[0] / r.split_total:.0f}"
                              f"%, {r.split_gc[1]} full collections)" for r in results) + " |")
    return "\n".join(lines)


def asof_table(results: list[DbResult]) -> str:
    steps = list(results[0].pure)
    head = "| as-of step, no HTTP (p50 / p95) | " + " | ".join(
        DB_LABEL[r.db] for r in results) + " |"
    lines = [head, "|---|" + "--:|" * len(results)]
    for step in steps:
        lines.append(f"| {step} | " + " | ".join(ms(p50_p95(r.pure[step])) for r in results)
                     + " |")
    return "\n".join(lines)


def submit_notes(results: list[DbResult]) -> list[str]:
    out = []
    for r in results:
        parts = []
        for key in ("small", "big"):
            total = p50_p95(r.submit[key])[0]
            append = p50_p95(r.submit_append[key])[0]
            parts.append(f"{key} store: p50 {total:.2f} ms of which `EventStore.append` "
                         f"{append:.2f} ms")
        out.append(f"- submit breakdown, {DB_LABEL[r.db]}: " + "; ".join(parts))
    return out


def git_state() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    status = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                            text=True).stdout  # not stripped: each line starts with its flags
    dirty = [line[3:] for line in status.splitlines()
             if not line[3:].startswith(("benchmarks/", "docs/benchmarks.md"))]
    return f"commit {head}" + (f" plus uncommitted changes in {', '.join(dirty)}"
                               if dirty else "")


def machine_facts(results: list[DbResult], workdir: Path, load: tuple[tuple, tuple]) -> list[str]:
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    fs = subprocess.run(["df", "-T", str(workdir)], capture_output=True, text=True).stdout
    fs_type = fs.splitlines()[-1].split()[1] if fs.strip() else "unknown"
    pg_version = "not measured"
    with contextlib.suppress(Exception), psycopg.connect(PG_DSN) as conn:
        pg_version = conn.execute("SHOW server_version").fetchone()[0]
    durability = "; ".join(f"{DB_LABEL[r.db]}: {r.durability}" for r in results)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    growth = ", ".join(f"{DB_LABEL[r.db]} +{r.rebuild_rss_growth_mb:,.0f} MB"
                       for r in results)
    return [
        f"- machine: `nproc` = {nproc}, CPU {cpu}, {platform.system()} {platform.release()}; "
        f"load average (1/5/15 min) {load[0][0]:.2f}/{load[0][1]:.2f}/{load[0][2]:.2f} at the "
        f"start, {load[1][0]:.2f}/{load[1][1]:.2f}/{load[1][2]:.2f} at the end (the machine "
        f"and the PostgreSQL server are shared: other work running at the same time shows "
        f"here and in the figures)",
        f"- Python {platform.python_version()}, SQLAlchemy {sa.__version__}, psycopg "
        f"{psycopg.__version__}, Flask {dist_version('flask')}, marshmallow "
        f"{dist_version('marshmallow')}; SQLite {sqlite3.sqlite_version} (file in a temporary "
        f"directory on {fs_type}); PostgreSQL {pg_version} on {PG_HOST}:{PG_PORT}",
        f"- durability: {durability}",
        f"- code measured: {git_state()}",
        f"- memory: peak RSS of the benchmark process {rss:,.0f} MB; RSS growth while a "
        f"rebuild holds every casebook: {growth}",
    ]


def workload_notes(results: list[DbResult], sizes: Sizes, runs: int) -> list[str]:
    r = results[0]
    assert r.gen is not None
    forms = r.gen.forms
    total = sum(forms.values())
    top = ", ".join(f"{k} {100 * v / total:.1f}%" for k, v in
                    sorted(forms.items(), key=lambda kv: -kv[1]))
    rm = r.read_models
    return [
        f"- trial: `benchmarks/trial_generator.py`, {sizes.subjects:,} subjects x "
        f"{sizes.events} events at 20 sites, appended with `EventStore.append` 50 events per "
        f"commit, subjects interleaved (one batch of each in turn) so that a subject's events "
        f"are spread over the log; payloads as the command layer records them (values "
        f"validated by `load_form`, every 50th entry re-validated, derived values from "
        f"`derive`), metadata actor and role (+ reason for corrections and voids). Event "
        f"mix: {top}.",
        f"- resulting read models: {rm['subjects']:,} subjects, best response "
        f"{dict(sorted((str(k), v) for k, v in rm['best_response'].items()))}, eligibility "
        f"{rm['eligibility']}, rows {rm['rows']}",
        f"- rebuild: `ProjectionRunner(store).rebuild()` (pages of 2,000 events from "
        f"`read_all`, one casebook per subject, then `subject_rows` per subject and one "
        f"transaction replacing every row); the figure is the median of {runs} full "
        f"rebuilds, each after `gc.collect()`; the time spent in Python's cyclic garbage "
        f"collector is measured during the same runs with `gc.callbacks` (median share "
        f"shown); the split comes from one extra rebuild with timing wrappers (its own total "
        f"is shown).",
        f"- as-of: one subject ({r.asof_events} events), {sizes.requests} random positions "
        f"of its stream, the three endpoints requested in turn at each position through "
        f"Flask's test client with a bearer token (authentication, site check, "
        f"`load_casebook(up_to_position=)`, projection, JSON); warm = the app's "
        f"`EventStore` stream cache holds the subject (the next read fetches only newer "
        f"versions), cold = the subject dropped from that cache before each request (a "
        f"first read, or another worker process). Without HTTP: `read_stream`, "
        f"`fold_casebook(up_to_position=)`, then the projection function.",
        f"- submit: `submit_form(store, User('bench', 'site_staff', ('SITE-01',)), …, "
        f"'platelet_count', …)` round-robin over {sizes.submit_subjects} subjects entered "
        f"through `SubjectBuilder` (screening + treatment, ~10 events each, so short "
        f"streams); {sizes.submits} timed submits per store after one warm-up submit per "
        f"subject, in turns of {sizes.turn} alternating between the two stores (who goes "
        f"first alternates) so that both meet the same machine conditions; the small store "
        f"holds a generated trial of {sizes.small_store:,} events. The target applies to the "
        f"p50 ratio; p95 is shown in brackets.",
        "- timer `time.perf_counter`; percentiles by linear interpolation.",
    ]


SECTION = "## Projections"


def write_docs(section_body: str, path: Path) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    section = f"{SECTION}\n\n{section_body.rstrip()}\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}[ \t]*\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text, encoding="utf-8")


# -- main ----------------------------------------------------------------------------------------
class Timeout(Exception):
    pass


def _on_alarm(_signum: int, _frame: Any) -> None:
    raise Timeout("the benchmark ran over --max-minutes")


def _on_term(_signum: int, _frame: Any) -> None:
    raise SystemExit("terminated")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, help="subjects in the trial (default 2000)")
    parser.add_argument("--events", type=int, help="events per subject (default 500)")
    parser.add_argument("--only", choices=("sqlite", "postgres"), help="a single database")
    parser.add_argument("--runs", type=int, default=3, help="full rebuilds to take the median of")
    parser.add_argument("--quick", action="store_true",
                        help="100 subjects x 100 events, fewer requests: a smoke test")
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--profile", action="store_true",
                        help="also cProfile one rebuild per database and print the top")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--max-minutes", type=float, default=90.0,
                        help="stop (and clean up) after this long")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.subjects or args.events:
        sizes = Sizes(args.subjects or sizes.subjects, args.events or sizes.events,
                      sizes.small_store, sizes.requests, sizes.submits)
    if sizes.events < 13 or sizes.subjects < 1 or args.runs < 1:
        parser.error("need at least 1 subject, 13 events per subject and 1 run")
    dbs = [args.only] if args.only else ["sqlite", "postgres"]

    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGTERM, _on_term)
    signal.alarm(int(args.max_minutes * 60))
    workdir = Path(tempfile.mkdtemp(prefix="bench_projections_"))
    started = time.perf_counter()
    load_before = os.getloadavg()
    results: list[DbResult] = []
    try:
        for db in dbs:
            results.append(run_db(db, sizes, args.runs, workdir, args.seed, args.profile))
        load = (load_before, os.getloadavg())
        facts = machine_facts(results, workdir, load)
    finally:
        signal.alarm(0)
        shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - started

    table, misses = build_table(results, sizes)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    mode = "quick" if args.quick else "full"
    body = "\n".join([
        f"Measured {when} by `benchmarks/bench_projections.py` ({mode} sizes: "
        f"{sizes.subjects:,} subjects x {sizes.events} events; {args.runs} rebuild runs; "
        f"{elapsed / 60:.0f} min in all).",
        "",
        table,
        "",
        "Where a rebuild's time goes:",
        "",
        split_table(results),
        "",
        "Where an as-of query's time goes (same positions, no HTTP):",
        "",
        asof_table(results),
        "",
        *submit_notes(results),
        *facts,
        *workload_notes(results, sizes, args.runs),
    ])
    print()
    print(body)
    print()
    print("targets missed: " + ("; ".join(misses) if misses else "none"))
    if args.no_docs or args.quick or len(dbs) < 2:
        print("(docs/benchmarks.md not written: --no-docs, --quick or --only)")
    else:
        write_docs(body, ROOT / "docs" / "benchmarks.md")
        print(f"written to {ROOT / 'docs' / 'benchmarks.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
