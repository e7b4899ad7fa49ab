"""Backup and restore: the log round-trips with its hashes; a damaged file is refused whole."""

from __future__ import annotations

import io
import json

import pytest

from events import EventStore, verify_chain
from events.backup import ImportRefused, export_events, import_events
from projections.readmodel.runner import ProjectionRunner
from tests.integration.test_read_models import responder, snapshot


def exported(store: EventStore) -> list[str]:
    out = io.StringIO()
    assert export_events(store.engine, out) == store.count()
    return out.getvalue().splitlines()


@pytest.fixture
def source(store) -> EventStore:
    first = responder(store, "ITP-001")
    first.adverse_event("Cytokine release syndrome", 2, category="crs")
    responder(store, "ITP-002")
    return store


def test_restore_reproduces_every_event_hash_and_projection(source, another_engine):
    restored = EventStore(another_engine)
    assert import_events(another_engine, exported(source)) == source.count()
    assert restored.read_all() == source.read_all()
    assert verify_chain(another_engine).head_hash == verify_chain(source.engine).head_hash
    ProjectionRunner(source).rebuild()
    ProjectionRunner(restored).rebuild()
    assert snapshot(another_engine) == snapshot(source.engine)


def test_a_file_with_an_altered_event_is_refused_and_nothing_is_written(
        source, another_engine):
    lines = exported(source)
    record = json.loads(lines[5])
    record["data"]["values"]["platelets"] = 999
    lines[5] = json.dumps(record)
    with pytest.raises(ImportRefused, match="hash of position 6"):
        import_events(another_engine, lines)
    assert EventStore(another_engine).count() == 0


def test_a_reordered_file_is_refused(source, another_engine):
    lines = exported(source)
    lines[3], lines[4] = lines[4], lines[3]
    with pytest.raises(ImportRefused, match="position 5 where 4"):
        import_events(another_engine, lines)
    assert EventStore(another_engine).count() == 0


def test_a_truncated_or_garbled_line_is_refused(source, another_engine):
    lines = exported(source)
    lines[2] = lines[2][:40]
    with pytest.raises(ImportRefused, match="line 3"):
        import_events(another_engine, lines)


def test_import_needs_an_empty_database(source):
    with pytest.raises(ImportRefused, match="empty"):
        import_events(source.engine, exported(source))
