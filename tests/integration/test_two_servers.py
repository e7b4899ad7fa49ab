"""Two real `ecrf serve` processes on one database (issue #13): each one's stream cache follows
the log, so what one server (or another process) writes is seen by the other at once: a logout,
a deactivated account, a trial lock, a submission. Both databases."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ecrf.accounts.service import create_user, deactivate_user
from events import EventStore, event_metadata
from tests.api.conftest import PASSWORD, platelet_count, registration
from tests.integration.readme_walkthrough import _ecrf, _free_port, _wait_for

ROOT = Path(__file__).resolve().parents[2]


def server_url(database_url: tuple[str, dict]) -> str:
    """The URL a server process is given for this test's database (its schema on PostgreSQL)."""
    url, connect_args = database_url
    options = connect_args.get("options", "").replace("-c search_path=", "-csearch_path%3D")
    return f"{url}?options={options}" if options else url


class Server:
    """One `ecrf serve` process and a tiny JSON client for it."""

    def __init__(self, name: str, env: dict[str, str], folder: Path) -> None:
        self.port = _free_port()
        self.api = f"http://127.0.0.1:{self.port}/api/v1"
        folder.mkdir()
        self.process = subprocess.Popen(
            [_ecrf(), "serve", "--port", str(self.port), "--threads", "4"], cwd=folder,
            env={**env, "ECRF_INSTANCE_PATH": str(folder),
                 "ECRF_WITNESS_FILE": str(folder / "checkpoints.jsonl")},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.name = name

    def call(self, method: str, path: str, body: Any = None, token: str | None = None
             ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api + path, data=data, method=method,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                raw = reply.read()
                return reply.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as refused:
            raw = refused.read()
            return refused.code, json.loads(raw) if raw else None

    def login(self, username: str) -> str:
        status, body = self.call("POST", "/auth/token",
                                 {"username": username, "password": PASSWORD})
        assert status == 200, (self.name, body)
        return body["access_token"]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.process.kill()
            self.process.wait()


@pytest.fixture
def env(database_url, tmp_path) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": server_url(database_url),
            "ECRF_SECRET_KEY": "two-servers-secret", "PYTHONPATH": str(ROOT),
            "ECRF_WITNESS_FILE": str(tmp_path / "cli-checkpoints.jsonl")}


@pytest.fixture
def servers(engine, signer, env, tmp_path) -> Iterator[tuple[Server, Server, EventStore]]:
    """Servers A and B, and an in-test store on the same database (a third process)."""
    admin = EventStore(engine, signer=signer)
    with event_metadata(actor="test", role="system"):
        for username, role, sites in (("staff", "site_staff", ["SITE-01"]),
                                      ("dm", "data_manager", ["*"])):
            create_user(admin, username, PASSWORD, role, sites, username.title())
    a, b = Server("A", env, tmp_path / "a"), Server("B", env, tmp_path / "b")
    try:
        for server in (a, b):
            _wait_for(f"{server.api}/openapi.json", server.process)
        yield a, b, admin
    finally:
        a.stop()
        b.stop()


def test_two_servers_see_each_others_writes_at_once(servers, env):
    """One pair of servers for every check: starting two costs ~10 s on a shared machine."""
    a, b, admin = servers
    accounts_are_followed(a, b, admin)
    writes_land_in_order_and_locks_are_followed(a, b)
    a.stop()
    b.stop()
    verified = subprocess.run([_ecrf(), "verify"], env=env, capture_output=True, text=True,
                              timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def accounts_are_followed(a: Server, b: Server, admin: EventStore) -> None:
    """A logout via A is refused by B; an account created or deactivated by another process
    is seen by both at once."""
    token = a.login("staff")
    assert b.call("GET", "/subjects", token=token)[0] == 200  # B accepts A's token
    assert a.call("POST", "/auth/logout", token=token)[0] == 204
    status, body = b.call("GET", "/subjects", token=token)
    assert (status, body["error"]["code"]) == (401, "token_revoked")

    with event_metadata(actor="test", role="system"):
        create_user(admin, "late", PASSWORD, "site_staff", ["SITE-01"], "Late Comer")
    late = b.login("late")  # an account created after B started
    assert a.call("GET", "/subjects", token=late)[0] == 200
    with event_metadata(actor="test", role="system"):
        deactivate_user(admin, "late", "left the study team")
    for server in (a, b):
        status, body = server.call("GET", "/subjects", token=late)
        assert (status, body["error"]["code"]) == (401, "invalid_token"), server.name


def writes_land_in_order_and_locks_are_followed(a: Server, b: Server) -> None:
    """Submissions alternating between A and B all land in order, each read by the other
    server at once; a trial lock via A makes B refuse."""
    tokens = {a: a.login("staff"), b: b.login("staff")}
    status, body = a.call("POST", "/subjects", registration(), token=tokens[a])
    assert status == 201, body
    path = "/subjects/ITP-001/forms/platelet_count"
    entries = []
    for i in range(10):
        writer, reader = (a, b) if i % 2 == 0 else (b, a)
        status, body = writer.call("POST", path, platelet_count(
            visit="UNSCHEDULED", platelets=200 + i,
            collected_at=f"2026-02-{10 + i:02d}T09:00:00Z"), token=tokens[writer])
        assert status == 201, (writer.name, body)
        entries.append(body["entry_id"])
        status, book = reader.call("GET", "/subjects/ITP-001", token=tokens[reader])
        assert status == 200
        assert entries[-1] in {e["entry_id"] for e in book["entries"]}, reader.name  # at once
    books = [s.call("GET", "/subjects/ITP-001", token=tokens[s])[1] for s in (a, b)]
    assert books[0]["stream_version"] == books[1]["stream_version"]
    recorded = [e["entry_id"] for e in books[0]["entries"] if e["form"] == "platelet_count"]
    assert recorded == entries  # every one, in the order written

    dm = a.login("dm")
    status, body = a.call("POST", "/trial/lock", {"reason": "database lock"}, token=dm)
    assert status == 201, body
    status, body = b.call("POST", path, platelet_count(visit="UNSCHEDULED"), token=tokens[b])
    assert (status, body["error"]["code"]) == (409, "trial_locked")
