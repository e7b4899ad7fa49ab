"""What signing every event costs: append throughput with and without a signing key.

Run from the repository root::

    .venv/bin/python benchmarks/bench_signing.py [--runs 3] [--blocks 20] [--block 100] [--no-docs]

On SQLite and on PostgreSQL, in the same invocation: per run a fresh database (a new SQLite
file; a new PostgreSQL schema, dropped afterwards) and one store that appends blocks of
single-event appends (one commit each, round-robin over 100 subject streams, a
platelet-count-like payload and the metadata a web request stamps), alternately unsigned and
signed. Pairing neighbouring blocks cancels the drift of a shared machine's load, which swamps
a comparison of whole runs. The same again with appends of 50 events each (a new stream per
append, one commit each: the event store benchmark's batch append), signed as the store signs
(once per append, on its last event). Reports the median of the runs, and the cost of signing
(1 - signed/unsigned, from the paired ratios). The target (issue #10): signing costs a single
append less than 10%. The batch rows say what signing costs a batch append (issue #13). The
Markdown table is printed and written to docs/benchmarks.md under "## Event signing" (only
that section).
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
BATCH = 50  # events per append of the batch measure, as bench_event_store's batch append
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


def paired_blocks(db: str, signer: Signer, blocks: int, block: int, directory: str,
                  per_append: int = 1) -> dict[str, list[float]]:
    """On one fresh database, ``blocks`` pairs of ``block`` appends of ``per_append`` events,
    unsigned then signed, alternating: each pair sees the same machine load and the same
    database size. Single events go round-robin to 100 streams; larger appends each open a
    new stream. Returns the events/s of every block, and this process's CPU µs per event,
    per side."""
    engine, cleanup = fresh(db, directory)
    out: dict[str, list[float]] = {"unsigned": [], "signed": [], "unsigned_cpu": [],
                                   "signed_cpu": []}
    try:
        store = EventStore(engine)
        versions = [0] * SUBJECTS
        i = 0
        with event_metadata(actor="bench.staff", role="site_staff", client="bench"):
            for _ in range(blocks):
                for side, key in (("unsigned", None), ("signed", signer)):
                    store.signer = key
                    appends = [[NewEvent("PlateletCountRecorded", payload(i + n * per_append + k))
                                for k in range(per_append)] for n in range(block)]
                    start, cpu = time.perf_counter(), time.process_time()
                    for events in appends:
                        s = i % SUBJECTS
                        with event_metadata(request_id=f"r{i}"):
                            if per_append == 1:
                                store.append(f"ITP-{s:03d}", events,
                                             expected_version=versions[s])
                                versions[s] += 1
                            else:
                                store.append(f"BATCH-{i:06d}", events, expected_version=0)
                        i += 1
                    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
                    out[side].append(block * per_append / elapsed)
                    out[f"{side}_cpu"].append(cpu / (block * per_append) * 1e6)
        return out
    finally:
        cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=20, help="pairs of blocks per run")
    parser.add_argument("--block", type=int, default=100, help="appends per block")
    parser.add_argument("--batch-block", type=int, default=10,
                        help="50-event appends per block of the batch measure")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    signer = Signer.generate()
    sign_us = min(timeit.repeat(lambda: signer.sign(b"f" * 64), number=2000, repeat=5)) \
        / 2000 * 1e6
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for db, per_append in (("sqlite", 1), ("postgresql", 1), ("sqlite", BATCH),
                               ("postgresql", BATCH)):
            per_run = []
            block = args.block if per_append == 1 else args.batch_block
            for _ in range(args.runs):
                blocks = paired_blocks(db, signer, args.blocks, block, directory, per_append)
                ratios = [b / a for a, b in zip(blocks["unsigned"], blocks["signed"],
                                                strict=True)]
                per_run.append((statistics.median(blocks["unsigned"]),
                                statistics.median(blocks["signed"]),
                                statistics.median(ratios),
                                statistics.median(blocks["unsigned_cpu"]),
                                statistics.median(blocks["signed_cpu"])))
            unsigned = statistics.median(r[0] for r in per_run)
            signed = statistics.median(r[1] for r in per_run)
            overhead = 1 - statistics.median(r[2] for r in per_run)
            rows.append((db, per_append, unsigned, signed, overhead, per_run,
                         statistics.median(r[3] for r in per_run),
                         statistics.median(r[4] for r in per_run)))
    took = time.perf_counter() - started
    load_after = os.getloadavg()[0]
    lines = [
        HEADING, "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `benchmarks/bench_signing.py` "
        f"({args.runs} runs; each a fresh database with {args.blocks} pairs of blocks "
        f"({args.block} single appends, or {args.batch_block} appends of {BATCH} events), "
        f"unsigned then signed, alternating; {took:.0f} s). Cost of "
        "signing = 1 - the median over runs of each run's median paired ratio signed/unsigned; "
        "the throughputs are medians of the blocks' events/s.", "",
        "| DB | append | unsigned | signed (Ed25519, one signature per append) | cost of signing "
        "| target | status | CPU per event, unsigned / signed |",
        "|---|---|--:|--:|--:|---|---|--:|",
    ]
    for db, per_append, unsigned, signed, overhead, _, cpu_unsigned, cpu_signed in rows:
        name = "SQLite" if db == "sqlite" else "PostgreSQL"
        if per_append == 1:
            what, target, status = "single (1 event/commit)", "< 10%", \
                "met" if overhead < 0.10 else "**missed**"
        else:
            what, target, status = f"batch ({per_append} events/commit)", "—", "—"
        lines.append(f"| {name} | {what} | {unsigned:,.0f} ev/s | {signed:,.0f} ev/s | "
                     f"{overhead * 100:.1f}% | {target} | {status} | "
                     f"{cpu_unsigned:,.0f} / {cpu_signed:,.0f} µs |")
    lines += [
        "",
        f"- one Ed25519 signature of a 64-byte hash: {sign_us:.1f} µs (best of 5 x 2,000, "
        "`cryptography` " + _version("cryptography") + ")",
        "- every run (median events/s unsigned / signed, paired ratio): " + "; ".join(
            f"{'SQLite' if db == 'sqlite' else 'PostgreSQL'} x{per_append} " + ", ".join(
                f"{u:,.0f} / {g:,.0f} ({q:.3f})" for u, g, q, _, _ in r)
            for db, per_append, _, _, _, r, _, _ in rows),
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
