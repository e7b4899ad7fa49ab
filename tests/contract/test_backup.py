"""Backup and restore: the log round-trips with its hashes; a damaged file is refused whole."""

from __future__ import annotations

import io
import json
from datetime import datetime

import pytest
import sqlalchemy as sa

from events import EventStore, verify_chain
from events.backup import ImportRefused, backup_keys, export_events, import_events
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


def keys_of(store: EventStore) -> dict:
    return {store.signer.key_id: store.signer.public_key}


def test_a_backup_carries_every_signature_and_key_id_as_stored(source):
    from events.tables import events as T

    records = [json.loads(line) for line in exported(source)]
    with source.engine.connect() as conn:
        stored = conn.execute(sa.select(T.c.signature, T.c.key_id, T.c.hash)
                              .order_by(T.c.position)).all()
    assert [(r["signature"], r["key_id"], r["hash"]) for r in records] \
        == [tuple(row) for row in stored]
    assert records[-1]["key_id"] == source.signer.key_id and records[-1]["signature"]


def test_a_restored_log_keeps_its_signatures_and_verifies_with_the_key(source, another_engine):
    import_events(another_engine, exported(source), public_keys=keys_of(source))
    report = verify_chain(another_engine, public_keys=keys_of(source))
    assert report.ok and report.signatures_checked, report


def test_a_file_whose_event_was_re_signed_by_another_key_is_refused_naming_the_line(
        source, another_engine):
    from events.signing import Signer

    lines = exported(source)
    stranger = Signer.generate()
    record = json.loads(lines[4])
    record["signature"], record["key_id"] = stranger.sign(record["hash"].encode()), \
        stranger.key_id
    lines[4] = json.dumps(record)
    with pytest.raises(ImportRefused, match="line 5: the signature of position 5"):
        import_events(another_engine, lines, public_keys=keys_of(source))
    assert EventStore(another_engine).count() == 0


def test_an_unsigned_line_is_refused(source, another_engine):
    lines = exported(source)
    record = json.loads(lines[2])
    del record["signature"], record["key_id"]
    lines[2] = json.dumps(record)
    with pytest.raises(ImportRefused, match=r"line 3: .*not signed"):
        import_events(another_engine, lines, public_keys=keys_of(source))


def test_a_file_whose_times_run_backwards_is_refused(source, another_engine):
    from events.encoding import event_hash
    from events.model import utc as _utc

    lines = exported(source)
    records = [json.loads(line) for line in lines]
    records[3]["recorded_at"] = "2020-01-01T00:00:00.000000Z"
    prev = records[2]["hash"]
    for record in records[3:]:  # an attacker recomputes the chain; the signatures go stale
        record["hash"] = prev = event_hash(
            prev, position=record["position"], stream_id=record["stream_id"],
            stream_version=record["stream_version"], type=record["type"],
            schema_version=record["schema_version"], data=record["data"],
            metadata=record["metadata"],
            recorded_at=_utc(datetime.fromisoformat(record["recorded_at"].replace("Z",
                                                                                  "+00:00"))))
    with pytest.raises(ImportRefused, match="line 4: recorded_at of position 4 is earlier"):
        import_events(another_engine, [json.dumps(r) for r in records])


@pytest.mark.parametrize("change", [{"position": "3"}, {"stream_version": 1.5},
                                    {"data": {"x": float("nan")}}, {"recorded_at": 7}])
def test_a_wrong_type_or_nan_in_a_line_is_refused_naming_it(source, another_engine, change):
    lines = exported(source)
    record = json.loads(lines[2])
    record.update(change)
    lines[2] = json.dumps(record)  # json.dumps writes NaN, as a careless tool would
    with pytest.raises(ImportRefused, match="line 3"):
        import_events(another_engine, lines)
    assert EventStore(another_engine).count() == 0


@pytest.fixture
def batched(store) -> tuple[EventStore, list[int]]:
    """A log whose second append holds three events (only its last one signed)."""
    from events import NewEvent

    store.append("IMPORT-0", [NewEvent("Imported", {"n": 0})], expected_version=0)
    positions = [e.position for e in store.append(
        "IMPORT-1", [NewEvent("Imported", {"n": n}) for n in range(3)], expected_version=0)]
    return store, positions


def test_an_append_signed_once_is_restored_and_verified(batched, another_engine):
    store, positions = batched
    lines = exported(store)
    assert [json.loads(lines[p - 1])["signature"] is None for p in positions] \
        == [True, True, False]
    assert import_events(another_engine, lines, public_keys=keys_of(store)) == store.count()


@pytest.mark.parametrize("followed", [False, True])
def test_an_append_whose_last_signature_was_stripped_is_refused_at_its_first_line(
        batched, another_engine, followed):
    """Found at the end of the file, or at the next append's first line."""
    from events import NewEvent

    store, positions = batched
    if followed:
        store.append("IMPORT-2", [NewEvent("Imported", {"n": 9})], expected_version=0)
    lines = exported(store)
    record = json.loads(lines[positions[-1] - 1])
    record["signature"] = record["key_id"] = None
    lines[positions[-1] - 1] = json.dumps(record)
    with pytest.raises(ImportRefused, match=rf"line {positions[0]}: position {positions[0]} "
                                            "is not signed"):
        import_events(another_engine, lines, public_keys=keys_of(store))
    assert EventStore(another_engine).count() == 0


def test_an_event_signed_by_a_retired_key_is_refused(store, another_engine):
    """After a rotation the old key signs nothing: a file with a later event signed by it
    (the old key leaked) is refused, as ecrf verify refuses the same log."""
    from events import NewEvent
    from events.rotation import rotate
    from events.signing import Signer

    old = store.signer
    store.append("IMPORT-0", [NewEvent("Imported", {"n": 0})], expected_version=0)
    rotate(store, Signer.generate())
    store.append("IMPORT-1", [NewEvent("Imported", {"n": 1})], expected_version=0)
    lines = exported(store)
    record = json.loads(lines[-1])
    record["signature"], record["key_id"] = old.sign(record["hash"].encode()), old.key_id
    lines[-1] = json.dumps(record)
    keys = backup_keys(lines, keys_of(store))  # as import-events: along the rotation
    assert old.key_id in keys
    with pytest.raises(ImportRefused, match=rf"line {len(lines)}: .*retired"):
        import_events(another_engine, lines, public_keys=keys)
    assert EventStore(another_engine).count() == 0


def test_an_unsigned_append_is_reported_before_what_is_wrong_after_it(
        batched, another_engine):
    """As ecrf verify reports it: the first event of the append left unsigned, not the
    altered event of the next append."""
    from events import NewEvent

    store, positions = batched
    store.append("IMPORT-2", [NewEvent("Imported", {"n": 9})], expected_version=0)
    lines = exported(store)
    last = json.loads(lines[positions[-1] - 1])
    last["signature"] = last["key_id"] = None
    lines[positions[-1] - 1] = json.dumps(last)
    after = json.loads(lines[positions[-1]])
    after["data"]["n"] = 10  # its hash no longer matches
    lines[positions[-1]] = json.dumps(after)
    with pytest.raises(ImportRefused, match=rf"line {positions[0]}: position {positions[0]} "
                                            "is not signed"):
        import_events(another_engine, lines, public_keys=keys_of(store))
