"""``ecrf export ...``: write the SDTM package or the PDF casebooks into a folder.

The command runs with the rights of a trial-wide data manager (it reads the database
directly, as ``export-events`` does) and records each export as an ``ExportGenerated`` event on
the ``audit-log`` stream, actor ``cli:<login>``, like the API does.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

from ecrf.accounts.model import ALL_SITES, User
from ecrf.app import create_app
from events import EventStore, NewEvent, event_metadata

AUDIT_LOG = "audit-log"


def _database_url() -> str:
    """The database the commands would use (DATABASE_URL, else the instance's SQLite file),
    without its password."""
    from flask import Flask

    from ecrf.config import from_environment

    instance = os.environ.get("ECRF_INSTANCE_PATH") or Flask("ecrf.app").instance_path
    url = from_environment(instance)["DATABASE_URL"]
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


class _ExportCommand(click.Command):
    """A command whose --help ends by naming DATABASE_URL and the database it would read."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        formatter.write_paragraph()
        formatter.write(f"Database (DATABASE_URL): {_database_url()}\n")


def _services() -> Any:
    """The app's services on a migrated database; else a one-line message and exit 2."""
    services = create_app().extensions["ecrf"]
    if not sa.inspect(services.store.engine).has_table("events"):
        click.echo(f"error: no migrated database at {_database_url()}: run `ecrf db upgrade` "
                   "(or `ecrf demo`) first", err=True)
        sys.exit(2)
    return services


def cli_user() -> User:
    return User(f"cli:{getpass.getuser()}", "data_manager", (ALL_SITES,),
                "command line export")


def record(store: Any, kind: str, subject_ids: Any, position: int, folder: Path) -> None:
    with event_metadata(actor=cli_user().username, role="system", client="ecrf-cli"):
        store.append(AUDIT_LOG, [NewEvent("ExportGenerated", {
            "kind": kind, "filters": {"folder": str(folder)}, "subject_ids": list(subject_ids),
            "up_to_position": position})], expected_version=None)


@click.group("export")
def export() -> None:
    """Write submission files (SDTM, PDF casebooks) into a folder."""


@export.command("sdtm", cls=_ExportCommand)
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def export_sdtm(folder: Path) -> None:
    """Write every SDTM dataset (XPT v5 and Dataset-JSON 1.1) and define.xml into FOLDER."""
    from ecrf.exports.sdtm.build import build_sdtm
    from ecrf.exports.sdtm.package import write_package

    services = _services()
    store = services.store
    subjects = len(store.stream_ids("SubjectRegistered"))
    with click.progressbar(length=subjects, label="building datasets") as bar:
        package = build_sdtm(store, user=cli_user(), config=services.trial, progress=bar.update)
    with click.progressbar(length=2 * len(package.datasets) + 1, label="writing files") as bar:
        written = write_package(package, folder, progress=bar.update)
    record(store, "sdtm", package.subject_ids, package.position, folder)
    click.echo(f"wrote {len(written)} files for {len(package.subject_ids)} subjects to "
               f"{folder} (log position {package.position})")


@export.command("casebooks", cls=_ExportCommand)
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def export_casebooks(folder: Path) -> None:
    """Write one PDF casebook per subject into FOLDER (casebook-<subject>.pdf)."""
    from ecrf.exports.casebook_pdf import build_casebook_pdf, head_checkpoint
    from ecrf.exports.sdtm.build import casebooks

    store: EventStore = _services().store
    head = store.head()
    position = head.position if head else 0
    checkpoint = head_checkpoint(store)
    folder.mkdir(parents=True, exist_ok=True)
    subjects = []
    with click.progressbar(length=len(store.stream_ids("SubjectRegistered")),
                           label="printing casebooks") as bar:
        for book in casebooks(store, cli_user(), position):
            events = store.read_stream(book.subject_id, up_to_position=book.position)
            (folder / f"casebook-{book.subject_id}.pdf").write_bytes(
                build_casebook_pdf(book, events, checkpoint))
            subjects.append(book.subject_id)
            bar.update(1)
    record(store, "casebook_pdf", subjects, position, folder)
    click.echo(f"wrote {len(subjects)} casebooks to {folder} (log position {position})")
