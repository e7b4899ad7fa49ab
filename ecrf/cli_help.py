"""What every `ecrf` command shares: help that names the database, one-line key errors."""

from __future__ import annotations

import os

import click

from ecrf.schema import describe_url
from events.signing import SigningKeyError


def database_in_use() -> str:
    """The database the commands would use now (DATABASE_URL, else the instance's SQLite file)."""
    from flask import Flask

    from ecrf.config import from_environment

    instance = os.environ.get("ECRF_INSTANCE_PATH") or Flask("ecrf.app").instance_path
    return describe_url(from_environment(instance)["DATABASE_URL"])


def _database_line(formatter: click.HelpFormatter) -> None:
    formatter.write_paragraph()
    formatter.write(f"Database (DATABASE_URL): {database_in_use()}\n")  # unwrapped: a URL


class DatabaseHelp(click.Command):
    """A command whose --help ends by naming DATABASE_URL and the database it would use."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        _database_line(formatter)


class Commands(click.Group):
    """Commands whose help names the database, and which report an unusable signing key as
    one clear line, never a traceback. Sub-groups are of the same kind."""

    command_class = DatabaseHelp
    group_class = type

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SigningKeyError as error:
            raise click.ClickException(str(error)) from None

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        _database_line(formatter)
