"""The report of an HTTP load run (benchmarks/bench_http_load.py): the Markdown tables of
docs/benchmarks.md, with issue #13's targets and the ceiling the floor puts on each ratio."""

from __future__ import annotations

import argparse
import math
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from benchmarks.http_load_model import CLIENTS, SUBJECTS, WRK_THREADS, Workload, admin
from ecrf.server import DEFAULT_THREADS

ROOT = Path(__file__).resolve().parents[1]


def ratio(x: float, y: float) -> float:
    """x/y truncated to 2 decimals, so that a shown ratio never overstates."""
    return math.floor(x / y * 100) / 100


def ms(value: float) -> str:
    """Latency rounded up to 0.1 ms, so that a shown latency never understates."""
    return f"{math.ceil(value * 10) / 10:.1f}"


Target = tuple[str, str, str, bool | None, float | None]


def ceiling(w: Workload) -> float | None:
    """The floor's requests/s over the bare endpoint's, in the same run: the best ratio any
    implementation of the request on this stack could reach there (None: no floor run)."""
    return ratio(w.median("floor", "rps"), w.median("bare", "rps")) if w.floor else None


def targets(db: str, w: dict[str, Workload]) -> list[Target]:
    """(measure, result, target, met, ceiling) per issue #13; met None: no target on this
    database; ceiling None: no floor for the measure."""
    submit, pg = w["submit"].median("ecrf", "rps"), db == "postgres"
    share = 0.3 if pg else 0.5
    r = {k: ratio(w[k].median("ecrf", "rps"), w[k].median("bare", "rps"))
         for k in ("submit", "read", "mixed")}
    p95, conflicts = w["submit"].median("ecrf", "p95"), w["one"].median("ecrf", "conflicts")
    r_one = ratio(w["one"].median("ecrf", "ok_rps"), submit)
    pg_only = "— (stated for PostgreSQL)"
    return [
        ("form submission, requests/s vs bare", f"{r['submit']:.2f}x", f"≥ {share}x",
         r["submit"] >= share, ceiling(w["submit"])),
        ("form submission, p95", f"{ms(p95)} ms", "< 50 ms", p95 < 50, None),
        ("efficacy read, requests/s vs bare", f"{r['read']:.2f}x", "≥ 0.5x", r["read"] >= 0.5,
         ceiling(w["read"])),
        ("mixed, requests/s vs bare", f"{r['mixed']:.2f}x", "—", None, None),
        ("ONE subject: 409 answers per run", f"{conflicts:,.0f}", "0" if pg else pg_only,
         conflicts == 0 if pg else None, None),
        ("ONE subject: accepted (2xx) submissions/s vs 64-subject submissions/s",
         f"{r_one:.2f}x", "≥ 0.5x" if pg else pg_only, r_one >= 0.5 if pg else None, None),
    ]


def status(target: str, met: bool | None, top: float | None) -> str:
    """met / missed, and for a missed ratio whose target is above the floor's ceiling: out of
    reach for any implementation on this stack, in this run."""
    if met is None:
        return "—"
    if met:
        return "met"
    bound = float(target.removeprefix("≥ ").removesuffix("x")) if target.startswith("≥") \
        else None
    if top is not None and bound is not None and top < bound:
        return ("**missed** (the floor's ceiling is below the target: out of reach on this "
                "stack, here)")
    return "**missed**"


def environment(db: str) -> str:
    """Versions, database settings and the code measured."""
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    found = ", ".join(f"{n} {version(n)}" for n in ("Flask", "waitress", "SQLAlchemy",
                                                     "psycopg", "marshmallow"))
    if db == "sqlite":
        engine = f"SQLite {sqlite3.sqlite_version} (file in a temporary directory; WAL, " \
                 "synchronous=FULL, set by events.engine)"
    else:
        engine = f"PostgreSQL {admin('SHOW server_version')} on 127.0.0.1:5432 " \
                 f"(synchronous_commit={admin('SHOW synchronous_commit')}; a fresh schema)"

    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout
    dirty = " + uncommitted changes" if git("status", "--porcelain", "--", "events", "ecrf",
                                           "projections", "benchmarks").strip() else ""
    return (f"Python {sys.version.split()[0]}, {found}, wrk {(wrk.stdout + wrk.stderr).split()[1]}"
            f"; {engine}; code measured: commit {git('rev-parse', '--short', 'HEAD').strip()}"
            f"{dirty}")


def report(db: str, workloads: list[Workload], args: argparse.Namespace,
           load: tuple[tuple[float, ...], tuple[float, ...]], elapsed: float) -> str:
    """The Markdown section: medians per workload and server, the targets, how it was run."""
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `benchmarks/bench_http_load.py "
        f"--db {db} --seconds {args.seconds} --runs {args.runs}` ({elapsed:.0f} s): wrk, "
        f"{CLIENTS} connections ({WRK_THREADS} threads), against `ecrf serve`, "
        f"`benchmarks/bare_app.py` and, for the submission and the read, "
        "`benchmarks/floor_app.py` (the least those two requests must do on this stack: a "
        "token check, one freshness query (on SQLite only when `PRAGMA data_version` moved, "
        "as ours), the real form schema, one chained, signed and "
        "fsynced row; a read asks ecrf's database for the log's head and answers ours, "
        "byte for byte, remade only when the head moved), all served by "
        f"`ecrf.server.make_server` (waitress) with {DEFAULT_THREADS} threads on loopback; "
        f"each workload {args.runs} run(s) of {args.seconds} s per server, interleaved (bare, "
        "floor, ecrf, bare, ...); every figure is the median of the runs, every ratio "
        "median(x)/median(bare) of this invocation; the floor's ratio is the ceiling of ours.",
        "", "| workload | server | requests/s | 2xx/s | p50 ms | p95 ms | p99 ms | non-2xx | "
        "of which 409 | socket errors |", "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for x in workloads:
        for side in ("bare", "floor", "ecrf") if x.floor else ("bare", "ecrf"):
            m = {a: x.median(side, a) for a in ("rps", "ok_rps", "p50", "p95", "p99",
                                                "non_2xx", "conflicts", "errors")}
            name = {"bare": f"bare ({x.bare_kind.removeprefix('bare-').upper()})",
                    "floor": "floor (benchmarks/floor_app.py)", "ecrf": "ecrf"}[side]
            lines.append(f"| {x.label} | {name} | {m['rps']:,.0f} | {m['ok_rps']:,.0f} | "
                         f"{ms(m['p50'])} | {ms(m['p95'])} | {ms(m['p99'])} | "
                         f"{m['non_2xx']:,.0f} | {m['conflicts']:,.0f} | {m['errors']:,.0f} |")
    lines += ["", "| measure (issue #13) | result | ceiling: floor / bare | target | status |",
              "|---|--:|--:|---|---|"]
    for measure, result, target, met, top in targets(db, {x.key: x for x in workloads}):
        shown = "—" if top is None else f"{top:.2f}x"
        lines.append(f"| {measure} | {result} | {shown} | {target} | "
                     f"{status(target, met, top)} |")
    per_run = "; ".join(f"{x.key} " + ", ".join(
        f"{b.rps:,.0f}/" + (f"{x.floor[n].rps:,.0f}/" if x.floor else "") + f"{e.rps:,.0f}"
        + (f" ({e.conflicts} x 409)" if x.key == "one" else "")
        for n, (b, e) in enumerate(zip(x.bare, x.ecrf, strict=True))) for x in workloads)
    avg = ["/".join(f"{v:.2f}" for v in x) for x in load]
    lines += [
        "", f"- every run, requests/s bare/ecrf (bare/floor/ecrf where there is a floor): "
        f"{per_run}",
        f"- machine: {os.cpu_count()} cores, shared with other work; load average (1/5/15 "
        f"min) {avg[0]} at the start, {avg[1]} at the end",
        f"- {environment(db)}",
        f"- data: {SUBJECTS} subjects (registration, screening labs, lymphodepletion, "
        "infusion, 4 platelet counts each), every append signed (Ed25519; key and witness file "
        "in a temporary instance folder); the ONE-subject workload writes to a fresh subject, "
        "seeded the same way, in each run, without If-Match (append to the casebook as it is); "
        "the workloads run in the order of the table, so later ones see the 64 casebooks "
        "grown by the submissions before them",
        "- requests: submission = `POST /api/v1/subjects/{id}/forms/platelet_count`, a valid "
        "3-field body (201 expected; any other answer makes the run invalid), read = `GET "
        "/api/v1/subjects/{id}/efficacy`, a site_staff bearer token; bare = `POST /bare` "
        "(parse the JSON, answer 201) or `GET /bare` (answer 200), same headers and body; "
        "statuses counted by a wrk `response` callback on both servers alike",
    ]
    return "\n".join(lines)


def write_docs(table: str, db: str, path: Path) -> None:
    """Replace (or add) this database's section of docs/benchmarks.md, nothing else."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    heading, section = f"## HTTP load ({db})", f"## HTTP load ({db})\n\n{table}\n"
    if heading not in text and "## HTTP load (" in text:  # beside the other database's
        start = text.index("## HTTP load (")
        end = text.find("\n## ", start + 1)
        text = text[:end + 1] + "\n" + heading + "\n" + text[end:] if end != -1 \
            else text.rstrip("\n") + "\n\n" + heading + "\n"
    if heading in text:
        start = text.index(heading)
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + section + (text[end:] if end != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")
