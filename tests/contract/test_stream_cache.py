"""The stream cache follows the log (issue #13): another process's appends are seen by the next
read, inside a read view only after an append or in a new view, and concurrent readers never
see an event twice, out of order, or miss one that was acknowledged before they read."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from events import EventStore, NewEvent, make_engine, verify_chain
from events.store import REFRESH_LIMIT, begin_read_view, end_read_view
from events.upcasting import Upcasters


def event(n: int = 0) -> list[NewEvent]:
    return [NewEvent("PlateletCountRecorded", {"platelets": n})]


@pytest.fixture
def other(database_url, engine, signer) -> Iterator[EventStore]:
    """A second store on its own engine: what another server process would be."""
    url, connect_args = database_url
    other_engine = make_engine(url, connect_args=connect_args)
    yield EventStore(other_engine, signer=signer)
    other_engine.dispose()


def versions(events) -> list[int]:
    return [e.stream_version for e in events]


def test_another_processs_append_is_seen_by_the_next_read(store, other):
    store.append("S-1", event(1), expected_version=0)
    assert versions(store.read_stream("S-1")) == [1]
    other.append("S-1", event(2), expected_version=1)
    assert versions(store.read_stream("S-1")) == [1, 2]
    assert store.stream_version("S-1") == 2
    other.append("S-2", event(3), expected_version=0)
    assert versions(store.read_stream("S-2")) == [1]


def test_inside_a_read_view_the_log_is_read_once_until_an_append_or_a_new_view(store, other):
    store.append("S-1", event(1), expected_version=0)
    token = begin_read_view()
    try:
        assert versions(store.read_stream("S-1")) == [1]
        other.append("S-1", event(2), expected_version=1)
        assert versions(store.read_stream("S-1")) == [1]  # the view's moment
        store.append("S-9", event(9), expected_version=0)  # an append of this block
        assert versions(store.read_stream("S-1")) == [1, 2]
        other.append("S-1", event(3), expected_version=2)
        assert versions(store.read_stream("S-1")) == [1, 2]
    finally:
        end_read_view(token)
    token = begin_read_view()
    try:
        assert versions(store.read_stream("S-1")) == [1, 2, 3]
    finally:
        end_read_view(token)


def test_a_refused_append_inside_a_view_also_makes_the_next_read_look_at_the_head(
        store, other):
    from events import ConcurrencyError

    store.append("S-1", event(1), expected_version=0)
    token = begin_read_view()
    try:
        assert store.stream_version("S-1") == 1
        other.append("S-1", event(2), expected_version=1)
        with pytest.raises(ConcurrencyError):
            store.append("S-1", event(3), expected_version=1)
        assert store.stream_version("S-1") == 2
    finally:
        end_read_view(token)


def test_more_new_events_than_one_refresh_reads_are_still_read_correctly(store, other):
    store.append("S-1", event(0), expected_version=0)
    store.append("BULK", event(0), expected_version=0)
    assert versions(store.read_stream("S-1")) == [1]
    assert versions(store.read_stream("BULK")) == [1]
    bulk = REFRESH_LIMIT + 100  # in appends of 100
    for start in range(0, bulk, 100):
        other.append("BULK", [NewEvent("N", {"i": i}) for i in range(start, start + 100)],
                     expected_version=1 + start)
    other.append("S-1", event(1), expected_version=1)
    other.append("S-1", event(2), expected_version=2)
    assert versions(store.read_stream("S-1")) == [1, 2, 3]
    read = store.read_stream("BULK")
    assert versions(read) == list(range(1, bulk + 2))
    assert [e.data.get("i") for e in read[1:]] == list(range(bulk))
    head = other.head()
    assert head is not None and store._cache.seen == head.position
    # the same inside a view: its first read meets the head
    for start in range(0, bulk, 100):
        other.append("S-1", [NewEvent("N", {"i": i}) for i in range(start, start + 100)],
                     expected_version=3 + start)
    token = begin_read_view()
    try:
        assert versions(store.read_stream("S-1")) == list(range(1, bulk + 4))
    finally:
        end_read_view(token)
    assert verify_chain(store.engine).ok


def test_a_store_started_on_a_log_of_more_than_a_thousand_events_reads_its_streams(
        store, engine, signer):
    """A server restarted on a grown log: its cache knows nothing, so the first refresh finds
    more than REFRESH_LIMIT events and takes the forget-all path at once."""
    for start in range(0, REFRESH_LIMIT + 1, 200):
        store.append("BULK", [NewEvent("N", {"i": i}) for i in range(start, start + 200)],
                     expected_version=start)
    restarted = EventStore(engine, signer=signer)
    assert versions(restarted.read_stream("BULK")) == list(range(1, REFRESH_LIMIT + 201))


@pytest.mark.parametrize("max_streams", [4096, 2])
def test_concurrent_appends_and_reads_never_repeat_reorder_or_miss_an_event(
        store, other, max_streams):
    """Readers check each read against what writers (this store and the other one) had
    acknowledged before the read began. A cache of 2 streams evicts all the time, so reads
    load whole streams while refreshes run (the put/advance race)."""
    store._cache.max_streams = max_streams
    streams = [f"S-{i}" for i in range(6)]
    acked = {s: 0 for s in streams}
    acked_lock = threading.Lock()
    problems: list[str] = []
    stop = threading.Event()
    rounds = 40

    def writer(through: EventStore, mine: list[str]) -> None:
        try:
            for n in range(rounds):
                for stream in mine:
                    recorded = through.append(stream, event(n), expected_version=None)
                    with acked_lock:
                        acked[stream] = max(acked[stream], recorded[-1].stream_version)
        except BaseException as error:  # reported below
            problems.append(f"writer: {error!r}")

    def reader(seed: int) -> None:
        last = {s: 0 for s in streams}
        i = seed
        while not stop.is_set():
            stream = streams[i % len(streams)]
            i += 1
            with acked_lock:
                floor = acked[stream]
            read = store.read_stream(stream)
            got = versions(read)
            if got != list(range(1, len(got) + 1)):
                problems.append(f"{stream}: versions {got}")
            positions = [e.position for e in read]
            if positions != sorted(set(positions)):
                problems.append(f"{stream}: positions {positions}")
            if len(got) < floor:
                problems.append(f"{stream}: read {len(got)} events after {floor} were "
                                "acknowledged")
            if len(got) < last[stream]:
                problems.append(f"{stream}: went back from {last[stream]} to {len(got)}")
            last[stream] = len(got)
            if problems:
                return

    writers = [threading.Thread(target=writer, args=(store, streams[:3])),
               threading.Thread(target=writer, args=(other, streams[3:])),
               threading.Thread(target=writer, args=(other, streams[:2]))]
    readers = [threading.Thread(target=reader, args=(k,)) for k in range(3)]
    for thread in writers + readers:
        thread.start()
    for thread in writers:
        thread.join(timeout=120)
    stop.set()
    for thread in readers:
        thread.join(timeout=60)
    assert not problems, problems[:5]

    all_events = store.read_all()
    for stream in streams:
        truth = [e for e in all_events if e.stream_id == stream]
        assert store.read_stream(stream) == truth
        middle = truth[len(truth) // 2].position
        assert store.read_stream(stream, up_to_position=middle) == \
            [e for e in truth if e.position <= middle]
        assert store.read_stream(stream, up_to_position=0) == []
    assert verify_chain(store.engine).ok


def test_a_stream_loaded_while_a_refresh_runs_does_not_miss_the_event_the_refresh_read(
        engine, other, signer):
    """Interleave, deterministically, a read that loads stream X whole (thread R) with a
    refresh (thread F) that reads X's next event but skips it because X was not held yet.

    The pauses come from an upcaster (a real extension point of the store, not a mock): R
    pauses while decoding X as loaded, F while decoding the held stream Z's new event, i.e.
    between deciding which rows concern held streams and moving ``seen`` past them.
    """
    upcasters = Upcasters()
    r_loaded, r_go, r_done = threading.Event(), threading.Event(), threading.Event()
    armed = threading.Event()

    @upcasters.register("Paused", 1)
    def pause(data):
        if armed.is_set() and threading.current_thread().name == "R":
            r_loaded.set()
            assert r_go.wait(20)
        elif armed.is_set() and threading.current_thread().name == "F":
            r_go.set()
            assert r_done.wait(20)
        return data

    store = EventStore(engine, upcasters, signer=signer)
    other.append("X", [NewEvent("Paused", {"n": 1})], expected_version=0)
    other.append("Z", [NewEvent("Paused", {"n": 1})], expected_version=0)
    assert versions(store.read_stream("Z")) == [1]  # Z is held, X is not
    armed.set()

    def load_x() -> None:
        try:
            store.read_stream("X")
        finally:
            r_done.set()

    reader = threading.Thread(target=load_x, name="R")
    reader.start()
    assert r_loaded.wait(20)  # R has read X = [1] from the database, not yet put it
    other.append("X", [NewEvent("Plain", {"n": 2})], expected_version=1)
    other.append("Z", [NewEvent("Paused", {"n": 2})], expected_version=1)
    refresher = threading.Thread(target=lambda: store.read_stream("Z"), name="F")
    refresher.start()
    refresher.join(30)
    reader.join(30)
    armed.clear()
    assert not reader.is_alive() and not refresher.is_alive()
    assert versions(store.read_stream("X")) == [1, 2]  # the database holds two


def test_an_appended_event_is_what_a_read_of_the_database_gives_key_order_included(
        store, other):
    """The cache holds the store's own appends as they were recorded: they must be the events
    a read of the stored text gives (sorted keys, JSON types), or answers would depend on
    whether an event came from the cache or from the database."""
    recorded = store.append("K-1", [NewEvent("Keyed", {"zeta": 1, "alpha": (2, 3),
                                                       "mid": {"y": 1, "x": 2}},
                                             {"z": "last", "a": "first"})],
                            expected_version=0)
    from_cache = store.read_stream("K-1")
    from_database = other.read_stream("K-1")
    for event in (recorded[0], from_cache[0]):
        assert event == from_database[0]
        assert list(event.data) == list(from_database[0].data) == ["alpha", "mid", "zeta"]
        assert list(event.data["mid"]) == ["x", "y"] and event.data["alpha"] == [2, 3]
        assert list(event.metadata) == list(from_database[0].metadata)
