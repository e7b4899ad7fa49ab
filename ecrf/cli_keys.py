"""The `ecrf keys` commands and the key-file plumbing of `serve`, `demo` and `verify`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask

from ecrf.cli_help import Commands
from ecrf.evidence import check_signing_key, ensure_signing_key, witness_checkpoints
from events import verify_chain
from events.checkpoints import read_checkpoints
from events.rotation import rotate
from events.signing import (
    PRIVATE_KEY_NAME,
    Signer,
    SigningKeyError,
    key_id_of,
    load_public_key,
    write_key_pair,
)


def app_for_keys() -> Flask:
    """The app, without creating a missing default key (commands that only read)."""
    from ecrf.app import create_app

    try:
        return create_app({"SIGNING_KEY_CREATE": True})
    except SigningKeyError as error:
        raise click.ClickException(str(error)) from None


def started_key(app: Flask) -> Signer:
    """The key of serve/demo: made on first start, refused when it did not sign the log."""
    try:
        signer, created = ensure_signing_key(app)
    except SigningKeyError as error:
        raise click.ClickException(str(error)) from None
    if created:
        click.echo(f"created a signing key in {app.config['SIGNING_KEY_FILE']} "
                   "(keep it outside the database, and back it up)")
    click.echo(f"signing key_id {signer.key_id}")
    return signer


@click.group(cls=Commands)
def keys() -> None:
    """The server's event-signing key (Ed25519), kept outside the database."""


@keys.command("create")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None,
              help="folder for signing_key.pem and signing_key.pub.pem (default: the "
                   "instance folder)")
def keys_create(directory: str | None) -> None:
    """Write a new private key (PEM, mode 0600) and its public key (PEM)."""
    if directory is None:
        directory = str(Path(app_for_keys().config["SIGNING_KEY_FILE"]).parent)
    target = Path(directory) / PRIVATE_KEY_NAME
    if target.exists():
        raise click.ClickException(f"{target} exists already: a key is never overwritten")
    signer = Signer.generate()
    private, public = write_key_pair(signer, target)
    click.echo(f"private key {private} (mode 0600), public key {public}")
    click.echo(f"key_id {signer.key_id}; use it with ECRF_SIGNING_KEY={private}")


@keys.command("show")
def keys_show() -> None:
    """Print the server's public key and its key_id."""
    signer = app_for_keys().extensions["ecrf"].store.signer
    if signer is None:
        raise click.ClickException("no signing key yet: `ecrf serve` or `ecrf demo` creates "
                                   "one, or `ecrf keys create`")
    click.echo(signer.public_pem.rstrip())
    click.echo(f"key_id {signer.key_id}")


@keys.command("rotate")
def keys_rotate() -> None:
    """Hand signing over to a new key: a SigningKeyRotated event signed by the old key; the
    old private key file is kept beside the new one as ``*.retired-<key_id>``."""
    app = app_for_keys()
    store = app.extensions["ecrf"].store
    if store.signer is None:
        raise click.ClickException("no signing key to rotate from")
    path = Path(app.config["SIGNING_KEY_FILE"])
    try:
        check_signing_key(store)
    except SigningKeyError as error:
        raise click.ClickException(str(error)) from None
    old, new = store.signer, Signer.generate()
    staged = path.with_name(path.name + ".new")
    write_key_pair(new, staged, path.with_name(path.name + ".new.pub"))
    from ecrf.cli import _as_cli

    with _as_cli():
        rotate(store, new)
    os.replace(path, path.with_name(f"{path.name}.retired-{old.key_id}"))
    os.replace(staged, path)
    public = path.with_name(path.name.removesuffix(".pem") + ".pub.pem")
    os.replace(path.with_name(path.name + ".new.pub"), public)
    click.echo(f"rotated from key_id {old.key_id} to {new.key_id}; the old private key is "
               f"kept as {path.name}.retired-{old.key_id}: destroy it once archived")


def run_verify(checkpoint_files: tuple[str, ...], public_key_files: tuple[str, ...]) -> None:
    """The `ecrf verify` command: exit 0 when all holds, 1 at the first failure, 2 when the
    database (or a file) cannot be read."""
    try:
        app = app_for_keys()
        store = app.extensions["ecrf"].store
        if public_key_files:
            trusted = [load_public_key(Path(f).read_bytes()) for f in public_key_files]
            public_keys = {key_id_of(k): k for k in trusted}
        elif store.signer is not None:
            public_keys = {store.signer.key_id: store.signer.public_key}
        else:
            _fail(2, "no public key to check signatures with: give --public-key PEM or "
                     "ECRF_SIGNING_KEY")
        points = witness_checkpoints(app)
        for name in checkpoint_files:
            points.extend(read_checkpoints(name))
        report = verify_chain(store.engine, public_keys=public_keys, checkpoints=points)
    except (OSError, SigningKeyError, click.ClickException) as error:
        _fail(2, f"cannot read: {getattr(error, 'message', None) or error}")
    except (sa.exc.SQLAlchemyError, sa.exc.DBAPIError) as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        _fail(2, f"cannot read the database: {reason}")
    if report.ok:
        click.echo(f"OK: {report.checked} events, head {report.head_hash}")
        click.echo(f"checked {', '.join(report.checks)}; keys {', '.join(report.key_ids)}; "
                   f"{report.checkpoints_checked} checkpoints")
        return
    click.echo(f"position {report.first_broken_position}: {report.problem}", err=True)
    sys.exit(1)


def _fail(code: int, message: str) -> None:
    click.echo(message, err=True)
    sys.exit(code)
