"""Removing the newest events is caught even with no receipt kept: the CLI witnesses the head
when it ends, and a server refuses to start on a log shorter than its witness file."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ecrf.cli import main
from events import make_engine
from tests.attacker import Attacker


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    monkeypatch.setenv("ECRF_SECRET_KEY", "witness-test")
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    run.url = f"sqlite:///{tmp_path / 'w.db'}"  # type: ignore[attr-defined]
    return run


def test_the_demo_is_witnessed_to_its_last_event_and_a_cut_is_found(cli):
    assert cli("demo").exit_code == 0
    assert cli("verify").exit_code == 0
    engine = make_engine(cli.url)
    with engine.connect() as conn:
        last = conn.exec_driver_sql("SELECT max(position) FROM events").scalar()
    Attacker(engine, "sqlite").delete_last(last - 40)  # everything after position 40 goes
    engine.dispose()
    refused = cli("verify")
    assert refused.exit_code == 1 and "position" in refused.output
    start = cli("demo", "--accounts-only")  # a writing command: refuses to sign on top
    assert start.exit_code != 0 and "events were removed" in start.output
