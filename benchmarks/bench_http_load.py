"""HTTP load: 8 concurrent clients (wrk) against `ecrf serve` and a bare Flask endpoint.

Run on purpose: `.venv/bin/python benchmarks/bench_http_load.py [--seconds 15]
[--db sqlite|postgres]`.
Needs wrk (`apt-get install wrk`). Everything runs on loopback, bounded in time; the servers
are stopped at the end. Writes the table to docs/benchmarks.md under "## HTTP load".
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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecrf.accounts.model import User  # noqa: E402
from ecrf.accounts.service import create_user  # noqa: E402
from ecrf.builder import SubjectBuilder  # noqa: E402
from ecrf.schema import upgrade  # noqa: E402
from events import EventStore, make_engine  # noqa: E402

PASSWORD = "load-test-password"
SUBJECTS = 64
CLIENTS = 8
LUA_DONE = """
done = function(summary, latency, requests)
  local out = string.format('{"requests":%d,"seconds":%f,"non2xx":%d,"errors":%d,' ..
    '"p50":%f,"p95":%f,"p99":%f}', summary.requests, summary.duration / 1e6,
    summary.errors.status, summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000)
  io.stderr:write("RESULT " .. out .. "\\n")
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answered: it is up
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def seed(url: str, connect_args: dict) -> list[str]:
    engine = make_engine(url, connect_args=connect_args)
    upgrade(engine)
    store = EventStore(engine)
    create_user(store, "load.staff", PASSWORD, "site_staff", ["SITE-01"])
    staff = User("load.staff", "site_staff", ("SITE-01",), "Load Staff")
    day0 = datetime.now(UTC).date() - timedelta(days=60)
    ids = []
    for n in range(SUBJECTS):
        subject = SubjectBuilder(store, f"LOAD-{n:03d}", user=staff, day0=day0)
        subject.screening_labs(14)
        subject.lymphodepletion()
        subject.infuse()
        for day in (7, 14, 21, 28):
            subject.platelets(day, 40 + day)
        ids.append(subject.subject_id)
    engine.dispose()
    return ids


def token(base: str) -> str:
    request = urllib.request.Request(
        f"{base}/api/v1/auth/token", method="POST",
        data=json.dumps({"username": "load.staff", "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.load(reply)["access_token"]


def lua_script(kind: str, bearer: str, subjects: list[str], day: date) -> str:
    subject_list = ",".join(f'"{s}"' for s in subjects)
    body = json.dumps({"visit": "UNSCHEDULED", "collected_at": f"{day}T08:00:00Z",
                       "platelets": 55})
    return f"""
local subjects = {{{subject_list}}}
local n = 0
local headers = {{["Authorization"] = "Bearer {bearer}", ["Content-Type"] = "application/json"}}
request = function()
  n = n + 1
  local s = subjects[(n * 7 + math.random(0, 1000)) % #subjects + 1]
  local kind = "{kind}"
  if kind == "mixed" then kind = (n % 5 == 0) and "read" or "submit" end
  if kind == "submit" then
    return wrk.format("POST", "/api/v1/subjects/" .. s .. "/forms/platelet_count", headers,
                      '{body}')
  elseif kind == "read" then
    return wrk.format("GET", "/api/v1/subjects/" .. s .. "/efficacy", headers)
  else
    return wrk.format("POST", "/bare", headers, '{body}')
  end
end
{LUA_DONE}
"""


def run_wrk(base: str, script: str, seconds: int, directory: Path, name: str) -> dict:
    path = directory / f"{name}.lua"
    path.write_text(script)
    done = subprocess.run(["wrk", "-t", "2", "-c", str(CLIENTS), "-d", f"{seconds}s",
                           "--timeout", "5s", "-s", str(path), base],
                          capture_output=True, text=True, timeout=seconds + 60, check=True)
    line = next(x for x in done.stderr.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    result["rps"] = result["requests"] / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="ecrf-load-"))
    schema = None
    if args.db == "sqlite":
        url, connect_args, env_url = f"sqlite:///{work / 'load.db'}", {}, None
    else:
        schema = f"load_{uuid.uuid4().hex[:8]}"
        admin = make_engine("postgresql://postgres@127.0.0.1:5432/test")
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        url = "postgresql://postgres@127.0.0.1:5432/test"
        connect_args = {"options": f"-c search_path={schema}"}
        env_url = f"postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    subjects = seed(url, connect_args)
    ecrf_port, bare_port = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": env_url or url, "ECRF_SECRET_KEY": "load"}
    servers = [
        subprocess.Popen([str(ROOT / ".venv/bin/ecrf"), "serve", "--port", str(ecrf_port)],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, str(ROOT / "benchmarks/bare_app.py"),
                          str(bare_port)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL),
    ]
    try:
        ecrf_base, bare_base = f"http://127.0.0.1:{ecrf_port}", f"http://127.0.0.1:{bare_port}"
        wait_for(f"{ecrf_base}/api/v1/openapi.json")
        wait_for(f"{bare_base}/bare")  # a 405 still proves it listens
        bearer = token(ecrf_base)
        today = datetime.now(UTC).date()
        load = os.getloadavg()[0]
        results = {
            "bare endpoint (POST JSON)": run_wrk(bare_base, lua_script("bare", bearer,
                                                 subjects, today), args.seconds, work,
                                                 "bare"),
            "form submission (platelet_count)": run_wrk(
                ecrf_base, lua_script("submit", bearer, subjects, today), args.seconds,
                work, "submit"),
            "projection read (efficacy)": run_wrk(
                ecrf_base, lua_script("read", bearer, subjects, today), args.seconds, work,
                "read"),
            "mixed (80% submit, 20% read)": run_wrk(
                ecrf_base, lua_script("mixed", bearer, subjects, today), args.seconds, work,
                "mixed"),
        }
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        if schema:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        shutil.rmtree(work, ignore_errors=True)
    table = report(results, args, load)
    print(table)
    if not args.no_docs:
        write_docs(table, args.db)


def report(results: dict, args: argparse.Namespace, load: float) -> str:
    bare = results["bare endpoint (POST JSON)"]["rps"]
    submit = results["form submission (platelet_count)"]
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `benchmarks/bench_http_load.py "
        f"--db {args.db} --seconds {args.seconds}`: wrk, {CLIENTS} connections (2 threads), "
        f"`ecrf serve` (waitress, 8 threads) and a bare Flask endpoint served the same way, "
        f"{SUBJECTS} subjects, one run of {args.seconds} s each; load average at start "
        f"{load:.2f} on {os.cpu_count()} cores.", "",
        "| workload | requests/s | p50 ms | p95 ms | p99 ms | non-2xx | errors |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for name, r in results.items():
        lines.append(f"| {name} | {r['rps']:,.0f} | {r['p50']:.1f} | {r['p95']:.1f} | "
                     f"{r['p99']:.1f} | {r['non2xx']} | {r['errors']} |")
    ratio = submit["rps"] / bare
    lines += ["", f"- submission throughput / bare endpoint: **{ratio:.2f}x** (target >= 0.5x: "
              f"{'met' if ratio >= 0.5 else 'missed'})",
              f"- submission p95: **{submit['p95']:.1f} ms** (target < 50 ms: "
              f"{'met' if submit['p95'] < 50 else 'missed'})"]
    return "\n".join(lines)


def write_docs(table: str, db: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    heading = f"## HTTP load ({db})"
    section = f"{heading}\n\n{table}\n"
    if heading in text:
        start = text.index(heading)
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + section + (text[end + 1:] if end != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


if __name__ == "__main__":
    main()
