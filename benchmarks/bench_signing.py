"""What signing every event costs: single-append throughput with and without a signing key.

Run from the repository root::

    .venv/bin/python benchmarks/bench_signing.py [--runs 3] [--events 2000] [--no-docs]

On SQLite and on PostgreSQL, in the same invocation, alternating the two sides run by run so
that both see the same machine load: a fresh database per run (a new SQLite file; a new
PostgreSQL schema, dropped afterwards), then ``--events`` single-event appends (one commit
each, round-robin over 100 subject streams, a platelet-count-like payload and the metadata a
web request stamps). Reports the median of the runs for each side, and the overhead of signing
(1 - signed/unsigned). The target (issue #10): signing costs less than 10%. The Markdown table
is printed and written to docs/benchmarks.md under "## Event signing" (only that section).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import timeit
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from ecrf.schema import upgrade  # noqa: E402
from events import EventStore, NewEvent, event_metadata, make_engine  # noqa: E402
from events.signing import Signer  # noqa: E402

POSTGRES_URL = os.environ.get("ECRF_BENCH_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SUBJECTS = 100
HEADING = "## Event signing"
DOC = ROOT / "docs" / "benchmarks.md"


def payload(i: int) -> dict:
    return {"entry_id": uuid.uuid4().hex, "form": "platelet_count",
            "values": {"visit": "D7", "collected_at": "2026-02-10T09:30:00+08:00",
                       "platelets": 20 + i % 300, "method": "automated"}}


def fresh(db: str, directory: str) -> tuple[sa.Engine, callable]:
    if db == "sqlite":
        engine = make_engine(f"sqlite:///{directory}/bench-{uuid.uuid4().hex[:8]}.db")
        upgrade(engine)
        return engine, engine.dispose
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine = make_engine(POSTGRES_URL, connect_args={"options": f"-c search_path={schema}"})
    upgrade(engine)

    def drop() -> None:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()

    return engine, drop


def single_appends(db: str, signer: Signer | None, events: int, directory: str
                   ) -> tuple[float, float]:
    """Events per second of ``events`` single-event appends on a fresh database, and this
    process's CPU time per append in µs (less sensitive to other work on a shared machine)."""
    engine, cleanup = fresh(db, directory)
    try:
        store = EventStore(engine, signer=signer)
        versions = [0] * SUBJECTS
        payloads = [payload(i) for i in range(events)]
        with event_metadata(actor="bench.staff", role="site_staff", client="bench"):
            start, cpu = time.perf_counter(), time.process_time()
            for i, data in enumerate(payloads):
                s = i % SUBJECTS
                with event_metadata(request_id=f"r{i}"):
                    store.append(f"ITP-{s:03d}", [NewEvent("PlateletCountRecorded", data)],
                                 expected_version=versions[s])
                versions[s] += 1
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        return events / elapsed, cpu / events * 1e6
    finally:
        cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    signer = Signer.generate()
    sign_us = min(timeit.repeat(lambda: signer.sign(b"f" * 64), number=2000, repeat=5)) \
        / 2000 * 1e6
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for db in ("sqlite", "postgresql"):
            results: dict[str, list[float]] = {"unsigned": [], "signed": []}
            cpu: dict[str, list[float]] = {"unsigned": [], "signed": []}
            for _ in range(args.runs):
                for side, key in (("unsigned", None), ("signed", signer)):
                    rate, micros = single_appends(db, key, args.events, directory)
                    results[side].append(rate)
                    cpu[side].append(micros)
            unsigned = statistics.median(results["unsigned"])
            signed = statistics.median(results["signed"])
            overhead = 1 - signed / unsigned
            rows.append((db, unsigned, signed, overhead, results,
                         statistics.median(cpu["unsigned"]), statistics.median(cpu["signed"])))
    took = time.perf_counter() - started
    load_after = os.getloadavg()[0]
    lines = [
        HEADING, "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `benchmarks/bench_signing.py` "
        f"({args.events} single-event appends per run, {args.runs} runs per side, alternating, "
        f"{took:.0f} s).", "",
        "| DB | single append, unsigned | single append, signed (Ed25519) | cost of signing "
        "| target | status | CPU per append, unsigned / signed |",
        "|---|--:|--:|--:|---|---|--:|",
    ]
    for db, unsigned, signed, overhead, _, cpu_unsigned, cpu_signed in rows:
        name = "SQLite" if db == "sqlite" else "PostgreSQL"
        status = "met" if overhead < 0.10 else "**missed**"
        lines.append(f"| {name} | {unsigned:,.0f} ev/s | {signed:,.0f} ev/s | "
                     f"{overhead * 100:.1f}% | < 10% | {status} | "
                     f"{cpu_unsigned:,.0f} / {cpu_signed:,.0f} µs |")
    lines += [
        "",
        f"- one Ed25519 signature of a 64-byte hash: {sign_us:.1f} µs (best of 5 x 2,000, "
        "`cryptography` " + _version("cryptography") + ")",
        "- every run (events/s): " + "; ".join(
            f"{'SQLite' if db == 'sqlite' else 'PostgreSQL'} unsigned "
            f"{', '.join(f'{v:,.0f}' for v in r['unsigned'])}, signed "
            f"{', '.join(f'{v:,.0f}' for v in r['signed'])}" for db, _, _, _, r, _, _ in rows),
        f"- machine: `nproc` = {os.cpu_count()}, {platform.platform()}; 1-min load average "
        f"{load_before:.2f} before, {load_after:.2f} after (shared with other work)",
        "- both sides take the same PostgreSQL advisory lock per append (the store no longer "
        "uses LOCK TABLE, so the app role needs no UPDATE privilege); SQLite: WAL, "
        "synchronous=FULL",
        "",
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_docs:
        text = DOC.read_text()
        pattern = re.compile(rf"{re.escape(HEADING)}\n.*?(?=\n## |\Z)", re.S)
        text = pattern.sub(table.rstrip("\n") + "\n", text) if pattern.search(text) \
            else text.rstrip("\n") + "\n\n" + table
        DOC.write_text(text)


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    main()
