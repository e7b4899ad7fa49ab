"""Read models for the trial-wide audit trail and query list (disposable; rebuilt from the
events by ``ecrf projections rebuild``). Nothing in the event log is touched.

The runner's catch-up adds the rows of the events after its checkpoint only, so the new tables
would miss every earlier event: the upgrade therefore empties the read models and removes the
checkpoint, and the next catch-up folds the whole log again, exactly as a rebuild would.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rm_audit_rows",
        sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("subject_id", sa.String(100), nullable=False),
        sa.Column("site_id", sa.String(100), nullable=False),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("role", sa.String(50), nullable=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("recorded_us", sa.BigInteger, nullable=False),
        sa.Column("row", sa.Text, nullable=False),
    )
    for name, columns in (("subject", ["subject_id", "position", "seq"]),
                          ("site", ["site_id", "position", "seq"]),
                          ("actor", ["actor", "position", "seq"]),
                          ("role", ["role", "position", "seq"]),
                          ("type", ["event_type", "position", "seq"]),
                          ("recorded", ["recorded_us"])):
        op.create_index(f"ix_rm_audit_rows_{name}", "rm_audit_rows", columns)
    op.create_table(
        "rm_queries",
        sa.Column("subject_id", sa.String(100), primary_key=True),
        sa.Column("query_id", sa.String(64), primary_key=True),
        sa.Column("site_id", sa.String(100), nullable=False),
        sa.Column("registered_position", sa.BigInteger, nullable=False),
        sa.Column("opened_position", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("opened_us", sa.BigInteger, nullable=False),
        sa.Column("row", sa.Text, nullable=False),
    )
    op.create_index("ix_rm_queries_order", "rm_queries",
                    ["registered_position", "opened_position"])
    op.create_index("ix_rm_queries_state", "rm_queries",
                    ["state", "registered_position", "opened_position"])
    for table in ("rm_visits", "rm_adverse_events", "rm_subjects", "rm_checkpoints"):
        op.execute(sa.text(f"DELETE FROM {table}"))


def downgrade() -> None:
    for table in ("rm_queries", "rm_audit_rows"):
        op.drop_table(table)
