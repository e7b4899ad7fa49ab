"""The trial audit read model stores each event's rows as a shared head and per-row tails
(``rm_audit_events``); what it gives back must be exactly what the fold gives: the same rows,
and the same bytes as ``json.dumps(row, ensure_ascii=False)`` for the streamed export."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from events import RecordedEvent
from projections.audit_trail import event_rows
from projections.casebook import Casebook, apply
from projections.readmodel.trail import audit_record, json_text, stored_rows, stored_texts

AWKWARD = ["plain", "é ü 血小板", 'quote " and \\ backslash', "line\nbreak", "\u2028",
           "😀", "", 0, -1, 2**70, 1.5, 0.1, 1e16, 1e-7, -0.0, float("nan"), float("inf"),
           True, False, None, [1, "two", None], {"nested": {"k": [1.25]}}]


def _event(position: int, type_: str, data: dict, **meta) -> RecordedEvent:
    return RecordedEvent(position, "ITP-001", position, type_, 1, data,
                         {"actor": "staff-é", "role": "site_staff", **meta},
                         datetime(2026, 3, 1, 10, 0, position, 123456, tzinfo=UTC), "h")


def _trail() -> list[RecordedEvent]:
    values = {f"field_{i}": value for i, value in enumerate(AWKWARD)}
    return [
        _event(1, "SubjectRegistered", {"entry_id": "reg", "form": "registration", "values": {
            "subject_id": "ITP-001", "site_id": "SITE-01"}}),
        _event(2, "FormSubmitted", {"entry_id": "e1", "form": "platelet_count",
                                    "values": {"visit": "D14", **values}}),
        _event(3, "EntryCorrected", {"entry_id": "e1", "changes": {
            "field_0": "fixed", "field_8": None, "field_20": [3, 4]},
            "reason": "transcription error ✓"}),
        _event(4, "QueryOpened", {"query_id": "q1", "entry_id": "e1", "field": "field_9",
                                  "text": "please check \"this\""}),
        _event(5, "QueryAnswered", {"query_id": "q1", "text": "checked"}),
        _event(6, "EntryVerified", {"entry_id": "e1"}),
        _event(7, "SomethingWithoutRows", {"anything": 1}),
        _event(8, "EntryVoided", {"entry_id": "e1"}, reason="entered twice"),
    ]


def test_each_kind_of_event_comes_back_as_the_fold_wrote_it():
    book = Casebook("ITP-001", "SITE-01")
    checked = 0
    for event in _trail():
        expected = list(event_rows(book, event))
        record = audit_record(book, event)
        if not expected:
            assert record is None
        else:
            assert record["row_count"] == len(expected)
            # repr: NaN is not equal to itself, and repr tells 1 from 1.0 and True, and
            # shows the order of the keys
            assert repr(stored_rows(record["head"], record["tails"])) == repr(expected)
            assert stored_texts(record["head"], record["tails"]) == ",".join(
                json.dumps(row, ensure_ascii=False) for row in expected)
            checked += len(expected)
        apply(book, event)
    assert checked > len(AWKWARD) + 5


def test_the_filter_columns_are_the_events():
    book = Casebook("ITP-001", "SITE-01")
    registration, submitted = _trail()[:2]
    apply(book, registration)
    record = audit_record(book, submitted)
    assert {k: record[k] for k in ("position", "subject_id", "site_id", "actor", "role",
                                   "event_type")} == {
        "position": 2, "subject_id": "ITP-001", "site_id": "SITE-01", "actor": "staff-é",
        "role": "site_staff", "event_type": "FormSubmitted"}
    assert record["recorded_us"] == int(submitted.recorded_at.timestamp()) * 10**6 + 123456


@pytest.mark.parametrize("value", AWKWARD, ids=repr)
def test_json_text_is_json_dumps(value):
    assert json_text(value) == json.dumps(value, ensure_ascii=False)
    assert json_text({"a": value, "b": [value]}) == json.dumps({"a": value, "b": [value]},
                                                               ensure_ascii=False)
