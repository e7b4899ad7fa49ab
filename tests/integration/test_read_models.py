"""The read-model runner: catch-up equals rebuild, failures are recorded, the summary answers."""

from __future__ import annotations

import sqlalchemy as sa

from projections.readmodel.runner import ProjectionRunner
from projections.readmodel.tables import metadata
from tests.scenario import Subject


def snapshot(engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {name: sorted(tuple(str(v) for v in row) for row in conn.execute(
            sa.select(table)).all()) for name, table in metadata.tables.items()
            if name != "rm_checkpoints"}


def responder(store, subject_id: str) -> Subject:
    subject = Subject(store, subject_id)
    subject.screening_labs(platelets=12)
    subject.lymphodepletion()
    subject.infuse()
    for day, value in [(7, 40), (14, 120), (21, 130), (28, 140)]:
        subject.platelets(day, value)
    return subject


def test_catch_up_applies_new_events_and_equals_a_rebuild(store):
    runner = ProjectionRunner(store)
    responder(store, "ITP-001")
    assert runner.catch_up() == store.count()
    second = responder(store, "ITP-002")
    second.adverse_event("Cytokine release syndrome", 2, category="crs")
    runner.catch_up()
    incremental = snapshot(store.engine)
    assert runner.rebuild() == store.count()
    assert snapshot(store.engine) == incremental
    assert runner.status()["lag"] == 0


def test_catch_up_is_idempotent_from_the_checkpoint(store):
    runner = ProjectionRunner(store)
    responder(store, "ITP-001")
    runner.catch_up()
    assert runner.catch_up() == 0
    assert runner.status()["position"] == store.count()


def test_a_failing_projection_is_reported_and_resumes_from_its_checkpoint(store, monkeypatch):
    runner = ProjectionRunner(store)
    responder(store, "ITP-001")
    runner.catch_up()
    checkpoint = runner.status()["position"]

    def broken(*args, **kwargs):
        raise ValueError("a bug in a projection")

    monkeypatch.setattr("projections.readmodel.runner.subject_rows", broken)
    Subject(store, "ITP-002")  # appending still works while the projection is broken
    runner.catch_up()
    status = runner.status()
    assert status["position"] == checkpoint
    assert status["failed_position"] == checkpoint + 1
    assert "a bug in a projection" in status["last_error"]

    monkeypatch.undo()
    runner.catch_up()
    status = runner.status()
    assert (status["position"], status["last_error"], status["lag"]) == (store.count(), None, 0)


def test_trial_summary_reflects_the_subjects(app, as_user, store):
    first = responder(store, "ITP-001")
    first.adverse_event("Cytokine release syndrome", 2, category="crs")
    first.adverse_event("Pneumonia", 3, serious=True, category="infection")
    Subject(store, "ITP-002")
    Subject(store, "ITP-003", site_id="SITE-02")
    summary = as_user("dm").get("/trial/summary").json
    assert summary["subjects"] == 3
    assert summary["subjects_by_status"] == {"in_follow_up": 1, "screening": 2}
    assert summary["adverse_events_by_term"][0] == {
        "term": "Pneumonia", "events": 1, "subjects": 1, "worst_grade": 3}
    assert [s["term"] for s in summary["open_saes"]] == ["Pneumonia"]
    assert summary["read_model"]["lag"] == 0
    site_only = as_user("staff").get("/trial/summary").json
    assert site_only["subjects"] == 2
