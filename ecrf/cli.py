"""The `ecrf` command: serve, migrate, manage users, verify the chain, seed the demo."""

from __future__ import annotations

import getpass
import sys
import threading

import click

from ecrf.accounts.service import (
    change_role,
    change_sites,
    create_user,
    deactivate_user,
    load_user,
    reset_password,
)
from ecrf.app import create_app
from ecrf.demo import seed_demo
from ecrf.errors import Rejected
from ecrf.permissions import matrix
from ecrf.schema import upgrade
from events import EventStore, event_metadata, verify_chain
from events.backup import ImportRefused, export_events, import_events

DEMO_PASSWORD = "demo-password-1"
DEMO_USERS = (
    ("demo.staff", "site_staff", ["SITE-01"], "Sam Staff"),
    ("demo.staff2", "site_staff", ["SITE-02"], "Sasha Staff"),
    ("demo.investigator", "investigator", ["SITE-01"], "Dr Ivy Investigator"),
    ("demo.monitor", "monitor", ["SITE-01"], "Mo Monitor"),
    ("demo.dm", "data_manager", ["*"], "Dana Manager"),
    ("demo.auditor", "auditor", ["*"], "Audrey Auditor"),
)


def _store() -> EventStore:
    return create_app().extensions["ecrf"].store


def _as_cli():
    return event_metadata(actor=f"cli:{getpass.getuser()}", role="system", client="ecrf-cli")


@click.group()
def main() -> None:
    """Event-sourced eCRF for the CAR-T ITP trial."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
def serve(host: str, port: int, threads: int) -> None:
    """Serve the API with waitress (a production WSGI server)."""
    from waitress import serve as waitress_serve

    app = create_app()
    services = app.extensions["ecrf"]
    upgrade(services.store.engine)
    stop = threading.Event()
    services.runner.catch_up()
    threading.Thread(target=services.runner.run_forever, args=(stop,), daemon=True,
                     name="projections").start()
    click.echo(f"eCRF API on http://{host}:{port}/api/v1 (OpenAPI UI: /api/v1/docs)")
    try:
        waitress_serve(app, host=host, port=port, threads=threads, ident="ecrf")
    finally:
        stop.set()


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations."""
    upgrade(_store().engine)
    click.echo("database is at the latest schema")


@main.group()
def user() -> None:
    """User accounts."""


@user.command("create")
@click.argument("username")
@click.option("--role", required=True)
@click.option("--site", "sites", multiple=True, required=True, help="repeat; '*' for all")
@click.option("--full-name", default=None)
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def user_create(username: str, role: str, sites: tuple[str, ...], full_name: str | None,
                password_stdin: bool) -> None:
    """Create an account."""
    password = (sys.stdin.readline().rstrip("\n") if password_stdin
                else click.prompt("password", hide_input=True, confirmation_prompt=True))
    store = _store()
    upgrade(store.engine)
    try:
        with _as_cli():
            created = create_user(store, username, password, role, list(sites), full_name)
    except Rejected as refused:
        raise click.ClickException(f"{refused.message}: {refused.fields or ''}") from None
    click.echo(f"created {created.username} ({created.role}) at {', '.join(created.sites)}")


def _admin(action, *args) -> None:
    store = _store()
    try:
        with _as_cli():
            action(store, *args)
    except Rejected as refused:
        raise click.ClickException(f"{refused.message}: {refused.fields or ''}") from None


@user.command("deactivate")
@click.argument("username")
@click.option("--reason", required=True)
def user_deactivate(username: str, reason: str) -> None:
    """Deactivate an account (accounts are never deleted: their events name them)."""
    _admin(deactivate_user, username, reason)
    click.echo(f"deactivated {username}")


@user.command("set-role")
@click.argument("username")
@click.option("--role", required=True)
@click.option("--reason", required=True)
def user_set_role(username: str, role: str, reason: str) -> None:
    """Change an account's role."""
    _admin(change_role, username, role, reason)
    click.echo(f"{username} is now {role}")


@user.command("set-sites")
@click.argument("username")
@click.option("--site", "sites", multiple=True, required=True)
@click.option("--reason", required=True)
def user_set_sites(username: str, sites: tuple[str, ...], reason: str) -> None:
    """Change the sites an account may see."""
    _admin(change_sites, username, list(sites), reason)
    click.echo(f"{username} now sees {', '.join(sites)}")


@user.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True)
def user_reset_password(username: str, password_stdin: bool) -> None:
    """Set a new password for an account."""
    password = (sys.stdin.readline().rstrip("\n") if password_stdin
                else click.prompt("new password", hide_input=True, confirmation_prompt=True))
    _admin(reset_password, username, password)
    click.echo(f"password of {username} reset")


@main.command()
def verify() -> None:
    """Check the hash chain; exit status 1 and the position when a link is broken."""
    report = verify_chain(_store().engine)
    if report.ok:
        click.echo(f"chain OK: {report.checked} events, head position {report.head_position}, "
                   f"head hash {report.head_hash}")
        return
    click.echo(f"chain BROKEN at position {report.first_broken_position}: {report.problem} "
               f"({report.checked} events verified before it)", err=True)
    sys.exit(1)


@main.group()
def projections() -> None:
    """Read models of the trial-wide views."""


@projections.command("rebuild")
def projections_rebuild() -> None:
    """Empty the read models and fold every event again, with a progress bar."""
    app = create_app()
    services = app.extensions["ecrf"]
    upgrade(services.store.engine)
    total = services.store.count()
    with click.progressbar(length=total, label="folding events") as bar:
        read = services.runner.rebuild(progress=bar.update)
    click.echo(f"rebuilt the read models from {read} events")


@projections.command("catch-up")
def projections_catch_up() -> None:
    """Apply the events recorded since the checkpoint."""
    runner = create_app().extensions["ecrf"].runner
    read = runner.catch_up()
    status = runner.status()
    click.echo(f"read {read} events; checkpoint {status['position']} of {status['head']}")
    if status["last_error"]:
        raise click.ClickException(f"stopped at position {status['failed_position']}: "
                                   f"{status['last_error']}")


@projections.command("status")
def projections_status() -> None:
    """Show the checkpoint, the lag behind the store and the last failure, if any."""
    status = create_app().extensions["ecrf"].runner.status()
    click.echo(f"{status['name']}: checkpoint {status['position']}, head {status['head']}, "
               f"lag {status['lag']}")
    if status["last_error"]:
        click.echo(f"FAILED at position {status['failed_position']}: {status['last_error']}")
        sys.exit(1)


@main.command("export-events")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
def export_events_command(file: str) -> None:
    """Write the whole event log, hashes included, as JSON lines (a backup)."""
    store = _store()
    total = store.count()
    with open(file, "w", encoding="utf-8") as out, click.progressbar(
            length=total, label="exporting events") as bar:
        written = export_events(store.engine, out, progress=bar.update)
    head = store.head()
    click.echo(f"exported {written} events to {file}; head position "
               f"{head.position if head else 0}, head hash {head.hash if head else '-'}")


@main.command("import-events")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def import_events_command(file: str) -> None:
    """Load a backup into an empty database, verifying every hash; then rebuild projections."""
    app = create_app()
    services = app.extensions["ecrf"]
    upgrade(services.store.engine)
    with open(file, encoding="utf-8") as counting:
        total = sum(1 for _ in counting)
    try:
        with open(file, encoding="utf-8") as lines, click.progressbar(
                label="importing events", length=total) as bar:
            imported = import_events(services.store.engine, lines, progress=bar.update)
    except ImportRefused as refused:
        raise click.ClickException(f"import refused, nothing written: {refused}") from None
    services.runner.rebuild()
    click.echo(f"imported {imported} events; chain verified; read models rebuilt")


@main.command()
def permissions() -> None:
    """Print the permission matrix (action x role)."""
    rows = matrix()
    roles = list(rows[0][1]) if rows else []
    click.echo("action".ljust(22) + "".join(r.ljust(14) for r in roles))
    for action, allowed in rows:
        click.echo(action.ljust(22) + "".join(("yes" if allowed[r] else "-").ljust(14)
                                              for r in roles))


@main.command()
@click.option("--accounts-only", is_flag=True, help="create the accounts but no subjects")
def demo(accounts_only: bool) -> None:
    """Create the schema, the demo accounts and (once) the demo trial; print how to log in."""
    app = create_app()
    services = app.extensions["ecrf"]
    store = services.store
    upgrade(store.engine)
    with _as_cli():
        for username, role, sites, name in DEMO_USERS:
            if load_user(store, username) is None:
                create_user(store, username, DEMO_PASSWORD, role, sites, name)
    if not accounts_only and not store.stream_ids("SubjectRegistered"):
        users = {u: load_user(store, u) for u in ("demo.staff", "demo.investigator",
                                                  "demo.monitor", "demo.staff2")}
        with event_metadata(client="ecrf demo", request_id="demo-seed"):
            subjects = seed_demo(store, users["demo.staff"], users["demo.investigator"],
                                 users["demo.monitor"], users["demo.staff2"], DEMO_PASSWORD)
        services.runner.catch_up()
        click.echo(f"demo trial: {len(subjects)} subjects at SITE-01 and SITE-02")
    click.echo(f"demo accounts (password for all: {DEMO_PASSWORD}):")
    for username, role, sites, _ in DEMO_USERS:
        click.echo(f"  {username:<20} {role:<14} sites {', '.join(sites)}")


from ecrf.cli_export import export  # noqa: E402  (the export group lives in its own module)

main.add_command(export)
