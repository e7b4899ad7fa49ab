"""Least privilege on PostgreSQL: the role the running app connects as.

The schema owner migrates (``ecrf db upgrade``) and then grants the app role exactly what it
needs: SELECT and INSERT on ``events`` (never UPDATE, DELETE or TRUNCATE), read and write on
the disposable read models, SELECT on Alembic's version table. The app role owns nothing and
is no superuser, so it can neither drop the append-only triggers nor switch them off with
``SET session_replication_role = replica``.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from projections.readmodel.tables import metadata as read_models

ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class GrantRefused(Exception):
    """The role cannot be made the app role (unknown, superuser, owner, bad name, SQLite)."""


def grant_app_role(engine: Engine, role: str) -> list[str]:
    """Grant ``role`` what the app needs on the current schema; return the statements run."""
    if engine.dialect.name != "postgresql":
        raise GrantRefused("grant-app-role is for PostgreSQL; SQLite has no roles")
    if not ROLE_NAME.fullmatch(role):
        raise GrantRefused("the role name must be lower-case letters, digits and _ "
                           "(at most 63, not starting with a digit)")
    with engine.begin() as conn:
        found = conn.execute(sa.text("SELECT rolsuper, rolbypassrls FROM pg_roles "
                                     "WHERE rolname = :r"), {"r": role}).first()
        if found is None:
            raise GrantRefused(f"there is no role {role!r}: CREATE ROLE {role} LOGIN first")
        if found.rolsuper or found.rolbypassrls:
            raise GrantRefused(f"{role} is a superuser (or bypasses row security): the app "
                               "role must not be")
        schema, owner = conn.execute(sa.text(
            "SELECT current_schema(), pg_get_userbyid(c.relowner) FROM pg_class c "
            "WHERE c.oid = to_regclass('events')")).one()
        if owner == role:
            raise GrantRefused(f"{role} owns the events table: the app role must not own it")
        tables = [t for t in read_models.tables if conn.execute(
            sa.text("SELECT to_regclass(:t)"), {"t": t}).scalar() is not None]
        statements = [
            f'GRANT USAGE ON SCHEMA "{schema}" TO {role}',
            f"REVOKE ALL ON events FROM {role}",
            f"GRANT SELECT, INSERT ON events TO {role}",
            f"GRANT SELECT ON alembic_version TO {role}",
            *(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {t} TO {role}" for t in tables),
        ]
        for statement in statements:
            conn.exec_driver_sql(statement)
    return statements
