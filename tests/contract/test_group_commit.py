"""Group commit (issue #13): appends that share one transaction are still each decided, numbered,
chained and answered on their own. Run on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from events import ConcurrencyError, IdempotencyKeyReused, NewEvent, verify_chain
from events.tables import events as T
from tests.batching import HeldCommit, InsertHook, in_thread, queue_in_order

THREADS, EACH = 8, 50


def event(n: int = 0, **data) -> list[NewEvent]:
    return [NewEvent("PlateletCountRecorded", {"platelets": n, **data})]


def keys_of(signer) -> dict:
    return {signer.key_id: signer.public_key}


def stored_rows(store) -> list[sa.Row]:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(T.c.position, T.c.stream_id, T.c.stream_version,
                                      T.c.data, T.c.idempotency_key)
                            .order_by(T.c.position)).all()


def test_concurrent_appends_to_distinct_streams_are_each_acknowledged_once_and_gapless(
        store, signer):
    barrier = threading.Barrier(THREADS)
    acks: list[list[tuple[int, str, int]]] = [[] for _ in range(THREADS)]
    errors: list[BaseException] = []

    def writer(t: int) -> None:
        try:
            barrier.wait(timeout=30)
            for i in range(EACH):
                recorded = store.append(f"T{t}", event(i, t=t), expected_version=i)
                acks[t] += [(e.position, e.stream_id, e.stream_version) for e in recorded]
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors

    total = THREADS * EACH
    all_acks = sorted(a for per_thread in acks for a in per_thread)
    assert [a[0] for a in all_acks] == list(range(1, total + 1))  # once each, no gap
    for t in range(THREADS):
        assert [a[2] for a in acks[t]] == list(range(1, EACH + 1))
    rows = stored_rows(store)
    assert [(r.position, r.stream_id, r.stream_version) for r in rows] == all_acks
    report = verify_chain(store.engine, public_keys=keys_of(signer))
    assert report.ok and report.signatures_checked, report
    committer = store.group_commit
    assert committer.appends >= total
    assert committer.batches < committer.appends  # some appends shared a commit


def test_a_mixed_batch_refuses_only_its_bad_appends_each_with_its_own_error(store, signer):
    store.append("A", event(1), expected_version=0, idempotency_key="used-before")
    store.append("B", event(2), expected_version=0)
    before = store.group_commit.batches
    with HeldCommit(store) as held:
        blocker = in_thread(lambda: store.append("HOLD", event(), expected_version=0))
        assert held.reached.wait(30)
        outcomes = queue_in_order(store, [
            lambda: store.append("G1", event(10), expected_version=0),
            lambda: store.append("B", event(11), expected_version=0),  # stale: B is at 1
            lambda: store.append("G2", event(12), expected_version=0),
            lambda: store.append("C", event(13), expected_version=0,
                                 idempotency_key="used-before"),
            lambda: store.append("D", event(14, bad=float("nan")), expected_version=0),
            lambda: store.append("E", [NewEvent("X", {}, schema_version="1")],
                                 expected_version=0),
            lambda: store.append("G1", event(15), expected_version=1),  # after G1's first
            lambda: store.append("G3", event(16), expected_version=None),
        ])
        held.release()
    blocker.join()
    good1, stale, good2, reused, nan, bad_type, good1_again, good3 = (
        o.join() for o in outcomes)
    assert blocker.error is None
    assert store.group_commit.batches == before + 2  # the held one, then all eight together

    assert isinstance(stale.error, ConcurrencyError)
    assert (stale.error.expected, stale.error.actual) == (0, 1)
    assert isinstance(reused.error, IdempotencyKeyReused)
    assert reused.error.events[0].stream_id == "A"
    assert isinstance(nan.error, ValueError)
    assert isinstance(bad_type.error, TypeError)
    good = [good1, good2, good1_again, good3]
    assert all(o.error is None for o in good), [o.error for o in good]
    positions = [o.result[0].position for o in good]
    assert positions == [4, 5, 6, 7]  # queue order, right after the held append (3)
    assert good1_again.result[0].stream_version == 2

    rows = stored_rows(store)
    assert [r.position for r in rows] == list(range(1, 8))
    assert [r.stream_id for r in rows] == ["A", "B", "HOLD", "G1", "G2", "G1", "G3"]
    assert verify_chain(store.engine, public_keys=keys_of(signer)).ok


def test_a_key_used_twice_in_one_batch_gives_the_second_the_first_ones_events(store):
    with HeldCommit(store) as held:
        blocker = in_thread(lambda: store.append("HOLD", event(), expected_version=0))
        assert held.reached.wait(30)
        first, second = queue_in_order(store, [
            lambda: store.append("S-1", event(1), expected_version=0, idempotency_key="k"),
            lambda: store.append("S-2", event(2), expected_version=0, idempotency_key="k"),
        ])
        held.release()
    blocker.join(), first.join(), second.join()
    assert first.error is None
    assert isinstance(second.error, IdempotencyKeyReused)
    assert second.error.events == first.result[:1]
    assert [r.stream_id for r in stored_rows(store)] == ["HOLD", "S-1"]
    assert verify_chain(store.engine).ok


def test_a_commit_that_fails_fails_every_queued_append_and_leaves_no_gap(store, signer):
    store.append("S-1", event(), expected_version=0)

    def fail_after_insert(rows):
        raise RuntimeError("disk full after the insert, before the commit")

    with InsertHook(store, after=fail_after_insert), HeldCommit(store) as held:
        blocker = in_thread(lambda: store.append("HOLD", event(), expected_version=0))
        assert held.reached.wait(30)
        outcomes = queue_in_order(store, [
            lambda i=i: store.append(f"Q{i}", event(i), expected_version=0) for i in range(5)])
        held.release()
        blocker.join()
        for outcome in outcomes:
            outcome.join()
    for outcome in (blocker, *outcomes):
        assert isinstance(outcome.error, RuntimeError)
        assert outcome.result is None
    assert store.count() == 1
    assert store.read_stream("Q0") == []
    again = store.append("S-2", event(), expected_version=0)
    assert again[0].position == 2
    assert verify_chain(store.engine, public_keys=keys_of(signer)).ok


def test_a_database_error_of_the_whole_batch_retries_each_append_alone(store):
    """The writer falls back to one transaction per append; each gets its own answer."""
    inserts: list[str] = []
    failed: list[str] = []

    def refuse_first_batch(rows):
        """The held append's INSERT passes; the next one (the batch of four) is refused."""
        inserts.append(len(rows))
        if len(inserts) == 2:
            failed.append(len(rows))
            raise sa.exc.OperationalError("INSERT INTO events", None,
                                          Exception("injected: batch refused"))

    with HeldCommit(store) as held, InsertHook(store, before=refuse_first_batch):
        blocker = in_thread(lambda: store.append("HOLD", event(), expected_version=0))
        assert held.reached.wait(30)
        outcomes = queue_in_order(store, [
            lambda i=i: store.append(f"Q{i}", event(i), expected_version=0)
            for i in range(4)])
        held.release()
        for outcome in (blocker, *outcomes):
            outcome.join()
    assert failed, "the batch was never refused: the test proved nothing"
    assert all(o.error is None for o in outcomes), [o.error for o in outcomes]
    assert [o.result[0].position for o in outcomes] == [2, 3, 4, 5]
    assert store.count() == 5
    assert verify_chain(store.engine).ok


def test_writers_on_one_stream_with_a_rebase_never_conflict_and_each_saw_what_was_before(
        store, signer):
    threads, each = 8, 12
    barrier = threading.Barrier(threads)
    seen: list[tuple[int, ...]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def rebase(now):
        with lock:
            seen.append(tuple(e.position for e in now))
        return event(saw=len(now))

    def writer() -> None:
        try:
            barrier.wait(timeout=30)
            for _ in range(each):
                version = store.stream_version("ONE")
                store.append("ONE", event(saw=version), expected_version=version,
                             rebase=rebase)
        except BaseException as error:  # reported below
            errors.append(error)

    workers = [threading.Thread(target=writer) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not errors, errors  # no ConcurrencyError: a moved stream was rebased

    stream = store.read_stream("ONE")
    assert [e.stream_version for e in stream] == list(range(1, threads * each + 1))
    assert all(e.data["saw"] == e.stream_version - 1 for e in stream)
    positions = [e.position for e in stream]
    for saw in seen:  # each rebase got exactly the stream before the event it decided
        assert saw == tuple(positions[:len(saw)])
    assert verify_chain(store.engine, public_keys=keys_of(signer)).ok


def test_a_rebase_that_raises_refuses_only_its_own_append(store):
    store.append("X", event(), expected_version=0)

    class Refused(Exception):
        pass

    def refuse(now):
        raise Refused(len(now))

    with HeldCommit(store) as held:
        blocker = in_thread(lambda: store.append("HOLD", event(), expected_version=0))
        assert held.reached.wait(30)
        moved, refused, empty, after = queue_in_order(store, [
            lambda: store.append("X", event(1), expected_version=1),
            lambda: store.append("X", event(2), expected_version=1, rebase=refuse),
            lambda: store.append("X", event(3), expected_version=1, rebase=lambda now: []),
            lambda: store.append("Y", event(4), expected_version=0),
        ])
        held.release()
    for outcome in (blocker, moved, refused, empty, after):
        outcome.join()
    assert moved.error is None and after.error is None
    assert isinstance(refused.error, Refused)
    assert refused.error.args == (2,)  # it saw X with the earlier append of its batch
    assert isinstance(empty.error, ValueError)
    assert [e.data["platelets"] for e in store.read_stream("X")] == [0, 1]
    assert store.count() == 4
    assert verify_chain(store.engine).ok


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
def test_a_payload_that_cannot_be_encoded_is_refused_alone(store, bad):
    with pytest.raises(ValueError):
        store.append("S-1", event(bad=bad), expected_version=0)
    assert store.count() == 0
    assert store.append("S-1", event(), expected_version=0)[0].position == 1
