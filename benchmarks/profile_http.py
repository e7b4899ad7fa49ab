"""Where a request's time goes under load: CPU and context switches per request, from /proc.

Run on purpose, from the repository root (needs wrk; py-spy for ``--py-spy``)::

    python benchmarks/profile_http.py [--db sqlite|postgres] [--workload read|submit|one]
        [--grow 20] [--seconds 10] [--runs 2] [--py-spy profile.txt]

It seeds a fresh database the way benchmarks/bench_http_load.py does and serves `ecrf serve`
and the bare endpoint (benchmarks/bare_app.py) the same way. ``--grow`` seconds of submissions
first give the casebooks the size they have when the HTTP benchmark reads them (its read
workload runs after its submission workload). Then the workload runs ``--runs`` times against
each server in turn, and for each run the server process's CPU time (utime + stime) and its
threads' context switches are read from /proc before and after, divided by the answers wrk
counted. CPU per request is what the ratio against the bare endpoint is made of on a 2-core
machine where wrk takes the other core. ``--py-spy`` records the ecrf server during one more
run (threads on the CPU, idle ones left out; raw folded stacks) for a flame graph or a grep.

It prints one table; it writes nothing to docs/ (bench_http_load.py owns the ratios).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_http_load import (  # noqa: E402
    SERVE,
    free_port,
    fresh_database,
    lua_script,
    run_wrk,
    seed,
    server_env,
    start_servers,
    stop_servers,
    token,
    wait_for,
)

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    """One process's cumulative CPU seconds and context switches (all its threads)."""

    cpu: float
    system: float
    voluntary: int
    involuntary: int


def sample(pid: int) -> Sample:
    """Read /proc: utime + stime of the process, switches summed over its live threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    voluntary = involuntary = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches"):
                    voluntary += int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches"):
                    involuntary += int(line.split()[1])
        except FileNotFoundError:
            continue  # a thread that ended while we read
    return Sample(cpu, int(fields[12]) / TICKS, voluntary, involuntary)


@dataclass(frozen=True)
class Measured:
    """One run against one server: answers/s and the server's cost per answer."""

    rps: float
    cpu_ms: float
    system_ms: float
    voluntary: float
    involuntary: float
    statuses: dict[int, int]


def measure(pid: int, base: str, script: str, seconds: int, work: Path) -> Measured:
    before = sample(pid)
    run = run_wrk(base, script, seconds, work)
    after = sample(pid)
    answers = max(sum(run.statuses.values()), 1)
    return Measured(run.rps, 1000 * (after.cpu - before.cpu) / answers,
                    1000 * (after.system - before.system) / answers,
                    (after.voluntary - before.voluntary) / answers,
                    (after.involuntary - before.involuntary) / answers, run.statuses)


def median(runs: list[Measured], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--workload", choices=("read", "submit", "one"), default="read")
    parser.add_argument("--grow", type=int, default=20,
                        help="seconds of submissions before measuring (grown casebooks)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--py-spy", type=Path, help="record the ecrf server to this file")
    parser.add_argument("--gil", action="store_true",
                        help="with --py-spy: only the thread holding the GIL (Python's CPU)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("needs wrk: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="ecrf-profile-"))
    instance = work / "instance"
    url, connect_args, env_url, drop = fresh_database(args.db, work)
    servers: list[subprocess.Popen] = []
    try:
        subjects, singles = seed(url, connect_args, instance, 1)
        ports = free_port(), free_port()
        servers += start_servers(server_env(env_url, instance),
                                 (["-c", SERVE, "serve", "--port", str(ports[0])],
                                  [str(ROOT / "benchmarks/bare_app.py"), str(ports[1])]))
        ecrf_base, bare_base = (f"http://127.0.0.1:{p}" for p in ports)
        wait_for(f"{ecrf_base}/api/v1/openapi.json", servers[0])
        wait_for(f"{bare_base}/bare", servers[1])
        bearer = token(ecrf_base)
        targets = singles if args.workload == "one" else subjects
        kind = "submit" if args.workload == "one" else args.workload
        bare_kind = "bare-get" if kind == "read" else "bare-post"
        if args.grow:
            run_wrk(ecrf_base, lua_script("submit", bearer, subjects), args.grow, work)
        run_wrk(ecrf_base, lua_script(kind, bearer, targets), 3, work)  # warm caches
        run_wrk(bare_base, lua_script(bare_kind, bearer, targets), 3, work)
        if kind == "read":
            ask = urllib.request.Request(f"{ecrf_base}/api/v1/subjects/{targets[0]}/efficacy",
                                         headers={"Authorization": f"Bearer {bearer}"})
            with urllib.request.urlopen(ask, timeout=10) as reply:
                print(f"one efficacy answer: {len(reply.read()):,} bytes")
        ours: list[Measured] = []
        bare: list[Measured] = []
        for _ in range(args.runs):
            bare.append(measure(servers[1].pid, bare_base,
                                lua_script(bare_kind, bearer, targets), args.seconds, work))
            ours.append(measure(servers[0].pid, ecrf_base, lua_script(kind, bearer, targets),
                                args.seconds, work))
        print(f"{args.db}, {args.workload}, {args.runs} runs of {args.seconds} s, "
              f"after {args.grow} s of submissions (medians)")
        print(f"{'server':6} {'req/s':>8} {'CPU ms/req':>11} {'of it sys':>10} {'vol. sw/req':>12} "
              f"{'invol. sw/req':>14}  statuses")
        for name, runs in (("bare", bare), ("ecrf", ours)):
            print(f"{name:6} {median(runs, 'rps'):8,.0f} {median(runs, 'cpu_ms'):11.3f} "
                  f"{median(runs, 'system_ms'):10.3f} "
                  f"{median(runs, 'voluntary'):12.1f} {median(runs, 'involuntary'):14.1f}  "
                  f"{runs[-1].statuses}")
        print(f"ratio ecrf/bare: {median(ours, 'rps') / median(bare, 'rps'):.2f}x")
        if args.py_spy:
            py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            spy = subprocess.Popen([py_spy, "record", "-f", "raw", "-r", "200",
                                    "-o", str(args.py_spy), "-p", str(servers[0].pid),
                                    *(["--gil"] if args.gil else [])],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            run_wrk(ecrf_base, lua_script(kind, bearer, targets), args.seconds, work)
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
            print(f"py-spy: {args.py_spy}")
        return 0
    finally:
        stop_servers(servers)
        drop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
