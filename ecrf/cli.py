"""The `ecrf` command: serve, migrate, manage users, verify the chain, seed the demo."""

from __future__ import annotations

import getpass
import signal
import sys
import threading
from pathlib import Path

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
from ecrf.cli_help import Commands
from ecrf.cli_keys import keys, run_verify, started_key
from ecrf.db_roles import GrantRefused, grant_app_role
from ecrf.demo import seed_demo
from ecrf.errors import Rejected
from ecrf.evidence import ensure_signing_key, run_witness_forever, witness_now
from ecrf.permissions import ROLES, matrix
from ecrf.schema import DatabaseNotReady, check_ready, describe_url, upgrade
from ecrf.server import DEFAULT_THREADS, make_server
from events import EventStore, event_metadata
from events.backup import ImportRefused, backup_keys, export_events, import_events
from events.signing import SigningKeyError, key_id_of, load_public_key

DEMO_PASSWORD = "demo-password-1"
DEMO_USERS = (
    ("demo.staff", "site_staff", ["SITE-01"], "Sam Staff"),
    ("demo.staff2", "site_staff", ["SITE-02"], "Sasha Staff"),
    ("demo.investigator", "investigator", ["SITE-01"], "Dr Ivy Investigator"),
    ("demo.investigator2", "investigator", ["SITE-02"], "Dr Ines Investigator"),
    ("demo.monitor", "monitor", ["SITE-01"], "Mo Monitor"),
    ("demo.dm", "data_manager", ["*"], "Dana Manager"),
    ("demo.auditor", "auditor", ["*"], "Audrey Auditor"),
)


def _store() -> EventStore:
    """The store of a command that writes: its key is made on first use, and must be the one
    that signed the log so far."""
    app = create_app()
    try:
        ensure_signing_key(app)
    except SigningKeyError as error:
        raise click.ClickException(str(error)) from None
    _witness_on_close(app)
    return app.extensions["ecrf"].store


def _witness_on_close(app) -> None:
    """Witness the head when the command ends, so what it appended is in the witness file."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(lambda: witness_now(app))


def _require_database() -> None:
    """Refuse, in one line and with exit 2, a missing or un-migrated database (before anything
    connects to it: connecting to a missing SQLite file would create it)."""
    engine = create_app({"SIGNING_KEY_CREATE": True}).extensions["ecrf"].store.engine
    try:
        check_ready(engine)
    except DatabaseNotReady as problem:
        click.echo(f"error: {problem}", err=True)
        sys.exit(2)
    finally:
        engine.dispose()


def _ready_store() -> EventStore:
    """The store of an existing, migrated database (see _require_database)."""
    _require_database()
    return _store()


def _as_cli():
    return event_metadata(actor=f"cli:{getpass.getuser()}", role="system", client="ecrf-cli")


@click.group(cls=Commands)
@click.version_option(package_name="ecrf", prog_name="ecrf")
def main() -> None:
    """Event-sourced eCRF for the CAR-T ITP trial."""


main.add_command(keys)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=DEFAULT_THREADS, show_default=True, type=int)
def serve(host: str, port: int, threads: int) -> None:
    """Serve the API with waitress (a production WSGI server)."""
    app = create_app()
    services = app.extensions["ecrf"]
    upgrade(services.store.engine)
    started_key(app)
    stop = threading.Event()
    services.runner.catch_up()
    threading.Thread(target=services.runner.run_forever, args=(stop,), daemon=True,
                     name="projections").start()
    threading.Thread(target=run_witness_forever, args=(app, stop), daemon=True,
                     name="witness").start()
    try:
        _probe(host, port)  # waitress leaks its socket when the bind fails: try ours first
        server = make_server(app, host, port, threads)
    except OSError as error:  # e.g. the port is taken: one line, not a traceback
        stop.set()
        click.echo(f"error: cannot serve on {host}:{port}: {error.strerror or error}; "
                   "choose another with --port", err=True)
        sys.exit(2)
    click.echo(f"eCRF API on http://{host}:{port}/api/v1 (OpenAPI UI: /api/v1/docs)")
    signal.signal(signal.SIGTERM, _stop_serving)
    try:
        server.run()
    finally:
        stop.set()
        witness_now(app)  # the last writes are witnessed when the server stops


def _stop_serving(_signum: int, _frame: object) -> None:
    """SIGTERM (a service manager's stop) leaves waitress's loop as Ctrl-C does: the requests
    in flight finish (waitress waits up to 5 s), the last writes are witnessed and the last
    request-log lines written before the process exits."""
    raise SystemExit(0)


def _probe(host: str, port: int) -> None:
    """Bind the address once and let it go: raises OSError when it cannot be served."""
    import socket

    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations."""
    upgrade(create_app().extensions["ecrf"].store.engine)
    click.echo("database is at the latest schema")


@db.command("grant-app-role")
@click.argument("role")
def db_grant_app_role(role: str) -> None:
    """Grant ROLE what the running app needs and no more (PostgreSQL; run as the owner)."""
    try:
        statements = grant_app_role(create_app().extensions["ecrf"].store.engine, role)
    except GrantRefused as refused:
        raise click.ClickException(str(refused)) from None
    for statement in statements:
        click.echo(statement)
    click.echo(f"{role} may SELECT and INSERT events, and nothing more on them")


@main.group()
def user() -> None:
    """User accounts."""


@user.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ROLES))
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
    store = _ready_store()
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
@click.option("--role", required=True, type=click.Choice(ROLES))
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
@click.option("--checkpoint", "checkpoints", multiple=True,
              type=click.Path(dir_okay=False), help="a file of one checkpoint (JSON) or JSON "
              "lines of them, e.g. kept receipts; repeatable")
@click.option("--public-key", "public_keys", multiple=True, type=click.Path(dir_okay=False),
              help="a PEM public key to trust instead of the server's; repeatable")
def verify(checkpoints: tuple[str, ...], public_keys: tuple[str, ...]) -> None:
    """Check the log: positions, stream versions, time order, hashes, signatures, casebook
    signatures' covers_hash, the witness file and any --checkpoint. Exit 0 when everything
    holds, 1 at the first failure, 2 when the database cannot be read."""
    _require_database()
    run_verify(checkpoints, public_keys)


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
    _require_database()
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
    _require_database()
    status = create_app().extensions["ecrf"].runner.status()
    click.echo(f"{status['name']}: checkpoint {status['position']}, head {status['head']}, "
               f"lag {status['lag']}")
    if status["last_error"]:
        click.echo(f"FAILED at position {status['failed_position']}: {status['last_error']}")
        sys.exit(1)


@main.command("form-reference")
@click.argument("path", default="docs/forms.md", type=click.Path(dir_okay=False))
@click.option("--check", is_flag=True, help="only compare: exit 1 if PATH is out of date")
def form_reference_command(path: str, check: bool) -> None:
    """Write the form reference (Markdown) generated from the form schemas to PATH."""
    from pathlib import Path

    from ecrf.forms.reference import form_reference

    text, target = form_reference(), Path(path)
    if check:
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current != text:
            raise click.ClickException(f"{path} is out of date: run `ecrf form-reference`")
        click.echo(f"{path} is up to date")
        return
    target.write_text(text, encoding="utf-8")
    click.echo(f"wrote {path} ({len(text.splitlines())} lines)")


@main.command("export-events")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@click.option("--force", is_flag=True, help="overwrite FILE if it exists")
def export_events_command(file: str, force: bool) -> None:
    """Write the whole event log, hashes included, as JSON lines (a backup)."""
    from pathlib import Path

    target = Path(file)
    if not target.parent.is_dir():
        click.echo(f"error: no folder {str(target.parent)!r} to write {target.name} in", err=True)
        sys.exit(2)
    if target.exists() and not force:
        click.echo(f"error: {file} exists: give --force to overwrite it", err=True)
        sys.exit(2)
    store = _ready_store()
    total = store.count()
    with open(file, "w", encoding="utf-8") as out, click.progressbar(
            length=total, label="exporting events") as bar:
        written = export_events(store.engine, out, progress=bar.update)
    head = store.head()
    click.echo(f"exported {written} events to {file}; head position "
               f"{head.position if head else 0}, head hash {head.hash if head else '-'}")


@main.command("import-events")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--public-key", "public_keys", multiple=True, type=click.Path(dir_okay=False),
              help="a PEM public key to trust instead of the server's; repeatable")
def import_events_command(file: str, public_keys: tuple[str, ...]) -> None:
    """Load a backup into an empty database, verifying every hash, signature, stream version
    and the time order; then rebuild projections."""
    app = create_app()
    services = app.extensions["ecrf"]
    upgrade(services.store.engine)
    signer = services.store.signer
    try:
        trusted = [load_public_key(Path(f).read_bytes()) for f in public_keys] or (
            [signer.public_key] if signer else [])
    except (OSError, SigningKeyError) as error:
        raise click.ClickException(f"cannot read the public key: {error}") from None
    if not trusted:
        raise click.ClickException("no public key to check the signatures with: give "
                                   "--public-key PEM or ECRF_SIGNING_KEY")
    with open(file, encoding="utf-8") as counting:
        total = sum(1 for _ in counting)
    with open(file, encoding="utf-8") as scanning:
        keys = backup_keys(scanning, {key_id_of(k): k for k in trusted})
    try:
        with open(file, encoding="utf-8") as lines, click.progressbar(
                label="importing events", length=total) as bar:
            imported = import_events(services.store.engine, lines, progress=bar.update,
                                     public_keys=keys)
    except ImportRefused as refused:
        raise click.ClickException(f"import refused, nothing written: {refused}") from None
    services.runner.rebuild()
    click.echo(f"imported {imported} events; chain and signatures verified; read models "
               "rebuilt")


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
    started_key(app)
    with _as_cli():
        for username, role, sites, name in DEMO_USERS:
            if load_user(store, username) is None:
                create_user(store, username, DEMO_PASSWORD, role, sites, name)
    if not accounts_only and not store.stream_ids("SubjectRegistered"):
        users = {u: load_user(store, u) for u in ("demo.staff", "demo.investigator",
                                                  "demo.monitor", "demo.staff2",
                                                  "demo.investigator2")}
        with event_metadata(client="ecrf demo", request_id="demo-seed"):
            subjects = seed_demo(store, users["demo.staff"], users["demo.investigator"],
                                 users["demo.monitor"], users["demo.staff2"], DEMO_PASSWORD,
                                 investigator_site2=users["demo.investigator2"])
        services.runner.catch_up()
        click.echo(f"demo trial: {len(subjects)} subjects at SITE-01 and SITE-02")
    witness_now(app)  # what the demo recorded is witnessed before anyone can remove it
    click.echo(f"database: {describe_url(str(store.engine.url))}")
    click.echo(f"demo accounts (password for all: {DEMO_PASSWORD}):")
    for username, role, sites, _ in DEMO_USERS:
        click.echo(f"  {username:<20} {role:<14} sites {', '.join(sites)}")


from ecrf.cli_export import export  # noqa: E402  (the export group lives in its own module)

main.add_command(export)
