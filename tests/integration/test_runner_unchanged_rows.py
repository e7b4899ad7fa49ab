"""The runner skips tables whose rows come out as it committed them last, and never trusts
that memory once another process (another `ecrf serve`, a rebuild) moved the checkpoint."""

from __future__ import annotations

import sqlalchemy as sa

from events import EventStore
from projections.readmodel.runner import ProjectionRunner
from tests.integration.test_read_models import responder, snapshot
from tests.scenario import Subject


def rebuilt(store) -> dict:
    fresh = ProjectionRunner(EventStore(store.engine))
    fresh.rebuild()
    return snapshot(store.engine)


def count_deletes(engine) -> list[str]:
    seen: list[str] = []

    def listen(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("DELETE FROM RM_"):
            seen.append(statement.split()[2])

    sa.event.listen(engine, "before_cursor_execute", listen)
    return seen


def test_unchanged_tables_are_not_rewritten_and_the_models_equal_a_rebuild(store):
    runner = ProjectionRunner(store)
    one = responder(store, "ITP-001")
    runner.catch_up()
    deletes = count_deletes(store.engine)
    one.platelets(35, 150)  # a new platelet count: visits and AEs of ITP-001 do not change
    runner.catch_up()
    assert "rm_adverse_events" not in deletes and deletes, deletes
    one.adverse_event("headache", 1, day=36)  # now the AE table changes
    deletes.clear()
    runner.catch_up()
    assert "rm_adverse_events" in deletes
    assert snapshot(store.engine) == rebuilt(store)


def test_two_runners_taking_turns_still_equal_a_rebuild(store):
    """A runner whose checkpoint was moved by another forgets what it wrote, so a table the
    other rewrote is compared with the database's state, not its own memory."""
    mine, theirs = ProjectionRunner(store), ProjectionRunner(EventStore(store.engine))
    one, two = responder(store, "ITP-001"), Subject(store, "ITP-002")
    two.screening_labs(platelets=14)
    mine.catch_up()
    entry = one.adverse_event("nausea", 2, day=30)
    theirs.catch_up()  # the other process writes the AE row
    one.void(entry)  # voided again: the rows come back to what `mine` wrote first
    mine.catch_up()
    assert snapshot(store.engine) == rebuilt(store)


def test_the_projections_run_before_the_writer_lock_is_taken(store, monkeypatch):
    """On SQLite every append waits while the runner holds the writer lock: the rows are
    worked out before it is taken, and only the SQL runs under it."""
    import projections.readmodel.runner as runner_module
    from events.store import writer_lock

    runner = ProjectionRunner(store)
    one = responder(store, "ITP-001")
    runner.catch_up()
    one.platelets(35, 150)
    original, held = runner_module.subject_rows, []

    def watching(*args, **kwargs):
        lock = writer_lock(store.engine)
        if hasattr(lock, "acquire"):  # SQLite: a lock per engine; PostgreSQL: nothing to hold
            free = lock.acquire(blocking=False)
            if free:
                lock.release()
            held.append(not free)
        return original(*args, **kwargs)

    monkeypatch.setattr(runner_module, "subject_rows", watching)
    assert runner.catch_up() > 0
    assert held == [] if store.engine.dialect.name == "postgresql" else held == [False]
    assert snapshot(store.engine) == rebuilt(store)


def test_many_subjects_in_one_page_are_replaced_a_few_statements_per_table(store,
                                                                           monkeypatch):
    """The rows of every subject a page touched are replaced with one DELETE per table (in
    chunks of subject ids) and one bulk insert, and still equal a rebuild."""
    import projections.readmodel.runner as runner_module

    monkeypatch.setattr(runner_module, "DELETE_CHUNK", 2)  # 5 subjects: 3 chunks
    runner = ProjectionRunner(store)
    subjects = [responder(store, f"ITP-00{n}") for n in range(1, 6)]
    runner.catch_up()
    for n, subject in enumerate(subjects):
        subject.platelets(35, 100 + n)
        subject.adverse_event("headache", 1, day=36)  # two tables change per subject
    deletes = count_deletes(store.engine)
    runner.catch_up()
    assert sorted(set(deletes)) == ["rm_adverse_events", "rm_subjects"], deletes
    assert len(deletes) == 2 * 3  # per table, ceil(5 / 2) DELETE statements, not 5
    assert snapshot(store.engine) == rebuilt(store)
