"""Bring a database to the current schema with Alembic (the migrations own the schema)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine


def alembic_config() -> Config:
    """Return an Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", "ecrf:migrations")
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` on this engine's database."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


class DatabaseNotReady(Exception):
    """The database cannot be used as it is: missing, unreachable or not migrated."""


def describe_url(url: str) -> str:
    """Show a database URL without its password (for help texts and messages)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # an unparsable URL is shown as the user gave it
        return url


def check_ready(engine: Engine) -> None:
    """Refuse a database that is missing, unreachable or not at the latest migration.

    A SQLite file that does not exist is reported, not created (connecting would create it).
    """
    from pathlib import Path

    import sqlalchemy as sa
    from alembic.script import ScriptDirectory

    url = engine.url
    shown = describe_url(str(url))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
            and not Path(url.database).exists():
        raise DatabaseNotReady(f"no database at {shown}: run `ecrf db upgrade` or `ecrf demo` "
                               "first, or set DATABASE_URL")
    try:
        with engine.connect() as conn:
            exists = sa.inspect(conn).has_table("alembic_version")
            current = conn.exec_driver_sql("SELECT version_num FROM alembic_version"
                                           ).scalar() if exists else None
    except sa.exc.SQLAlchemyError as error:
        reason = str(error.orig if getattr(error, "orig", None) else error).splitlines()[0]
        raise DatabaseNotReady(f"cannot read the database at {shown}: {reason}") from None
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if current != head:
        raise DatabaseNotReady(f"the database at {shown} is not migrated (schema "
                               f"{current or 'none'}, latest {head}): run `ecrf db upgrade`")
