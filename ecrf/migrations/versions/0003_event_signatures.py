"""Event signatures: ``signature`` and ``key_id`` beside each row, outside the hashed encoding.

Only new columns are added; no existing row is updated (events recorded before this revision
stay unsigned, and ``ecrf verify`` with a public key reports them as such).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("signature", sa.String(100), nullable=True))
    op.add_column("events", sa.Column("key_id", sa.String(16), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("the event log is never dropped by a migration")
