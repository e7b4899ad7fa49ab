"""API fixtures: an app on the per-test database, users of every role, and an API client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ecrf.accounts.service import create_user
from ecrf.app import create_app

PASSWORD = "correct-horse-1"
USERS = {
    "staff": ("site_staff", ["SITE-01"]),
    "investigator": ("investigator", ["SITE-01"]),
    "monitor": ("monitor", ["SITE-01"]),
    "dm": ("data_manager", ["*"]),
    "auditor": ("auditor", ["*"]),
    "staff2": ("site_staff", ["SITE-02"]),
}


@pytest.fixture
def app(engine, tmp_path):
    app = create_app({"ENGINE": engine, "SECRET_KEY": "test-secret", "TESTING": True,
                      "DATABASE_URL": "unused"})
    store = app.extensions["ecrf"].store
    for username, (role, sites) in USERS.items():
        create_user(store, username, PASSWORD, role, sites, username.title())
    return app


@pytest.fixture
def store(app):
    return app.extensions["ecrf"].store


class Api:
    """A thin client that logs in as a user and speaks JSON to /api/v1."""

    def __init__(self, client, token: str | None) -> None:
        self.client, self.token = client, token

    def _headers(self, headers: dict | None) -> dict:
        base = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**base, **(headers or {})}

    def get(self, path: str, **kw: Any):
        return self.client.get(f"/api/v1{path}", headers=self._headers(kw.pop("headers", None)),
                               **kw)

    def post(self, path: str, json: Any = None, **kw: Any):
        return self.client.post(f"/api/v1{path}", json=json,
                                headers=self._headers(kw.pop("headers", None)), **kw)


@pytest.fixture
def as_user(app) -> Callable[[str], Api]:
    client = app.test_client()

    def login(username: str) -> Api:
        reply = client.post("/api/v1/auth/token",
                            json={"username": username, "password": PASSWORD})
        assert reply.status_code == 200, reply.json
        return Api(client, reply.json["access_token"])

    return login


@pytest.fixture
def staff(as_user) -> Api:
    return as_user("staff")


@pytest.fixture
def anonymous(app) -> Api:
    return Api(app.test_client(), None)


def registration(subject_id: str = "ITP-001", **changes: Any) -> dict:
    return {"subject_id": subject_id, "site_id": "SITE-01", "sex": "F",
            "birth_date": "1980-04-02", "consent_date": "2026-01-05",
            "screening_date": "2026-01-06", **changes}


def platelet_count(**changes: Any) -> dict:
    return {"visit": "D7", "collected_at": "2026-02-10T09:30:00+08:00", "platelets": 42,
            **changes}


@pytest.fixture
def subject(staff) -> str:
    reply = staff.post("/subjects", registration())
    assert reply.status_code == 201, reply.json
    return "ITP-001"
