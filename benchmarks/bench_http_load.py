"""HTTP load (issue #13): 8 concurrent clients (wrk) against `ecrf serve` and a bare endpoint.

Run on purpose, from the repository root (needs wrk: `apt-get install wrk`)::

    python benchmarks/bench_http_load.py [--db sqlite|postgres|both] [--seconds 10] [--runs 3]

Per database: a fresh database (SQLite file / PostgreSQL schema, dropped afterwards) with 64
signed subjects, plus one fresh subject per run for the one-subject workload; `ecrf serve` and
benchmarks/bare_app.py on loopback, with the same server and thread count. Each workload runs
--runs times interleaved with its bare counterpart (bare, ecrf, bare, ecrf, ...); the report
(medians, median(ecrf)/median(bare), issue #13's targets) is printed and written to
docs/benchmarks.md under "## HTTP load (sqlite)" / "## HTTP load (postgres)". A wrk
`response` callback counts every status: a non-2xx answer from the bare app or in a
64-subject workload makes the benchmark invalid (a benchmark of 4xx answers measures
nothing): it prints the status breakdown, writes nothing and exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.http_load_model import (  # noqa: E402
    CLIENTS,
    PG_URL,
    SUBJECTS,
    WRK_THREADS,
    Run,
    Workload,
    admin,
)
from benchmarks.http_load_report import report, write_docs  # noqa: E402
from ecrf.accounts.model import User  # noqa: E402
from ecrf.accounts.service import create_user  # noqa: E402
from ecrf.builder import SubjectBuilder  # noqa: E402
from ecrf.schema import upgrade  # noqa: E402
from events import EventStore, make_engine, verify_chain  # noqa: E402
from events.signing import create_key_pair  # noqa: E402

PASSWORD = "load-test-password"
# `ecrf serve` from this checkout (the venv's `ecrf` script would import the installed one).
SERVE = "import sys; from ecrf.cli import main; sys.argv[0] = 'ecrf'; sys.exit(main())"
# Statuses counted per wrk thread (one table increment per answer, the same for both
# servers), summed in done() and printed as one JSON line.
LUA_COMMON = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
statuses = {}
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  local total, parts = {}, {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do total[k] = (total[k] or 0) + v end
  end
  for k, v in pairs(total) do parts[#parts + 1] = string.format('"%d":%d', k, v) end
  local e = summary.errors
  io.stderr:write(string.format('RESULT {"seconds":%f,"requests":%d,"errors":%d,' ..
    '"p50":%f,"p95":%f,"p99":%f,"statuses":{%s}}\\n', summary.duration / 1e6,
    summary.requests, e.connect + e.read + e.write + e.timeout, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, table.concat(parts, ",")))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answered: it is up
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def seed(url: str, connect_args: dict, instance: Path, runs: int) -> tuple[list[str], list[str]]:
    """Record the account and the subjects, signed like the server signs; return the 64
    subjects and one subject per run of the one-subject workload (each run starts alike)."""
    signer, _, _ = create_key_pair(instance)
    engine = make_engine(url, connect_args=connect_args)
    upgrade(engine)
    store = EventStore(engine, signer=signer)
    create_user(store, "load.staff", PASSWORD, "site_staff", ["SITE-01"])
    staff = User("load.staff", "site_staff", ("SITE-01",), "Load Staff")
    day0 = datetime.now(UTC).date() - timedelta(days=60)
    names = [f"LOAD-{n:03d}" for n in range(SUBJECTS)] + [f"ONE-{n:03d}" for n in range(runs)]
    for name in names:
        subject = SubjectBuilder(store, name, user=staff, day0=day0)
        subject.screening_labs(14)
        subject.lymphodepletion()
        subject.infuse()
        for day in (7, 14, 21, 28):
            subject.platelets(day, 40 + day)
    report = verify_chain(engine, public_keys={signer.key_id: signer.public_key})
    engine.dispose()
    if not report.ok:  # every event chained and covered by a signature, as the server writes
        raise RuntimeError(f"the seeded log does not verify: {report.problem}")
    return names[:SUBJECTS], names[SUBJECTS:]


def token(base: str) -> str:
    request = urllib.request.Request(
        f"{base}/api/v1/auth/token", method="POST",
        data=json.dumps({"username": "load.staff", "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.load(reply)["access_token"]


def same_answer(ecrf_base: str, floor_base: str, bearer: str, subject: str) -> None:
    """Fail unless the floor's efficacy answer is ours, byte for byte."""
    bodies = []
    for url in (f"{ecrf_base}/api/v1/subjects/{subject}/efficacy",
                f"{floor_base}/floor/subjects/{subject}/efficacy"):
        ask = urllib.request.Request(url, headers={"Authorization": f"Bearer {bearer}"})
        with urllib.request.urlopen(ask, timeout=30) as reply:
            bodies.append(reply.read())
    if bodies[0] != bodies[1]:
        raise RuntimeError(f"the floor's answer ({len(bodies[1]):,} bytes) is not ours "
                           f"({len(bodies[0]):,} bytes)")
    print(f"the floor and ecrf answer the same {len(bodies[0]):,} bytes for {subject}",
          flush=True)


def lua_script(kind: str, bearer: str, subjects: list[str]) -> str:
    """kind: submit | read | mixed (80% submit) for ecrf; bare-post | bare-get | bare-mixed;
    floor-submit | floor-read for benchmarks/floor_app.py."""
    body = json.dumps({"visit": "UNSCHEDULED", "platelets": 55,
                       "collected_at": f"{datetime.now(UTC).date()}T08:00:00Z"})
    return f"""
local subjects = {{{",".join(f'"{s}"' for s in subjects)}}}
local n = 0
local headers = {{["Authorization"] = "Bearer {bearer}", ["Content-Type"] = "application/json"}}
local body = '{body}'
request = function()
  n = n + 1
  local s = subjects[(n * 7 + math.random(0, 1000)) % #subjects + 1]
  local kind = "{kind}"
  if kind == "mixed" then kind = (n % 5 == 0) and "read" or "submit" end
  if kind == "bare-mixed" then kind = (n % 5 == 0) and "bare-get" or "bare-post" end
  if kind == "submit" then
    return wrk.format("POST", "/api/v1/subjects/" .. s .. "/forms/platelet_count", headers, body)
  elseif kind == "read" then
    return wrk.format("GET", "/api/v1/subjects/" .. s .. "/efficacy", headers)
  elseif kind == "bare-get" then
    return wrk.format("GET", "/bare", headers)
  elseif kind == "floor-submit" then
    return wrk.format("POST", "/floor/subjects/" .. s .. "/forms/platelet_count", headers, body)
  elseif kind == "floor-read" then
    return wrk.format("GET", "/floor/subjects/" .. s .. "/efficacy", headers)
  end
  return wrk.format("POST", "/bare", headers, body)
end
{LUA_COMMON}"""


def run_wrk(base: str, script: str, seconds: int, directory: Path) -> Run:
    path = directory / f"{uuid.uuid4().hex[:8]}.lua"
    path.write_text(script)
    done = subprocess.run(["wrk", "-t", str(WRK_THREADS), "-c", str(CLIENTS), "-d",
                           f"{seconds}s", "--timeout", "5s", "-s", str(path), base],
                          capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in done.stderr.splitlines() if x.startswith("RESULT ")), None)
    if done.returncode or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-2000:]}")
    raw = json.loads(line.removeprefix("RESULT "))
    return Run(raw["requests"] / raw["seconds"], raw["seconds"], raw["p50"], raw["p95"],
               raw["p99"], {int(k): v for k, v in raw["statuses"].items()}, raw["errors"])


def fresh_database(db: str, work: Path) -> tuple[str, dict, str, Callable[[], None]]:
    """(URL and connect_args for seeding, DATABASE_URL for `ecrf serve`, how to drop it)."""
    if db == "sqlite":
        url = f"sqlite:///{work / 'load.db'}"
        return url, {}, url, lambda: None
    schema = f"load_{uuid.uuid4().hex[:8]}"
    admin(f"CREATE SCHEMA {schema}")
    return (PG_URL, {"options": f"-c search_path={schema}"},
            f"{PG_URL}?options=-csearch_path%3D{schema}",
            lambda: admin(f"DROP SCHEMA {schema} CASCADE"))


def server_env(env_url: str, instance: Path) -> dict[str, str]:
    """The environment of `ecrf serve` and the apps beside it: the database, the instance."""
    return {**os.environ, "DATABASE_URL": env_url, "ECRF_SECRET_KEY": "load",
            "ECRF_INSTANCE_PATH": str(instance), "PYTHONPATH": str(ROOT),
            "ECRF_SIGNING_KEY": str(instance / "signing_key.pem"),
            "ECRF_WITNESS_FILE": str(instance / "checkpoints.jsonl")}


def start_servers(env: dict[str, str], commands: Sequence[list[str]]
                  ) -> list[subprocess.Popen]:
    """Start each command under this Python, quietly, from the repository root."""
    return [subprocess.Popen([sys.executable, *command], env=env, cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for command in commands]


def stop_servers(servers: list[subprocess.Popen]) -> None:
    """SIGTERM each server (a graceful stop), SIGKILL one still running after 30 s."""
    for server in servers:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


WORKLOADS = (("submit", "form submission (platelet_count), 64 subjects", "bare-post",
              "floor-submit"),
             ("read", "efficacy read, 64 subjects", "bare-get", "floor-read"),
             ("mixed", "mixed (80% submission, 20% efficacy read), 64 subjects", "bare-mixed"),
             ("one", "8 clients submitting to ONE subject, no If-Match", "bare-post"))


def phase(db: str, args: argparse.Namespace) -> tuple[list[Workload], float]:
    """Seed a fresh database, serve it and the bare app, run every workload; return the
    workloads with their runs and this phase's wall time."""
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="ecrf-load-"))
    instance = work / "instance"
    url, connect_args, env_url, drop = fresh_database(db, work)
    servers: list[subprocess.Popen] = []
    try:
        subjects, singles = seed(url, connect_args, instance, args.runs)
        env = server_env(env_url, instance)
        where = subprocess.run([sys.executable, "-c", "import ecrf; print(ecrf.__file__)"],
                               env=env, cwd=ROOT, capture_output=True, text=True).stdout
        if not where.startswith(str(ROOT)):
            raise RuntimeError(f"the server would import ecrf from {where.strip()}")
        ports = free_port(), free_port(), free_port()
        servers += start_servers(env, (["-c", SERVE, "serve", "--port", str(ports[0])],
                                       [str(ROOT / "benchmarks/bare_app.py"), str(ports[1])],
                                       [str(ROOT / "benchmarks/floor_app.py"), str(ports[2])]))
        ecrf_base, bare_base, floor_base = (f"http://127.0.0.1:{p}" for p in ports)
        wait_for(f"{ecrf_base}/api/v1/openapi.json", servers[0])
        wait_for(f"{bare_base}/bare", servers[1])
        wait_for(f"{floor_base}/floor/subjects/{subjects[0]}/efficacy", servers[2])
        bearer = token(ecrf_base)
        if args.warmup:  # first-use costs (imports, caches, pools) stay out of run 1
            run_wrk(bare_base, lua_script("bare-mixed", bearer, subjects), args.warmup, work)
            run_wrk(ecrf_base, lua_script("mixed", bearer, subjects), args.warmup, work)
        workloads = [Workload(*w) for w in WORKLOADS]
        for w in workloads:
            if w.key == "read":  # the floor answers what ours answers, or it bounds nothing
                same_answer(ecrf_base, floor_base, bearer, subjects[0])
            for run in range(args.runs):
                targets = [singles[run]] if w.key == "one" else subjects
                kind = "submit" if w.key == "one" else w.key
                w.bare.append(run_wrk(bare_base, lua_script(w.bare_kind, bearer, targets),
                                      args.seconds, work))
                if w.floor_kind:
                    w.floor.append(run_wrk(floor_base, lua_script(w.floor_kind, bearer, targets),
                                           args.seconds, work))
                w.ecrf.append(run_wrk(ecrf_base, lua_script(kind, bearer, targets),
                                      args.seconds, work))
                bare, ours = w.bare[-1], w.ecrf[-1]
                floor = f"floor {w.floor[-1].rps:7,.0f}  " if w.floor_kind else ""
                print(f"{db:8} {w.key:6} run {run + 1}/{args.runs}: bare {bare.rps:7,.0f} "
                      f"req/s  {floor}ecrf {ours.rps:7,.0f} req/s  p95 {ours.p95:6.1f} ms  "
                      f"statuses {dict(sorted(ours.statuses.items()))}", flush=True)
        return workloads, time.monotonic() - started
    finally:
        stop_servers(servers)
        drop()
        shutil.rmtree(work, ignore_errors=True)


def invalid_runs(workloads: list[Workload]) -> list[str]:
    """Runs of the bare app or of a 64-subject workload with a non-2xx answer or a socket
    error. (The one-subject workload's 409s and other answers are what it measures.)"""
    return [f"{w.key} run {n}, {side}: statuses {r.statuses}, socket errors {r.errors}"
            for w in workloads for side in ("bare", "floor", "ecrf")
            for n, r in enumerate(getattr(w, side), start=1)
            if r.errors or (r.non_2xx and not (w.key == "one" and side == "ecrf"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--runs", type=int, default=3, help="runs per workload and server")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per server")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    status = 0
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        load_before = os.getloadavg()
        workloads, elapsed = phase(db, args)
        problems = invalid_runs(workloads)
        if problems:
            print(f"\nINVALID ({db}): answers other than 2xx, nothing written:", *problems,
                  sep="\n  ")
            status = 1
            continue
        table = report(db, workloads, args, (load_before, os.getloadavg()), elapsed)
        print("\n" + table)
        if not args.no_docs:
            write_docs(table, db, ROOT / "docs" / "benchmarks.md")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
