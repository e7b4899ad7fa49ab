"""The trial audit read model keeps one row per event instead of one per audit row.

``rm_audit_rows`` held several rows per event (one per field), each with its own index
entries; every filter is a property of the event, and a page never splits an event's rows,
so ``rm_audit_events`` keeps one row per event, with the keys its rows share written once.
A rebuild of a million-event trial wrote 5.8 million rows (and six index entries for each)
and 1.7 GB of row text before.

Read models are disposable: the upgrade drops the old table, empties the others and removes
the checkpoint, and the next catch-up folds the whole log again, exactly as a rebuild would.
Nothing in the event log is touched.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

READ_MODELS = ("rm_visits", "rm_adverse_events", "rm_subjects", "rm_queries", "rm_checkpoints")
INDEXES = (("subject", ["subject_id", "position"]), ("site", ["site_id", "position"]),
           ("actor", ["actor", "position"]), ("role", ["role", "position"]),
           ("type", ["event_type", "position"]), ("recorded", ["recorded_us"]))


def upgrade() -> None:
    op.drop_table("rm_audit_rows")
    op.create_table(
        "rm_audit_events",
        sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("subject_id", sa.String(100), nullable=False),
        sa.Column("site_id", sa.String(100), nullable=False),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("role", sa.String(50), nullable=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("recorded_us", sa.BigInteger, nullable=False),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("head", sa.Text, nullable=False),
        sa.Column("tails", sa.Text, nullable=False),
    )
    for name, columns in INDEXES:
        op.create_index(f"ix_rm_audit_events_{name}", "rm_audit_events", columns)
    for table in READ_MODELS:
        op.execute(sa.text(f"DELETE FROM {table}"))


def downgrade() -> None:
    op.drop_table("rm_audit_events")
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
    for name, columns in INDEXES:
        op.create_index(f"ix_rm_audit_rows_{name}", "rm_audit_rows",
                        columns if name == "recorded" else [*columns, "seq"])
    for table in READ_MODELS:
        op.execute(sa.text(f"DELETE FROM {table}"))
