"""The event store's contract, run unchanged on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from events import (
    ConcurrencyError,
    EventStore,
    IdempotencyKeyReused,
    NewEvent,
    event_metadata,
    events_committed,
    verify_chain,
)
from events.upcasting import Upcasters


def recorded(n: int, kind: str = "PlateletCountRecorded") -> list[NewEvent]:
    return [NewEvent(kind, {"platelets": 10 + i, "visit": "D7"}) for i in range(n)]


def test_append_numbers_events_by_stream_version_and_global_position(store):
    first = store.append("S-1", recorded(2), expected_version=0)
    second = store.append("S-2", recorded(1), expected_version=0)
    third = store.append("S-1", recorded(1), expected_version=2)

    assert [e.position for e in first + second + third] == [1, 2, 3, 4]
    assert [e.stream_version for e in first] == [1, 2]
    assert third[0].stream_version == 3
    assert [e.position for e in store.read_stream("S-1")] == [1, 2, 4]
    assert store.stream_version("S-1") == 3
    assert store.stream_version("nobody") == 0


def test_read_back_equals_what_was_recorded(store):
    written = store.append("S-1", recorded(3), expected_version=0)
    assert store.read_all() == written
    assert store.read_stream("S-1") == written
    assert written[0].recorded_at.tzinfo is not None


def test_read_all_pages_after_a_position(store):
    store.append("S-1", recorded(5), expected_version=0)
    assert [e.position for e in store.read_all(after=2, limit=2)] == [3, 4]
    assert [e.position for e in store.read_all(after=5)] == []
    assert [e.position for e in store.iter_all(after=0, batch=2)] == [1, 2, 3, 4, 5]


def test_stale_expected_version_is_refused_and_appends_nothing(store):
    store.append("S-1", recorded(1), expected_version=0)
    with pytest.raises(ConcurrencyError) as refused:
        store.append("S-1", recorded(1), expected_version=0)
    assert refused.value.actual == 1
    assert store.count() == 1


def test_two_writers_with_the_same_expected_version_exactly_one_wins(store):
    store.append("S-1", recorded(1), expected_version=0)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def write() -> None:
        barrier.wait()
        try:
            store.append("S-1", recorded(1), expected_version=1)
            outcomes.append("won")
        except ConcurrencyError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=write) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "won"]
    assert store.stream_version("S-1") == 2


@pytest.mark.parametrize("default_isolation", [None, "repeatable read"])
def test_writers_of_separate_stores_on_one_database_each_see_the_head_the_lock_left(
        engine, database_url, db_kind, signer, default_isolation):
    """Four stores on their own engines (as four server processes: no shared group commit,
    no shared process lock) append at once. Each must read the chain head only once it holds
    the database's writer lock: a head read before the lock was granted (PostgreSQL: the
    lock and the head in one statement's snapshot) would give two appends one position."""
    url, connect_args = database_url
    from events import make_engine

    if default_isolation is not None:  # a server whose default is not READ COMMITTED
        if db_kind != "postgresql":
            pytest.skip("SQLite has no isolation level to default to")
        escaped = default_isolation.replace(" ", "\\ ")
        connect_args = {**connect_args, "options": f"{connect_args.get('options', '')} "
                                                   f"-c default_transaction_isolation={escaped}"}
    stores = [EventStore(engine, signer=signer)] + [  # the fixture's engine is migrated
        EventStore(make_engine(url, connect_args=connect_args), signer=signer)
        for _ in range(3)]
    per_store = 60
    errors: list[BaseException] = []
    start = threading.Barrier(len(stores))

    def write(n: int) -> None:
        start.wait()
        try:
            for i in range(per_store):
                stores[n].append(f"P{n}", recorded(1 + i % 2), expected_version=None)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for other in stores[1:]:
        other.engine.dispose()
    assert not errors, errors[:3]
    total = len(stores) * sum(1 + i % 2 for i in range(per_store))
    positions = [e.position for e in stores[0].read_all()]
    assert positions == list(range(1, total + 1))
    report = verify_chain(stores[0].engine, public_keys={signer.key_id: signer.public_key})
    assert report.ok and report.checked == total, report.to_dict()


def test_concurrent_writers_are_read_in_order_without_gaps_or_repeats(store):
    writers, per_writer = 8, 200
    seen: list[int] = []
    done = threading.Event()
    errors: list[BaseException] = []

    def write(w: int) -> None:
        try:
            for i in range(per_writer):
                store.append(f"W{w}", recorded(1), expected_version=i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read() -> None:
        after = 0
        while True:
            finished = done.is_set()
            for event in store.read_all(after=after, limit=500):
                seen.append(event.position)
                after = event.position
            if finished and after == writers * per_writer:
                return

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join(timeout=120)
    assert not errors
    assert seen == list(range(1, writers * per_writer + 1))
    assert verify_chain(store.engine).ok


@pytest.mark.parametrize("statement", ["UPDATE events SET type = 'Forged'",
                                       "DELETE FROM events"])
def test_the_database_refuses_update_and_delete_of_events(store, statement):
    store.append("S-1", recorded(2), expected_version=0)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.engine.begin() as conn:
        conn.exec_driver_sql(statement)
    assert store.count() == 2
    assert verify_chain(store.engine).ok


def test_a_batch_that_fails_half_way_appends_nothing(store, monkeypatch):
    store.append("S-1", recorded(1), expected_version=0)
    store._writer.one_statement = False  # the transaction's INSERT, then its COMMIT
    insert = store._writer.insert_rows

    def fail_after_insert(cursor, rows):
        insert(cursor, rows)
        raise RuntimeError("disk full after the insert, before the commit")

    with monkeypatch.context() as patch:
        patch.setattr(store._writer, "insert_rows", fail_after_insert)
        with pytest.raises(RuntimeError):
            store.append("S-1", recorded(50), expected_version=1)
    assert store.count() == 1
    again = store.append("S-1", recorded(1), expected_version=1)
    assert again[0].position == 2  # the failed batch left no gap
    assert verify_chain(store.engine).ok


def test_verify_reports_the_position_of_a_row_altered_behind_the_guard(store, db_kind):
    store.append("S-1", recorded(3), expected_version=0)
    store.append("S-2", recorded(2), expected_version=0)
    assert verify_chain(store.engine).ok
    tamper(store.engine, db_kind, "UPDATE events SET data = '{\"platelets\":99}' "
                                  "WHERE position = 3")
    report = verify_chain(store.engine)
    assert not report.ok
    assert report.first_broken_position == 3
    assert report.head_position == 2
    assert report.checked == 2


def tamper(engine, db_kind: str, statement: str) -> None:
    """Alter a row with the guard removed: the one deliberate bypass, for the tamper test."""
    with engine.begin() as conn:
        if db_kind == "postgresql":
            conn.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER events_refuse_update_delete")
            conn.exec_driver_sql(statement)
            conn.exec_driver_sql("ALTER TABLE events ENABLE TRIGGER events_refuse_update_delete")
        else:
            conn.exec_driver_sql("DROP TRIGGER events_refuse_update")
            conn.exec_driver_sql(statement)


def test_every_event_carries_the_hash_of_its_predecessor(store):
    events = store.append("S-1", recorded(3), expected_version=0)
    assert len({e.hash for e in events}) == 3
    assert all(len(e.hash) == 64 for e in events)
    report = verify_chain(store.engine)
    assert (report.ok, report.checked, report.head_position, report.head_hash) == (
        True, 3, 3, events[-1].hash)


def test_metadata_in_context_is_stamped_on_every_event(store):
    with event_metadata(actor="alice", role="site_staff", request_id="r-1"):
        store.append("S-1", [NewEvent("X", {}, {"reason": "typo"})], expected_version=0)
    meta = store.read_stream("S-1")[0].metadata
    assert meta == {"actor": "alice", "role": "site_staff", "request_id": "r-1",
                    "reason": "typo"}


def test_a_reused_idempotency_key_returns_the_first_result_and_appends_nothing(store):
    first = store.append("S-1", recorded(1), expected_version=0, idempotency_key="k-1")
    with pytest.raises(IdempotencyKeyReused) as reused:
        store.append("S-1", recorded(1), expected_version=1, idempotency_key="k-1")
    assert reused.value.events == first
    assert store.find_idempotent("k-1") == first
    assert store.count() == 1


def test_recorded_at_is_utc_server_time_and_never_runs_backwards(store):
    before = datetime.now(UTC)
    a = store.append("S-1", recorded(1), expected_version=0)[0]
    b = store.append("S-1", recorded(1), expected_version=1)[0]
    assert before - timedelta(seconds=1) <= a.recorded_at <= b.recorded_at
    assert store.position_at(a.recorded_at) >= 1
    in_paris = a.recorded_at.astimezone(timezone(timedelta(hours=2)))
    assert store.position_at(in_paris) == store.position_at(a.recorded_at)
    assert store.position_at(before - timedelta(days=1)) == 0


def test_committed_signal_fires_after_commit_only(store):
    received: list[list[int]] = []

    def on_commit(sender, events):
        received.append([e.position for e in events])

    events_committed.connect(on_commit)
    try:
        store.append("S-1", recorded(2), expected_version=0)
        with pytest.raises(ConcurrencyError):
            store.append("S-1", recorded(1), expected_version=0)
    finally:
        events_committed.disconnect(on_commit)
    assert received == [[1, 2]]


def test_old_event_versions_are_upcast_on_read_and_never_rewritten(engine):
    upcasters = Upcasters()

    @upcasters.register("PlateletCountRecorded", 1)
    def add_unit(data):
        return {**data, "unit": "10^9/L"}

    EventStore(engine).append("S-1", recorded(1), expected_version=0)
    event = EventStore(engine, upcasters).read_stream("S-1")[0]
    assert event.schema_version == 2
    assert event.data["unit"] == "10^9/L"
    assert "unit" not in EventStore(engine).read_stream("S-1")[0].data
    assert verify_chain(engine).ok


def test_streams_are_listed_by_their_first_event_type(store):
    store.append("S-1", [NewEvent("SubjectRegistered", {})], expected_version=0)
    store.append("user:bob", [NewEvent("UserCreated", {})], expected_version=0)
    store.append("S-2", [NewEvent("SubjectRegistered", {})], expected_version=0)
    assert store.stream_ids("SubjectRegistered") == ["S-1", "S-2"]


def test_a_cached_stream_still_sees_events_appended_by_another_store(engine):
    """The decoded-stream cache never goes stale: reads always ask for later versions."""
    reader, writer = EventStore(engine), EventStore(engine)
    writer.append("S-1", recorded(2), expected_version=0)
    assert len(reader.read_stream("S-1")) == 2
    writer.append("S-1", recorded(1), expected_version=2)
    assert [e.stream_version for e in reader.read_stream("S-1")] == [1, 2, 3]
    assert [e.stream_version for e in reader.read_stream("S-1", up_to_position=2)] == [1, 2]


def test_one_append_shares_one_recorded_at_strictly_after_the_previous_append(
        store, monkeypatch):
    import events.linking as store_module

    first = store.append("S-1", recorded(3), expected_version=0)
    assert len({e.recorded_at for e in first}) == 1

    class StoppedClock(datetime):  # the server clock stepped back behind the head
        @classmethod
        def now(cls, tz=None):
            return first[0].recorded_at - timedelta(hours=1)

    monkeypatch.setattr(store_module, "datetime", StoppedClock)
    second = store.append("S-1", recorded(2), expected_version=3)
    third = store.append("S-2", recorded(1), expected_version=0)
    assert second[0].recorded_at == first[0].recorded_at + timedelta(microseconds=1)
    assert third[0].recorded_at > second[0].recorded_at
    assert [e.position for e in store.appended_with(second[0])] == [4, 5]
    assert verify_chain(store.engine).ok


def test_each_append_is_signed_over_the_hash_of_its_last_event(store):
    """One signature per append (events/coverage.py): the earlier events of the append are
    stored with neither signature nor key_id, and the chain makes the last one's cover them."""
    from events.signing import signature_holds
    from events.tables import events as T

    store.append("S-1", recorded(3), expected_version=0)
    store.append("S-2", recorded(1), expected_version=0)
    with store.engine.connect() as conn:
        rows = conn.execute(T.select().order_by(T.c.position)).all()
    assert [(r.signature is not None, r.key_id) for r in rows] == [
        (False, None), (False, None), (True, store.signer.key_id), (True, store.signer.key_id)]
    signed = [rows[2], rows[3]]
    assert all(signature_holds(store.signer.public_key, r.signature, r.hash.encode())
               for r in signed)
    assert not signature_holds(store.signer.public_key, rows[2].signature,
                               rows[3].hash.encode())
    assert verify_chain(store.engine,
                        public_keys={store.signer.key_id: store.signer.public_key}).ok


def test_a_key_rotation_inside_an_append_is_refused_and_nothing_is_written(store):
    """A rotation is followed through the signature of its own row, and only an append's
    last event is signed: one in the middle of an append would cut the trust chain."""
    from events.rotation import rotation_event
    from events.signing import Signer

    before = store.count()
    rotation = rotation_event(store.signer, Signer.generate())
    with pytest.raises(ValueError, match="last event of its append"):
        store.append("signing-keys", [rotation, NewEvent("Imported", {"n": 1})],
                     expected_version=None)
    assert store.count() == before
