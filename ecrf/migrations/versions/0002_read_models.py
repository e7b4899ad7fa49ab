"""Read-model tables for the trial-wide views (disposable; rebuilt from the events).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rm_checkpoints",
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed_position", sa.BigInteger, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_table(
        "rm_subjects",
        sa.Column("subject_id", sa.String(100), primary_key=True),
        sa.Column("site_id", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("eligibility_status", sa.String(20), nullable=False),
        sa.Column("infused", sa.Boolean, nullable=False),
        sa.Column("best_response", sa.String(5), nullable=True),
        sa.Column("response_at_w12", sa.String(5), nullable=True),
        sa.Column("max_ae_grade", sa.Integer, nullable=True),
        sa.Column("crs_max_grade", sa.Integer, nullable=False),
        sa.Column("icans_max_grade", sa.Integer, nullable=False),
        sa.Column("open_saes", sa.Integer, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "rm_adverse_events",
        sa.Column("entry_id", sa.String(64), primary_key=True),
        sa.Column("subject_id", sa.String(100), nullable=False),
        sa.Column("site_id", sa.String(100), nullable=False),
        sa.Column("term", sa.String(200), nullable=False),
        sa.Column("category", sa.String(30), nullable=False),
        sa.Column("grade", sa.Integer, nullable=False),
        sa.Column("serious", sa.Boolean, nullable=False),
        sa.Column("outcome", sa.String(30), nullable=False),
    )
    op.create_index("ix_rm_adverse_events_subject_id", "rm_adverse_events", ["subject_id"])
    op.create_table(
        "rm_visits",
        sa.Column("subject_id", sa.String(100), primary_key=True),
        sa.Column("visit", sa.String(20), primary_key=True),
        sa.Column("site_id", sa.String(100), nullable=False),
        sa.Column("window_end", sa.Date, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
    )


def downgrade() -> None:
    for table in ("rm_visits", "rm_adverse_events", "rm_subjects", "rm_checkpoints"):
        op.drop_table(table)
