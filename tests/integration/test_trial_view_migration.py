"""Migrations 0004 and 0005 on a database whose read models were caught up before them."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from ecrf.schema import upgrade
from events import EventStore, make_engine
from projections.audit_trail import audit_rows
from projections.readmodel.runner import ProjectionRunner
from projections.readmodel.tables import audit_events, checkpoints, metadata, subjects
from projections.readmodel.trail import stored_rows
from tests.conftest import fresh_database
from tests.scenario import Subject


def test_the_upgrade_empties_the_read_models_so_catch_up_folds_the_whole_log(
        db_kind, signer, tmp_path):
    with fresh_database(db_kind, tmp_path) as (url, connect_args):
        engine = make_engine(url, connect_args=connect_args)
        upgrade(engine, "0003")
        store = EventStore(engine, signer=signer)
        subject = Subject(store, "ITP-001")
        subject.correct(subject.screening_labs(platelets=12), platelets=14)
        head = store.count()
        with engine.begin() as conn:  # what the runner of 0003 left: caught up to the head
            conn.execute(checkpoints.insert(), {"name": "trial", "position": head,
                                                "updated_at": datetime.now(UTC)})
            conn.execute(subjects.insert(), {
                "subject_id": "ITP-001", "site_id": "SITE-01", "status": "screening",
                "eligibility_status": "pending", "infused": False, "crs_max_grade": 0,
                "icans_max_grade": 0, "open_saes": 0, "position": head})
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(sa.select(checkpoints)).first() is None
            assert conn.execute(sa.select(subjects)).first() is None
        runner = ProjectionRunner(store)
        assert runner.catch_up() == head
        with engine.connect() as conn:
            stored = conn.execute(sa.select(audit_events.c.head, audit_events.c.tails)
                                  .order_by(audit_events.c.position)).all()
        rows = [row for head, tails in stored for row in stored_rows(head, tails)]
        assert rows == list(audit_rows(store.iter_all()))
        assert len(rows) > 15
        engine.dispose()


def test_0005_replaces_the_audit_rows_and_the_next_catch_up_folds_the_whole_log(
        db_kind, signer, tmp_path):
    """A database caught up under 0004 (one row per audit row): the upgrade drops that table,
    empties the other read models and the checkpoint; the events are untouched."""
    with fresh_database(db_kind, tmp_path) as (url, connect_args):
        engine = make_engine(url, connect_args=connect_args)
        upgrade(engine, "0004")
        store = EventStore(engine, signer=signer)
        subject = Subject(store, "ITP-001")
        subject.correct(subject.screening_labs(platelets=12), platelets=14)
        head = store.count()
        with engine.begin() as conn:
            conn.execute(checkpoints.insert(), {"name": "trial", "position": head,
                                                "updated_at": datetime.now(UTC)})
            conn.execute(sa.text(
                "INSERT INTO rm_audit_rows (position, seq, subject_id, site_id, actor, role, "
                "event_type, recorded_us, row) VALUES (1, 0, 'ITP-001', 'SITE-01', 'a', 'r', "
                "'SubjectRegistered', 0, '{}')"))
            events_before = conn.execute(sa.text(
                "SELECT position, hash, signature FROM events ORDER BY position")).all()
        upgrade(engine)
        with engine.connect() as conn:
            assert "rm_audit_rows" not in sa.inspect(conn).get_table_names()
            assert conn.execute(sa.select(checkpoints)).first() is None
            assert conn.execute(sa.select(audit_events)).first() is None
            assert conn.execute(sa.text(
                "SELECT position, hash, signature FROM events ORDER BY position")
            ).all() == events_before
        assert ProjectionRunner(store).catch_up() == head
        with engine.connect() as conn:
            stored = conn.execute(sa.select(audit_events.c.head, audit_events.c.tails)
                                  .order_by(audit_events.c.position)).all()
        assert [row for head_, tails in stored for row in stored_rows(head_, tails)] \
            == list(audit_rows(store.iter_all()))
        engine.dispose()


def test_the_migrated_read_model_tables_are_the_ones_the_code_reads(db_kind, tmp_path):
    """The tables the migrations create have the columns and indexes of
    ``projections.readmodel.tables`` (the runner and the reads are written against those)."""
    with fresh_database(db_kind, tmp_path) as (url, connect_args):
        engine = make_engine(url, connect_args=connect_args)
        upgrade(engine)
        inspector = sa.inspect(engine)
        for table in metadata.sorted_tables:
            assert {c["name"] for c in inspector.get_columns(table.name)} \
                == {c.name for c in table.columns}, table.name
            assert {i["name"] for i in inspector.get_indexes(table.name)
                    if not i["name"].startswith("sqlite_")} \
                >= {i.name for i in table.indexes}, table.name
        engine.dispose()
