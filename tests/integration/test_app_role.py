"""Least privilege on PostgreSQL: `ecrf db grant-app-role ROLE` gives the running app what it
needs and no way around the append-only guard (issue #10). Roles are cluster-wide: each test
makes a uniquely named one and drops it afterwards."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ecrf.cli import main
from ecrf.db_roles import GrantRefused, grant_app_role
from events import EventStore, NewEvent, make_engine, verify_chain
from projections.readmodel.runner import ProjectionRunner
from tests.api.conftest import PASSWORD
from tests.conftest import POSTGRES_URL


def cli_url(database_url: tuple[str, dict], user: str = "postgres") -> str:
    url, connect_args = database_url
    url = url.replace("postgres@", f"{user}@", 1)
    options = connect_args.get("options", "").replace("-c search_path=", "-csearch_path%3D")
    return f"{url}?options={options}" if options else url


@pytest.fixture
def app_role(db_kind, engine):
    if db_kind != "postgresql":
        yield None
        return
    role = f"ecrf_app_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
    try:
        yield role
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()


@pytest.fixture
def as_role(app_role, database_url, signer):
    """A store connected as the granted app role."""
    if app_role is None:
        yield None
        return
    url, connect_args = database_url
    engine = make_engine(url.replace("postgres@", f"{app_role}@", 1),
                         connect_args=connect_args, poolclass=sa.pool.NullPool)
    yield EventStore(engine, signer=signer)
    engine.dispose()


def test_the_grant_is_for_postgresql_and_refuses_unfit_roles(engine, db_kind, app_role):
    if db_kind == "sqlite":
        with pytest.raises(GrantRefused, match="for PostgreSQL"):
            grant_app_role(engine, "anyone")
        return
    with pytest.raises(GrantRefused, match="superuser"):
        grant_app_role(engine, "postgres")
    with pytest.raises(GrantRefused, match="no role"):
        grant_app_role(engine, f"missing_{uuid.uuid4().hex[:8]}")
    with pytest.raises(GrantRefused, match="lower-case"):
        grant_app_role(engine, "x; DROP TABLE events")


def test_as_the_app_role_events_can_be_appended_but_never_changed(
        store, engine, db_kind, app_role, as_role, database_url, monkeypatch):
    if db_kind == "sqlite":
        pytest.skip("SQLite has no roles (the grant refuses it: test above)")
    store.append("S-1", [NewEvent("A", {"n": 1})], expected_version=0)
    before = store.count()
    monkeypatch.setenv("DATABASE_URL", cli_url(database_url))
    granted = CliRunner().invoke(main, ["db", "grant-app-role", app_role])
    assert granted.exit_code == 0, granted.output
    as_role.append("S-1", [NewEvent("B", {"n": 2})], expected_version=1)
    assert [e.type for e in as_role.read_all()][-2:] == ["A", "B"]
    ProjectionRunner(as_role).rebuild()  # the read models are the role's to rewrite
    refused = {
        "UPDATE events SET type = 'X'": "permission denied",
        "DELETE FROM events": "permission denied",
        "TRUNCATE events": "permission denied",
        "SET session_replication_role = replica": "permission denied",
        "ALTER TABLE events DISABLE TRIGGER ALL": "must be owner",
        "DROP TRIGGER events_refuse_update_delete ON events": "must be owner",
    }
    for statement, words in refused.items():
        with pytest.raises(sa.exc.DBAPIError, match=words), as_role.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    assert verify_chain(engine).ok and store.count() == before + 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(base: str, method: str, path: str, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"{base}{path}", method=method, headers=headers,
                                     data=json.dumps(body).encode() if body else None)
    try:
        with urllib.request.urlopen(request, timeout=20) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_ecrf_serve_as_the_app_role_works_end_to_end(
        store, db_kind, app_role, database_url, tmp_path, signing_key_file):
    if db_kind == "sqlite":
        pytest.skip("SQLite has no roles (the grant refuses it: test above)")
    grant_app_role(store.engine, app_role)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": cli_url(database_url, app_role),
           "ECRF_SECRET_KEY": "serve-as-role", "ECRF_SIGNING_KEY": signing_key_file,
           "ECRF_WITNESS_FILE": str(tmp_path / "witness.jsonl")}
    ecrf = Path(sys.executable).with_name("ecrf")
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        server = subprocess.Popen([str(ecrf), "serve", "--port", str(port), "--threads", "2"],
                                  env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the server did not start in 60 s"
                time.sleep(0.2)
        status, token = call(base, "POST", "/auth/token",
                             {"username": "staff", "password": PASSWORD})
        assert status == 200, token
        status, made = call(base, "POST", "/subjects", {
            "subject_id": "ITP-001", "site_id": "SITE-01", "sex": "F",
            "birth_date": "1980-04-02", "consent_date": "2026-01-05",
            "screening_date": "2026-01-06"}, token["access_token"])
        assert status == 201, made
        assert made["receipt"]["key_id"] == store.signer.key_id
        _, auditor = call(base, "POST", "/auth/token",
                          {"username": "auditor", "password": PASSWORD})
        status, report = call(base, "GET", "/audit/verify", token=auditor["access_token"])
        assert status == 200 and report["ok"] is True, report
        assert report["signatures_checked"] is True
        assert f"signing key_id {store.signer.key_id}" in log.read_text()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
