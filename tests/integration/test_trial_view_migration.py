"""Migration 0004 on a database whose read models were caught up before it existed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa

from ecrf.schema import upgrade
from events import EventStore, make_engine
from projections.audit_trail import audit_rows
from projections.readmodel.runner import ProjectionRunner
from projections.readmodel.tables import audit_rows as rm_audit_rows
from projections.readmodel.tables import checkpoints, subjects
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
            stored = conn.execute(sa.select(rm_audit_rows.c.row).order_by(
                rm_audit_rows.c.position, rm_audit_rows.c.seq)).scalars().all()
        assert [json.loads(text) for text in stored] == list(audit_rows(store.iter_all()))
        assert len(stored) > 15
        engine.dispose()
