"""Read-model tables: disposable, rebuilt from the events at any time (never the record)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

checkpoints = sa.Table(
    "rm_checkpoints", metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("failed_position", sa.BigInteger, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
)

subjects = sa.Table(
    "rm_subjects", metadata,
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

adverse_events = sa.Table(
    "rm_adverse_events", metadata,
    sa.Column("entry_id", sa.String(64), primary_key=True),
    sa.Column("subject_id", sa.String(100), nullable=False, index=True),
    sa.Column("site_id", sa.String(100), nullable=False),
    sa.Column("term", sa.String(200), nullable=False),
    sa.Column("category", sa.String(30), nullable=False),
    sa.Column("grade", sa.Integer, nullable=False),
    sa.Column("serious", sa.Boolean, nullable=False),
    sa.Column("outcome", sa.String(30), nullable=False),
)

visits = sa.Table(
    "rm_visits", metadata,
    sa.Column("subject_id", sa.String(100), primary_key=True),
    sa.Column("visit", sa.String(20), primary_key=True),
    sa.Column("site_id", sa.String(100), nullable=False),
    sa.Column("window_end", sa.Date, nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
)
