"""A command or view asks for the casebook of the stream as it now is. When other threads of
the process committed and kept newer casebooks between its read of the stream and its look
into the casebook cache, the cache cannot carry any kept casebook backwards: it reads the
stream again (those events are already in the store's stream cache) instead of folding the
whole stream from its first event, which was 40% of the CPU with 8 clients on one subject."""

from __future__ import annotations

from datetime import UTC, datetime

import projections.casebook_cache as cache_module
from events import RecordedEvent
from projections.casebook import apply, fold_casebook
from projections.casebook_cache import casebook_of, keep_casebook, latest_casebook


def stream(n: int) -> list[RecordedEvent]:
    events = [RecordedEvent(1, "ITP-1", 1, "SubjectRegistered", 1, {
        "entry_id": "E0", "form": "registration",
        "values": {"subject_id": "ITP-1", "site_id": "SITE-01"}}, {},
        datetime(2026, 3, 1, tzinfo=UTC), "h1")]
    for v in range(2, n + 1):
        events.append(RecordedEvent(v, "ITP-1", v, "PlateletCountRecorded", 1, {
            "entry_id": f"E{v}", "form": "platelet_count", "values": {"platelets": v}}, {},
            datetime(2026, 3, 1, tzinfo=UTC), f"h{v}"))
    return events


class LaggingStore:
    """A store whose first read of the stream is behind what other threads committed."""

    def __init__(self, reads: list[list[RecordedEvent]]) -> None:
        self.reads = reads
        self.count = 0

    def read_stream(self, stream_id: str) -> list[RecordedEvent]:
        self.count += 1
        return self.reads[min(self.count, len(self.reads)) - 1]


def test_kept_casebooks_past_the_read_make_it_read_again_not_fold_whole(monkeypatch):
    log = stream(30)
    store = LaggingStore([log[:20], log])
    book = casebook_of(store, log[:25])  # kept at 25 by an earlier request
    for event in log[25:]:
        apply(book, event)
    keep_casebook(store, book)  # another thread committed up to 30 and kept its casebook

    def whole_fold(*_args, **_kwargs):
        raise AssertionError("folded the whole stream")

    monkeypatch.setattr(cache_module, "fold_casebook", whole_fold)
    latest = latest_casebook(store, "ITP-1")
    assert store.count == 2 and latest.version == 30
    assert latest.to_dict() == fold_casebook(log).to_dict()


def test_a_read_not_behind_the_kept_casebooks_is_read_once():
    log = stream(12)
    store = LaggingStore([log])
    casebook_of(store, log[:10])
    assert latest_casebook(store, "ITP-1").version == 12 and store.count == 1


def test_a_stream_that_keeps_lagging_is_folded_after_three_reads():
    log = stream(15)
    store = LaggingStore([log[:5]] * 5)
    book = casebook_of(store, log[:10])
    keep_casebook(store, book)
    latest = latest_casebook(store, "ITP-1")
    assert store.count == 3 and latest.version == 5  # the casebook of what was read
