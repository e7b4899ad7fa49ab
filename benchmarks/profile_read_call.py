"""One cached efficacy read's WSGI call, in process, against a bare Flask endpoint's.

Run on purpose, from the repository root::

    python benchmarks/profile_read_call.py [--grow 200] [--calls 3000] [--rounds 5]
        [--loop SECONDS]

It seeds a SQLite database as benchmarks/bench_http_load.py does, grows one subject's
casebook by ``--grow`` platelet counts through the API (so the answer has the size the HTTP
benchmark reads), then calls the app's WSGI callable directly with a prepared environ: no
socket, no server thread, no other request. It prints the median over ``--rounds`` of the
mean microseconds per call of ``--calls`` calls, for ecrf and for a bare Flask endpoint in
the same process. ``--loop`` then keeps calling ecrf for that many seconds, for a sampling
profiler::

    py-spy record -r 500 -f raw -o read.txt -- python benchmarks/profile_read_call.py --loop 20

The figures are a part of what benchmarks/profile_http.py measures under load (there,
waitress, the socket and the other threads add to both servers); it writes nothing to docs/.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_http_load import PASSWORD, seed  # noqa: E402


def environ(path: str, token: str) -> dict[str, Any]:
    return {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "wsgi.multithread": True,
            "wsgi.multiprocess": False, "wsgi.run_once": False, "wsgi.version": (1, 0),
            "HTTP_HOST": "127.0.0.1:8000", "HTTP_AUTHORIZATION": f"Bearer {token}",
            "REMOTE_ADDR": "127.0.0.1", "SCRIPT_NAME": ""}


def call(app: Callable, base: dict[str, Any]) -> None:
    def start_response(status: str, _headers: list, _exc_info: Any = None) -> None:
        if not status.startswith("200"):
            raise RuntimeError(f"answered {status}")

    body = app({**base, "wsgi.input": io.BytesIO(b"")}, start_response)
    b"".join(body)
    if hasattr(body, "close"):
        body.close()


def per_call_us(app: Callable, base: dict[str, Any], calls: int, rounds: int) -> float:
    for _ in range(200):
        call(app, base)
    means = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            call(app, base)
        means.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(means)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grow", type=int, default=200, help="platelet counts added")
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loop", type=float, default=0.0, help="seconds of ecrf calls after")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ecrf-read-call-"))
    instance = work / "instance"
    url = f"sqlite:///{work / 'load.db'}"
    subjects, _ = seed(url, {}, instance, 1)
    os.environ.update({"DATABASE_URL": url, "ECRF_SECRET_KEY": "load",
                       "ECRF_INSTANCE_PATH": str(instance),
                       "ECRF_SIGNING_KEY": str(instance / "signing_key.pem"),
                       "ECRF_WITNESS_FILE": str(instance / "checkpoints.jsonl")})
    import logging

    from flask import Flask, jsonify

    from ecrf.app import create_app

    app = create_app()
    logging.getLogger("ecrf.request").handlers[0].stream = open(os.devnull, "w")  # noqa: SIM115
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "load.staff",
                                                    "password": PASSWORD}).get_json()
    bearer = token["access_token"]
    subject = subjects[0]
    count = {"visit": "UNSCHEDULED", "platelets": 55,
             "collected_at": f"{datetime.now(UTC).date()}T08:00:00Z"}
    for _ in range(args.grow):
        reply = client.post(f"/api/v1/subjects/{subject}/forms/platelet_count", json=count,
                            headers={"Authorization": f"Bearer {bearer}"})
        if reply.status_code != 201:
            raise RuntimeError(reply.get_json())
    read = environ(f"/api/v1/subjects/{subject}/efficacy", bearer)
    size = len(client.get(read["PATH_INFO"], headers={"Authorization": f"Bearer {bearer}"}).data)

    bare = Flask("bare")
    bare.get("/bare")(lambda: jsonify({"subject_id": "x", "best_response": "NR"}))
    gc.collect()
    gc.freeze()  # as `ecrf serve` does (ecrf.server.settle_for_serving)
    ours = per_call_us(app, read, args.calls, args.rounds)
    theirs = per_call_us(bare, environ("/bare", bearer), args.calls, args.rounds)
    print(f"efficacy answer {size:,} bytes; per call, median of {args.rounds} x {args.calls}: "
          f"ecrf {ours:.1f} us, bare {theirs:.1f} us ({theirs / ours:.2f}x)")
    end = time.monotonic() + args.loop
    while time.monotonic() < end:
        for _ in range(100):
            call(app, read)
    return 0


if __name__ == "__main__":
    sys.exit(main())
