"""Fuzz every documented operation with schemathesis, authenticated: bodies, path and query
parameters and headers, valid (positive) and invalid (negative) cases; no 5xx, no response that
breaks its documented schema. At least 1,000 generated requests per run (checked at the end).

The deeper run is a command, not CI (docs/security.md):
``ECRF_FUZZ_EXAMPLES=100 .venv/bin/pytest tests/fuzz -q -s`` (``ECRF_FUZZ_DB=postgresql``
to fuzz a PostgreSQL schema instead of a SQLite file).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from ecrf.accounts.service import create_user
from ecrf.app import create_app
from ecrf.schema import upgrade
from events import make_engine
from tests.conftest import fresh_database
from tests.scenario import Subject

EXAMPLES_PER_OPERATION = int(os.environ.get("ECRF_FUZZ_EXAMPLES", "15"))  # per mode
MIN_REQUESTS = 1000
PASSWORD = "fuzzing-password-1"
SITE_WRITES = ("/forms/", "/corrections", "/void", "/answer")
made = {"requests": 0, "server_errors": 0, "accounts": 0}


FUZZ_DB = os.environ.get("ECRF_FUZZ_DB", "sqlite")  # or postgresql, for a deeper run


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    with fresh_database(FUZZ_DB, tmp_path_factory.mktemp("fuzz")) as (url, connect_args):
        engine = make_engine(url, connect_args=connect_args)
        upgrade(engine)
        yield populated_app(engine)
        engine.dispose()


def populated_app(engine):
    app = create_app({"ENGINE": engine, "SECRET_KEY": "fuzz", "TESTING": True,
                      "RATELIMIT_ENABLED": False})  # the throttle has tests of its own
    store = app.extensions["ecrf"].store
    create_user(store, "fuzz.staff", PASSWORD, "site_staff", ["SITE-01"])
    create_user(store, "fuzz.dm", PASSWORD, "data_manager", ["*"])
    subject = Subject(store, "ITP-001")
    subject.screening_labs(platelets=14)
    subject.infuse()
    subject.platelets(7, 45)
    return app


def login(app, username: str) -> str:
    return app.test_client().post("/api/v1/auth/token", json={
        "username": username, "password": PASSWORD}).json["access_token"]


@pytest.fixture(scope="module")
def tokens(fuzz_app):
    return {name: login(fuzz_app, name) for name in ("fuzz.staff", "fuzz.dm")}


def documented_operations() -> list[tuple[str, str]]:
    """Every (method, path) of the OpenAPI document (generating it touches no database)."""
    app = create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": "spec-only"})
    spec = app.test_client().get("/api/v1/openapi.json").json
    return [(method.upper(), path) for path, item in spec["paths"].items()
            for method in item if method in ("get", "post")]


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)


def fresh_account(app) -> str:
    """A new account and its token: password changes may lock or revoke (a test of its own)."""
    made["accounts"] += 1
    name = f"fuzz.pw.{made['accounts']}"
    create_user(app.extensions["ecrf"].store, name, PASSWORD, "monitor", ["*"])
    return login(app, name)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), documented_operations())
def test_no_server_error_and_documented_responses(api_schema, tokens, method, path, mode):
    operation = api_schema[path][method]
    writer = method == "POST" and (any(p in path for p in SITE_WRITES)
                                   or path == "/api/v1/subjects")
    bearer = f"Bearer {tokens['fuzz.staff' if writer else 'fuzz.dm']}"

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case):
        if case.path_parameters and "subject_id" in case.path_parameters and made[
                "requests"] % 2 == 0:
            case.path_parameters["subject_id"] = "ITP-001"  # get past the 404 half the time
        made["requests"] += 1
        token = bearer
        if path in ("/api/v1/auth/logout", "/api/v1/auth/password"):  # revoke or lock
            token = "Bearer " + fresh_account(api_schema.app)
        # authenticated even in negative cases (which would otherwise mostly test the 401)
        case.headers = {**(case.headers or {}), "Authorization": token}
        checks = [not_a_server_error] + (
            [response_schema_conformance] if mode == GenerationMode.POSITIVE else [])
        response = case.call()
        if response.status_code >= 500:
            made["server_errors"] += 1
        case.validate_response(response, checks=checks)

    fuzz()


def test_the_fuzz_run_made_at_least_a_thousand_requests_and_no_server_error():
    print(f"fuzz: {made['requests']} requests, {made['server_errors']} server errors")
    assert made["requests"] >= MIN_REQUESTS, made
    assert made["server_errors"] == 0, made
