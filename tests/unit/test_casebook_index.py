"""The casebook's per-form lists (``current``, ``latest``) are kept up to date as events are
applied, not rebuilt by scanning every entry. They must answer exactly what a scan answers,
at every version, in every fork, whatever was applied to the parent or another fork later."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from events import RecordedEvent
from projections.casebook import Casebook, apply, fold_casebook

FORMS = ("platelet_count", "vital_signs", "adverse_event", "car_t_infusion", "end_of_study")
ASKED = (None, "registration", *FORMS, "never_submitted")


def scan(book: Casebook, form: str | None) -> list[Any]:
    """What ``current`` answered before it kept lists: a scan of every entry."""
    return [e for e in book.entries.values()
            if not e.voided and (form is None or e.form == form)]


def of_entry(entry: Any) -> tuple[Any, ...]:
    """A pure function of an entry, as the edit checks' findings are (none for most)."""
    return (entry.entry_id, entry.values.get("n")) if entry.form != "vital_signs" else ()


def assert_answers_like_a_scan(book: Casebook) -> None:
    for form in ASKED:
        expected = scan(book, form)
        assert book.current(form) == expected, form
        assert book.latest(form) == (expected[-1] if expected else None), form
        assert all(a is b for a, b in zip(book.current(form), expected, strict=True)), form
    assert book.entry_aggregate("pairs", of_entry) == tuple(
        item for entry in scan(book, None) for item in of_entry(entry))


class Stream:
    """A subject's events made in memory: new entries, corrections, voids, workflow events."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.events, self.entries = rng, [], []
        self._add("SubjectRegistered", {"entry_id": "E0", "form": "registration", "values": {
            "subject_id": "ITP-1", "site_id": "SITE-01"}})

    def _add(self, event_type: str, data: dict[str, Any]) -> RecordedEvent:
        n = len(self.events) + 1
        event = RecordedEvent(n, "ITP-1", n, event_type, 1, data, {"actor": "unit"},
                              datetime(2026, 3, 1, tzinfo=UTC), f"h{n}")
        self.events.append(event)
        return event

    def step(self) -> RecordedEvent:
        roll = self.rng.random()
        if roll < 0.55 or not self.entries:
            entry_id = f"E{len(self.events)}"
            self.entries.append(entry_id)
            form = self.rng.choice(FORMS)
            return self._add("FormSubmitted", {"entry_id": entry_id, "form": form,
                                               "values": {"visit": "UNSCHEDULED", "n": roll}})
        entry_id = self.rng.choice(self.entries)
        if roll < 0.70:
            return self._add("EntryCorrected", {"entry_id": entry_id, "changes": {"n": roll},
                                                "reason": "typo"})
        if roll < 0.78:
            return self._add("EntryVoided", {"entry_id": entry_id, "reason": "entered twice"})
        if roll < 0.82:  # an entry id seen before, in a new form event (an import, a replay)
            return self._add("FormSubmitted", {"entry_id": entry_id, "form": "vital_signs",
                                               "values": {"visit": "UNSCHEDULED"}})
        return self._add("QueryOpened", {"query_id": f"Q{len(self.events)}",
                                         "entry_id": entry_id, "field": "n", "text": "check"})


@pytest.mark.parametrize("seed", range(12))
def test_the_kept_lists_answer_like_a_scan_in_every_version_and_fork(seed: int) -> None:
    rng = random.Random(seed)
    stream = Stream(rng)
    book = fold_casebook(stream.events)
    forks: list[tuple[int, Casebook]] = []
    for _ in range(120):
        if rng.random() < 0.5:
            assert_answers_like_a_scan(book)  # asked between steps: the lists exist
        event = stream.step()
        if rng.random() < 0.3:  # a fork taken now, applied to on its own later
            forks.append((len(stream.events) - 1, book.fork()))
        if rng.random() < 0.3:  # a request's fork asks first, then carries on alone
            request = book.fork()
            assert_answers_like_a_scan(request)
            apply(request, stream.events[-1])
            assert_answers_like_a_scan(request)
            assert_answers_like_a_scan(book)  # its answers reached the book it forked
        apply(book, event)
        assert_answers_like_a_scan(book)
        book = book.fork() if rng.random() < 0.5 else book
    assert {e.type for e in stream.events} >= {"EntryCorrected", "EntryVoided", "QueryOpened"}
    for version, fork in forks:  # nothing applied later to another copy reached this one
        assert_answers_like_a_scan(fork)
        expected = fold_casebook(stream.events[:version])
        for form in ASKED:
            assert [e.entry_id for e in fork.current(form)] == \
                [e.entry_id for e in expected.current(form)], (version, form)
        for event in stream.events[version:]:  # and carried forward, it ends where the book is
            apply(fork, event)
        assert_answers_like_a_scan(fork)
        assert fork.to_dict() == book.to_dict()


def test_what_a_fork_finds_out_is_kept_for_the_casebook_it_was_forked_from() -> None:
    stream = Stream(random.Random(2))
    for _ in range(30):
        stream.step()
    kept = fold_casebook(stream.events)
    kept._current, kept._aggregates = {}, {}
    request = kept.fork()
    request.current("platelet_count")
    request.entry_aggregate("pairs", of_entry)
    assert "platelet_count" in kept._current and "pairs" in kept._aggregates
    event = stream.step()
    apply(request, event)  # from here on the two differ, and so do their answers
    assert_answers_like_a_scan(request)
    assert_answers_like_a_scan(kept)


def test_a_caller_changing_what_current_returned_changes_no_casebook() -> None:
    stream = Stream(random.Random(1))
    for _ in range(10):
        stream.step()
    book = fold_casebook(stream.events)
    before = [e.entry_id for e in book.current()]
    book.current().clear()
    book.current("platelet_count").append("not an entry")
    assert [e.entry_id for e in book.current()] == before
    assert "not an entry" not in book.current("platelet_count")


def test_a_new_entry_applied_while_another_fork_adds_an_aggregate_is_applied_whole():
    """Forks share the kept answers: another request may add an aggregate to the dict while
    apply() extends them for a new entry (it raised 'dictionary changed size' before)."""
    import threading
    import time

    def slow(entry: Any) -> tuple[Any, ...]:
        time.sleep(0.001)
        return (entry.entry_id,)

    stream = Stream(random.Random(3))
    for _ in range(5):
        stream.step()
    kept = fold_casebook(stream.events)
    kept.entry_aggregate("slow", slow)
    stop, errors = threading.Event(), []

    def add_names() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            kept.fork().entry_aggregate(f"other{n}", of_entry)

    adder = threading.Thread(target=add_names)
    adder.start()
    try:
        for n in range(5):
            book = kept.fork()
            event = RecordedEvent(
                100 + n, "ITP-1", len(stream.events) + 1, "FormSubmitted", 1,
                {"entry_id": f"NEW{n}", "form": "platelet_count", "values": {"n": n}},
                {}, datetime(2026, 3, 1, tzinfo=UTC), "h")
            try:
                apply(book, event)
            except RuntimeError as error:
                errors.append(error)
                continue
            assert book.entry_aggregate("slow", slow)[-1] == f"NEW{n}"
            assert_answers_like_a_scan(book)
    finally:
        stop.set()
        adder.join()
    assert not errors
