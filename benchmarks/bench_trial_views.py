"""Benchmark the trial-wide views served from their read models: GET /audit and GET /queries.

Run from the repository root (on purpose, never in the suite)::

    .venv/bin/python benchmarks/bench_trial_views.py [--small] [--only sqlite|postgres]
        [--requests 200] [--no-docs]

For SQLite (a file in a temporary directory) and PostgreSQL (a fresh schema, dropped at the
end), one invocation:

0. generates a trial of 2,000 subjects x 500 events (1,000,000 events) with
   ``benchmarks/trial_generator.py``, then opens one data query per subject through the
   command layer and moves three quarters of them on (answered, closed, cancelled);
1. rebuilds the read models (``ProjectionRunner.rebuild``, as ``ecrf projections rebuild``)
   and reports its time and the rows of ``rm_audit_events`` and ``rm_queries``;
2. measures p50/p95 over ``--requests`` requests each, through the Flask test client with a
   bearer token of an auditor (every site), of: ``GET /audit?limit=100`` (first page; a page
   deep in the log via ``after=``; filtered by subject, by user, by type),
   ``GET /audit?format=csv&limit=100``, ``GET /queries`` and ``GET /queries?state=open``.
   Each request first brings the read model to the head (each view appends an AuditViewed
   event, so every request catches up the one event the previous one added).

The table is printed and, unless ``--small`` or ``--no-docs``, written to docs/benchmarks.md
under "## Trial-wide views" (only that section is replaced). ``--small`` (100 subjects x 100
events, 40 requests) is a quick smoke run.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import platform
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("ECRF_SECRET_KEY", "bench-trial-views-secret")  # no instance file

import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from benchmarks.trial_generator import TrialGenerator  # noqa: E402
from ecrf.accounts.model import User  # noqa: E402
from ecrf.accounts.service import create_user  # noqa: E402
from ecrf.app import create_app  # noqa: E402
from ecrf.commands import workflow  # noqa: E402
from ecrf.commands.subjects import load_casebook  # noqa: E402
from ecrf.schema import upgrade  # noqa: E402
from events import EventStore, make_engine  # noqa: E402
from projections.readmodel.tables import audit_events, queries  # noqa: E402

PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DB_LABEL = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
PASSWORD = "bench-password-1"
AUDITOR = "bench.auditor"
MONITOR = User("bench.monitor", "monitor", ("*",), "Bench Monitor")
STAFF = User("bench.staff", "site_staff", ("*",), "Bench Staff")
P95_TARGET_MS = 50.0
HEADING = "## Trial-wide views"


@dataclass(frozen=True)
class Sizes:
    subjects: int
    events: int
    requests: int


FULL = Sizes(subjects=2000, events=500, requests=200)
SMALL = Sizes(subjects=100, events=100, requests=40)


@dataclass
class DbResult:
    db: str
    events: int = 0
    generate_s: float = 0.0
    rebuild_s: float = 0.0
    audit_rows: int = 0
    audit_events: int = 0
    queries: int = 0
    timings: dict[str, list[float]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@contextlib.contextmanager
def fresh_engine(db: str, workdir: Path):
    """A fresh, migrated database; deleted afterwards."""
    name = f"tv_{uuid.uuid4().hex[:10]}"
    if db == "sqlite":
        path = workdir / f"{name}.db"
        engine = make_engine(f"sqlite:///{path}")
    else:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        engine = make_engine(PG_URL, connect_args={"options": f"-c search_path={name}"})
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        if db == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{path}{suffix}")
        else:
            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def add_queries(store: EventStore, subject_ids: list[str]) -> None:
    """One query per subject on its last platelet count; 3 in 4 answered, closed, cancelled."""
    for n, subject_id in enumerate(subject_ids):
        book = load_casebook(store, MONITOR, subject_id)
        entry = next(e for e in reversed(book.current()) if e.form == "platelet_count")
        query_id = workflow.open_query(store, MONITOR, subject_id, entry.entry_id,
                                       "platelets", f"Please check against the source ({n})"
                                       ).query_id
        if n % 4 in (1, 2):
            workflow.answer_query(store, STAFF, subject_id, query_id, "as on the source",
                                  None, None)
        if n % 4 == 2:
            workflow.close_query(store, MONITOR, subject_id, query_id, None)
        if n % 4 == 3:
            workflow.cancel_query(store, MONITOR, subject_id, query_id, "raised in error")


def run_db(db: str, sizes: Sizes, workdir: Path) -> DbResult:
    res = DbResult(db)
    with fresh_engine(db, workdir) as engine:
        store = EventStore(engine)
        started = time.perf_counter()
        stats = TrialGenerator(seed=20261201).generate(store, sizes.subjects, sizes.events)
        add_queries(store, stats.subject_ids)
        res.generate_s = time.perf_counter() - started
        create_user(store, AUDITOR, PASSWORD, "auditor", ["*"], "Bench Auditor")
        res.events = store.count()
        log(f"{db}: {res.events:,} events in {res.generate_s:.0f} s; rebuilding")
        app = create_app({"ENGINE": engine, "SECRET_KEY": "bench-trial-views", "TESTING": True})
        runner = app.extensions["ecrf"].runner
        started = time.perf_counter()
        runner.rebuild()
        res.rebuild_s = time.perf_counter() - started
        with engine.connect() as conn:
            res.audit_events, res.audit_rows = conn.execute(sa.select(
                sa.func.count(), sa.func.sum(audit_events.c.row_count))).one()
            res.queries = conn.execute(sa.select(sa.func.count()).select_from(queries)).scalar()
        log(f"{db}: rebuilt in {res.rebuild_s:.0f} s ({res.audit_rows:,} audit rows of "
            f"{res.audit_events:,} events, "
            f"{res.queries:,} queries); measuring")
        res.timings = measure(app, stats.subject_ids, res.events, sizes.requests, res)
    return res


def measure(app, subject_ids: list[str], events: int, requests: int,
            res: DbResult) -> dict[str, list[float]]:
    client = app.test_client()
    request_log = sys.modules["ecrf.request_log"].log
    devnull = open(os.devnull, "w")  # noqa: SIM115 - for the whole measure
    for handler in request_log.handlers:  # keep the formatting work, drop the lines
        if isinstance(handler, logging.StreamHandler):
            handler.stream = devnull
    reply = client.post("/api/v1/auth/token", json={"username": AUDITOR, "password": PASSWORD})
    assert reply.status_code == 200, reply.get_json()
    headers = {"Authorization": f"Bearer {reply.get_json()['access_token']}"}
    subject = subject_ids[len(subject_ids) // 2]
    cases: dict[str, str] = {
        "GET /audit?limit=100 (first page)": "/audit?limit=100",
        "GET /audit?limit=100&after=<90% of the log>": f"/audit?limit=100&after={events * 9 // 10}",
        "GET /audit?limit=100&subject=<one subject>": f"/audit?limit=100&subject={subject}",
        "GET /audit?limit=100&user=<one site's staff>": "/audit?limit=100&user=staff-07",
        "GET /audit?limit=100&type=EntryCorrected": "/audit?limit=100&type=EntryCorrected",
        "GET /audit?format=csv&limit=100": "/audit?format=csv&limit=100",
        "GET /queries": "/queries",
        "GET /queries?state=open": "/queries?state=open",
    }

    def get(path: str) -> tuple[float, bytes]:
        t0 = time.perf_counter()
        reply = client.get(f"/api/v1{path}", headers=headers)
        body = reply.get_data()
        elapsed = (time.perf_counter() - t0) * 1000
        if reply.status_code != 200:
            raise AssertionError(f"{path}: {reply.status_code} {body[:300]!r}")
        return elapsed, body

    timings: dict[str, list[float]] = {name: [] for name in cases}
    for path in cases.values():  # warm-up: imports, caches, the connection pool
        for _ in range(3):
            get(path)
    for name, path in cases.items():
        res.notes[name] = f"{len(get(path)[1]) / 1024:,.0f} KiB"
    for _ in range(requests):  # interleaved, so that all meet the same conditions
        for name, path in cases.items():
            timings[name].append(get(path)[0])
    for handler in request_log.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.stream = sys.stderr
    devnull.close()
    return timings


def build_table(results: list[DbResult], sizes: Sizes) -> str:
    lines = ["| DB | measure | result | target | status |", "|---|---|--:|---|---|"]
    for r in results:
        label = DB_LABEL[r.db]
        lines.append(f"| {label} | trial: events (generated + queries + accounts) | "
                     f"{r.events:,} ({r.generate_s:.0f} s) | — | — |")
        lines.append(f"| {label} | `rebuild` of every read model: time | {r.rebuild_s:.0f} s "
                     f"({r.audit_rows:,} audit rows of {r.audit_events:,} events, {r.queries:,} "
                     "queries) | — | — |")
        for name, values in r.timings.items():
            p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
            status = "met" if p95 < P95_TARGET_MS else "**missed**"
            lines.append(f"| {label} | {name}, p50 / p95 ({r.notes[name]}) | "
                         f"{p50:.2f} / {p95:.2f} ms | p95 < {P95_TARGET_MS:.0f} ms | {status} |")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join([
        f"Measured {when} by `benchmarks/bench_trial_views.py` ({sizes.subjects:,} subjects x "
        f"{sizes.events} events, {sizes.requests} requests per measure, interleaved).", "",
        *lines, "",
        f"- machine: `nproc` = {os.cpu_count()}, {platform.machine()}, Python "
        f"{platform.python_version()}, SQLAlchemy {sa.__version__}; shared with other work",
        "- each request goes through the Flask test client with an auditor's bearer token "
        "(every site); before answering, the endpoint catches the read model up to the head "
        "(each audit view appends an AuditViewed event, so every request catches up one "
        "event and writes the checkpoint), then reads the tables with SQL",
        "- the size in brackets is one answer's body",
        "- the rebuild writes every read model, `rm_audit_events` (one row per event with "
        "audit rows, the rows' shared keys written once) and `rm_queries` included",
    ])


def write_docs(table: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = f"{HEADING}\n\n{table}\n"
    if HEADING in text:
        start = text.index(HEADING)
        end = text.find("\n## ", start + len(HEADING))
        text = text[:start] + section + (text[end + 1:] if end != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main(argv: list[str] | None = None,
         run: Callable[[str, Sizes, Path], DbResult] = run_db) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="100 x 100 events, quick")
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    parser.add_argument("--requests", type=int)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    # a TERM (a background run cannot be interrupted) still drops the schema and the files
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = SMALL if args.small else FULL
    if args.requests:
        sizes = Sizes(sizes.subjects, sizes.events, args.requests)
    dbs = [args.only] if args.only else ["sqlite", "postgres"]
    with tempfile.TemporaryDirectory(prefix="bench-trial-views-") as tmp:
        results = [run(db, sizes, Path(tmp)) for db in dbs]
    table = build_table(results, sizes)
    print(table)
    if not (args.small or args.no_docs):
        write_docs(table)
        log("written to docs/benchmarks.md")


if __name__ == "__main__":
    main()
