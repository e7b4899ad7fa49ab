"""The event table, in SQLAlchemy Core: the only table the store writes, and only by INSERT."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

events = sa.Table(
    "events",
    metadata,
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("stream_id", sa.String(100), nullable=False),
    sa.Column("stream_version", sa.Integer, nullable=False),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("schema_version", sa.Integer, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("metadata", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("idempotency_key", sa.String(200), nullable=True),
    # Beside the row, outside the hashed encoding (migration 0003): Ed25519 over the hash.
    sa.Column("signature", sa.String(100), nullable=True),
    sa.Column("key_id", sa.String(16), nullable=True),
    sa.UniqueConstraint("stream_id", "stream_version", name="uq_events_stream_version"),
    sa.Index("uq_events_idempotency_key", "idempotency_key", unique=True,
             postgresql_where=sa.text("idempotency_key IS NOT NULL"),
             sqlite_where=sa.text("idempotency_key IS NOT NULL")),
    sa.Index("ix_events_stream_start_type", "type",
             postgresql_where=sa.text("stream_version = 1"),
             sqlite_where=sa.text("stream_version = 1")),
    sa.Index("ix_events_recorded_at", "recorded_at"),
)
