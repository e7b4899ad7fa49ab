"""The `ecrf` command's basics: version, help naming the database, role choices, one-line
errors for a missing or un-migrated database, safe export paths (issue 14, item 5)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ecrf.cli import main
from ecrf.permissions import ROLES
from ecrf.schema import upgrade
from events import make_engine


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("ECRF_SECRET_KEY", "cli-test")
    monkeypatch.setenv("ECRF_INSTANCE_PATH", str(tmp_path / "instance"))
    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    run.db = tmp_path / "cli.db"  # type: ignore[attr-defined]
    return run


def migrated(path: Path) -> None:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()


def test_version_is_printed(cli):
    from importlib.metadata import version

    reply = cli("--version")
    assert reply.exit_code == 0 and reply.output.strip() == f"ecrf, version {version('ecrf')}"


def _commands(group, prefix=()):
    import click

    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name)


@pytest.mark.parametrize("command", sorted(_commands(main)), ids=" ".join)
def test_every_commands_help_names_database_url_and_the_database_in_use(cli, command):
    reply = cli(*command, "--help")
    assert reply.exit_code == 0
    assert "DATABASE_URL" in reply.output and str(cli.db) in reply.output


def test_role_option_lists_the_roles(cli):
    reply = cli("user", "create", "--help")
    assert all(role in reply.output for role in ROLES)
    refused = cli("user", "create", "ana", "--role", "admin", "--site", "S", "--password-stdin",
                  input="long-password-1\n")
    assert refused.exit_code == 2 and "admin" in refused.output


@pytest.mark.parametrize("command", [("verify",), ("export-events", "out.jsonl"),
                                     ("projections", "status"), ("projections", "catch-up"),
                                     ("user", "deactivate", "ana", "--reason", "left")])
def test_a_missing_database_is_one_line_and_exit_2_and_is_not_created(cli, command, tmp_path,
                                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    reply = cli(*command)
    assert reply.exit_code == 2
    assert reply.output.count("\n") == 1 and "Traceback" not in reply.output
    assert "no database at" in reply.output and "ecrf db upgrade" in reply.output
    assert not cli.db.exists()


def test_an_unmigrated_database_says_so(cli):
    import sqlite3

    sqlite3.connect(cli.db).close()  # an empty file: no schema
    reply = cli("verify")
    assert reply.exit_code == 2 and "not migrated" in reply.output
    assert reply.output.count("\n") == 1


def test_export_events_refuses_a_missing_folder_and_an_existing_file(cli, tmp_path):
    migrated(cli.db)
    missing = cli("export-events", str(tmp_path / "nowhere" / "backup.jsonl"))
    assert missing.exit_code == 2 and "no folder" in missing.output
    target = tmp_path / "backup.jsonl"
    target.write_text("keep me")
    existing = cli("export-events", str(target))
    assert existing.exit_code == 2 and "--force" in existing.output
    assert target.read_text() == "keep me"
    assert cli("export-events", str(target), "--force").exit_code == 0
    assert target.read_text() != "keep me"


def test_demo_prints_where_the_database_is(cli):
    reply = cli("demo", "--accounts-only")
    assert reply.exit_code == 0 and f"database: sqlite:///{cli.db}" in reply.output


def test_serve_on_a_taken_port_is_one_line_and_exit_2(cli):
    import socket

    migrated(cli.db)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        reply = cli("serve", "--port", str(port))
    assert reply.exit_code == 2 and "Traceback" not in reply.output
    assert f"cannot serve on 127.0.0.1:{port}" in reply.output and "--port" in reply.output
    assert "eCRF API on" not in reply.output
