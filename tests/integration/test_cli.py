"""The `ecrf` command on a real SQLite file: accounts, chain check, permissions, rebuild."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ecrf.accounts.service import load_user
from ecrf.cli import DEMO_USERS, main
from ecrf.schema import upgrade
from events import EventStore, make_engine
from tests.contract.test_event_store import tamper


@pytest.fixture
def cli(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ECRF_SECRET_KEY", "cli-test")
    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    run.url = url  # type: ignore[attr-defined]
    return run


def test_user_life_cycle_is_recorded_and_never_deleted(cli):
    created = cli("user", "create", "ana", "--role", "site_staff", "--site", "SITE-01",
                  "--password-stdin", input="a-long-password\n")
    assert created.exit_code == 0, created.output
    assert cli("user", "set-role", "ana", "--role", "investigator", "--reason", "promoted"
               ).exit_code == 0
    assert cli("user", "set-sites", "ana", "--site", "SITE-01", "--site", "SITE-02",
               "--reason", "covers two sites").exit_code == 0
    assert cli("user", "reset-password", "ana", "--password-stdin",
               input="another-password\n").exit_code == 0
    assert cli("user", "deactivate", "ana", "--reason", "left the site").exit_code == 0
    store = EventStore(make_engine(cli.url))
    user = load_user(store, "ana")
    assert (user.role, user.sites, user.active) == ("investigator", ("SITE-01", "SITE-02"),
                                                    False)
    types = [e.type for e in store.read_stream("user:ana")]
    assert types == ["UserCreated", "UserRoleChanged", "UserSitesChanged", "PasswordChanged",
                     "UserDeactivated"]
    assert all(e.metadata["actor"].startswith("cli:") for e in store.read_stream("user:ana"))


def test_an_unknown_role_is_refused_with_a_clear_message(cli):
    result = cli("user", "create", "bo", "--role", "wizard", "--site", "S",
                 "--password-stdin", input="a-long-password\n")
    assert result.exit_code != 0
    assert "role" in result.output


def test_verify_exits_non_zero_with_the_position_of_a_broken_link(cli):
    assert cli("demo", "--accounts-only").exit_code == 0
    ok = cli("verify")
    assert ok.exit_code == 0 and f"OK: {len(DEMO_USERS)} events" in ok.output
    engine = make_engine(cli.url)
    upgrade(engine)
    tamper(engine, "sqlite", "UPDATE events SET type = 'Forged' WHERE position = 3")
    broken = cli("verify")
    assert broken.exit_code == 1
    assert "position 3" in broken.output


def test_permissions_prints_the_matrix(cli):
    result = cli("permissions")
    assert result.exit_code == 0
    assert "casebook.sign" in result.output and "investigator" in result.output


def test_projections_rebuild_and_status(cli):
    cli("demo", "--accounts-only")
    rebuilt = cli("projections", "rebuild")
    assert rebuilt.exit_code == 0 and f"from {len(DEMO_USERS)} events" in rebuilt.output
    assert "lag 0" in cli("projections", "status").output


def test_export_and_import_events_round_trip_through_the_cli(cli, tmp_path, monkeypatch):
    cli("demo", "--accounts-only")
    backup = tmp_path / "backup.jsonl"
    exported = cli("export-events", str(backup))
    assert exported.exit_code == 0 and f"exported {len(DEMO_USERS)} events" in exported.output
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'restored.db'}")
    imported = cli("import-events", str(backup))
    assert imported.exit_code == 0, imported.output
    assert f"imported {len(DEMO_USERS)} events" in imported.output
    again = cli("import-events", str(backup))
    assert again.exit_code == 1 and "empty" in again.output


def test_import_events_refuses_a_backup_signed_by_another_key_naming_the_line(
        cli, tmp_path, monkeypatch):
    from events.signing import Signer, write_key_pair

    cli("demo", "--accounts-only")
    backup = tmp_path / "backup.jsonl"
    cli("export-events", str(backup))
    other = tmp_path / "other.pem"
    write_key_pair(Signer.generate(), other)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'restored.db'}")
    refused = cli("import-events", str(backup), "--public-key",
                  str(tmp_path / "other.pub.pem"))
    assert refused.exit_code == 1
    assert "line 1: the signature of position 1" in refused.output
    assert EventStore(make_engine(f"sqlite:///{tmp_path / 'restored.db'}")).count() == 0
