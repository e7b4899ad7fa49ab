"""Time refused logins with the production argon2 parameters: an unknown user must cost what a
wrong password for a known one costs (no user enumeration by timing, docs/security.md).

Run from the repository root::

    .venv/bin/python benchmarks/bench_login_timing.py [--runs 30]

Uses a SQLite file in a temporary directory, argon2-cffi's default ``PasswordHasher`` (the one
``ecrf serve`` uses) and the Flask test client; the throttle is switched off so that every
attempt reaches the password check. Prints the median and p95 per kind of refusal, in ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from argon2 import PasswordHasher

from ecrf.accounts.service import create_user, use_password_hasher
from ecrf.app import create_app
from ecrf.schema import upgrade
from events import make_engine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    use_password_hasher(PasswordHasher())
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)
        app = create_app({"ENGINE": engine, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False})
        store = app.extensions["ecrf"].store
        client = app.test_client()
        kinds = {"wrong password": [], "unknown user": []}
        for n in range(args.runs):
            # a new account per run, so that no lock (5 failures) cuts the check short
            create_user(store, f"user{n}", "right-password-1", "monitor", ["*"])
            for kind, username in (("wrong password", f"user{n}"),
                                   ("unknown user", f"nobody{n}")):
                started = time.perf_counter()
                reply = client.post("/api/v1/auth/token", json={
                    "username": username, "password": "wrong-password-1"})
                kinds[kind].append((time.perf_counter() - started) * 1000)
                assert reply.status_code == 401
        print("| refusal | median ms | p95 ms |\n|---|---|---|")
        for kind, times in kinds.items():
            p95 = statistics.quantiles(times, n=20)[-1]
            print(f"| {kind} | {statistics.median(times):.1f} | {p95:.1f} |")


if __name__ == "__main__":
    main()
