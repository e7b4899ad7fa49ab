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

#: One row per event that has audit rows (``projections.audit_trail.audit_rows``; an event's
#: rows never change: they depend on the subject's state before it). ``rows`` is the text of
#: the event's ``row_count`` rows in two parts (``trail.audit_record``): ``head``, the keys
#: every row of the event shares, as JSON text, and ``tails``, the rest of each row, as a JSON
#: array; ``trail.stored_texts`` puts them together into the text the fold writes
#: (``json.dumps(row, ensure_ascii=False)``), so an answer is byte-for-byte the fold's. Every
#: filter is a property of the event, not of a row, and a page never splits an event's rows:
#: one table row per event is what the filters and the keyset paging read (each filter's
#: index ends in position, the order of the answer, so a page is read off the index with no
#: sort), and a rebuild writes one index entry per event instead of one per row.
#: ``recorded_us`` is ``recorded_at`` in microseconds since 1970 UTC: exact, and compared
#: alike on both engines.
audit_events = sa.Table(
    "rm_audit_events", metadata,
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
    sa.Index("ix_rm_audit_events_subject", "subject_id", "position"),
    sa.Index("ix_rm_audit_events_site", "site_id", "position"),
    sa.Index("ix_rm_audit_events_actor", "actor", "position"),
    sa.Index("ix_rm_audit_events_role", "role", "position"),
    sa.Index("ix_rm_audit_events_type", "event_type", "position"),
    sa.Index("ix_rm_audit_events_recorded", "recorded_us"),
)

#: One row per data query, in the order ``GET /queries`` lists them (subjects in registration
#: order, then queries in the order opened). ``row`` is ``Query.to_dict()`` as JSON text;
#: ``age_days`` is not stored: it depends on the moment of the request.
queries = sa.Table(
    "rm_queries", metadata,
    sa.Column("subject_id", sa.String(100), primary_key=True),
    sa.Column("query_id", sa.String(64), primary_key=True),
    sa.Column("site_id", sa.String(100), nullable=False),
    sa.Column("registered_position", sa.BigInteger, nullable=False),
    sa.Column("opened_position", sa.BigInteger, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("opened_us", sa.BigInteger, nullable=False),
    sa.Column("row", sa.Text, nullable=False),
    sa.Index("ix_rm_queries_order", "registered_position", "opened_position"),
    sa.Index("ix_rm_queries_state", "state", "registered_position", "opened_position"),
)
