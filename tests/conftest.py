"""Shared fixtures: every test gets its own real database, on SQLite and on PostgreSQL.

Each test runs against a new SQLite file or a new PostgreSQL schema, migrated with Alembic.
No fixture updates or deletes an event: a finished test's database is discarded whole.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher, profiles
from sqlalchemy.engine import Engine

from ecrf.accounts.service import use_password_hasher
from ecrf.schema import upgrade
from events import EventStore, make_engine
from events.signing import Signer, write_key_pair

POSTGRES_URL = os.environ.get(
    "ECRF_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ENGINES = ("sqlite", "postgresql")

use_password_hasher(PasswordHasher.from_parameters(profiles.CHEAPEST))  # speed, not security


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        default=os.environ.get("ECRF_TEST_DB", ",".join(ENGINES)),
        help="comma-separated databases to run the database tests on (sqlite,postgresql)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_kind" in metafunc.fixturenames:
        kinds = [k for k in metafunc.config.getoption("--db").split(",") if k]
        unknown = set(kinds) - set(ENGINES)
        if unknown:
            raise pytest.UsageError(f"unknown --db value(s): {sorted(unknown)}")
        metafunc.parametrize("db_kind", kinds, scope="function")


@contextmanager
def fresh_database(db_kind: str, directory) -> Iterator[tuple[str, dict]]:
    """Yield (url, connect_args) of a new empty database, discarded whole afterwards."""
    if db_kind == "sqlite":
        yield f"sqlite:///{directory / f'ecrf-{uuid.uuid4().hex[:8]}.db'}", {}
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = make_engine(POSTGRES_URL, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield POSTGRES_URL, {"options": f"-c search_path={schema}"}
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def database_url(db_kind: str, tmp_path) -> Iterator[tuple[str, dict]]:
    """Yield (url, connect_args) of a fresh database of the requested kind."""
    with fresh_database(db_kind, tmp_path) as url:
        yield url


@pytest.fixture
def another_engine(db_kind: str, tmp_path) -> Iterator[Engine]:
    """A second fresh, migrated database of the same kind (restore targets)."""
    with fresh_database(db_kind, tmp_path) as (url, connect_args):
        engine = make_engine(url, connect_args=connect_args)
        upgrade(engine)
        yield engine
        engine.dispose()


@pytest.fixture
def engine(database_url: tuple[str, dict]) -> Iterator[Engine]:
    url, connect_args = database_url
    engine = make_engine(url, connect_args=connect_args)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def signing_key_file(tmp_path_factory) -> str:
    """One Ed25519 key for the session, in a temporary folder (never in the repository)."""
    path = tmp_path_factory.mktemp("keys") / "signing_key.pem"
    write_key_pair(Signer.generate(), path)
    return str(path)


@pytest.fixture(autouse=True)
def _signing_key_outside_the_repository(signing_key_file, tmp_path, monkeypatch) -> None:
    """Apps and CLI commands sign with the session key and witness into the test's folder."""
    monkeypatch.setenv("ECRF_SIGNING_KEY", signing_key_file)
    monkeypatch.setenv("ECRF_WITNESS_FILE", str(tmp_path / "checkpoints.jsonl"))


@pytest.fixture
def signer(signing_key_file) -> Signer:
    return Signer.from_file(signing_key_file)


@pytest.fixture
def store(engine: Engine, signer: Signer) -> EventStore:
    return EventStore(engine, signer=signer)
