"""Many clients writing to ONE casebook at once (issue #13): without If-Match none gets a 409,
since the writer decides each submission again on the casebook as it now stands; with a stale
If-Match the client still gets 409 version_conflict and nothing is appended."""

from __future__ import annotations

import threading
from collections import Counter

from events import verify_chain
from tests.api.conftest import Api, platelet_count

THREADS, EACH = 8, 10
PATH = "/subjects/ITP-001/forms/platelet_count"


def submission(t: int, i: int) -> dict:
    return platelet_count(visit="UNSCHEDULED", platelets=100 + t * EACH + i,
                          collected_at=f"2026-02-{1 + i:02d}T{8 + t:02d}:00:00Z")


def test_eight_clients_without_if_match_all_land_on_one_subject(app, staff, subject, store):
    seed = store.stream_version(subject)
    barrier = threading.Barrier(THREADS)
    statuses: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def client(t: int) -> None:
        api = Api(app.test_client(), staff.token)
        barrier.wait(timeout=30)
        for i in range(EACH):
            reply = api.post(PATH, submission(t, i))
            with lock:
                statuses.append((reply.status_code, reply.json))

    threads = [threading.Thread(target=client, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert Counter(code for code, _ in statuses) == {201: THREADS * EACH}, \
        [body for code, body in statuses if code != 201][:3]

    events = store.read_stream(subject)
    kinds = Counter(e.type for e in events[seed:])
    submitted = [e for e in events[seed:] if e.type == "PlateletCountRecorded"]
    assert len(submitted) == THREADS * EACH
    assert sorted(e.data["values"]["platelets"] for e in submitted) == \
        list(range(100, 100 + THREADS * EACH))  # every submission once
    assert set(kinds) <= {"PlateletCountRecorded", "QueryOpened", "QueryClosed"}, kinds
    book = staff.get(f"/subjects/{subject}").json
    assert book["stream_version"] == seed + sum(kinds.values())
    assert [e.stream_version for e in events] == list(range(1, len(events) + 1))
    entry_ids = [b["entry_id"] for _, b in statuses]
    assert len(set(entry_ids)) == THREADS * EACH
    in_book = {e["entry_id"] for e in book["entries"]}
    assert set(entry_ids) <= in_book
    assert verify_chain(store.engine).ok


def test_a_stale_if_match_is_still_refused_with_409_and_appends_nothing(staff, subject, store):
    version = store.stream_version(subject)
    first = staff.post(PATH, submission(0, 0), headers={"If-Match": str(version)})
    assert first.status_code == 201, first.json
    count = store.count()
    stale = staff.post(PATH, submission(0, 1), headers={"If-Match": str(version)})
    assert stale.status_code == 409
    assert stale.json["error"]["code"] == "version_conflict"
    assert store.count() == count


def test_concurrent_clients_with_the_same_if_match_one_wins_the_others_get_409(
        app, staff, subject, store):
    version = store.stream_version(subject)
    count = store.count()
    barrier = threading.Barrier(THREADS)
    statuses: list[tuple[int, str | None]] = []

    def client(t: int) -> None:
        api = Api(app.test_client(), staff.token)
        barrier.wait(timeout=30)
        reply = api.post(PATH, submission(t, 0), headers={"If-Match": str(version)})
        statuses.append((reply.status_code, (reply.json.get("error") or {}).get("code")))

    threads = [threading.Thread(target=client, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses, key=str) == \
        [(201, None)] + [(409, "version_conflict")] * (THREADS - 1)
    recorded = [e for e in store.read_all(after=count) if e.type == "PlateletCountRecorded"]
    assert len(recorded) == 1
