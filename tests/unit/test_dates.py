"""The one date helper: stored values read with their offset, clinical dates, UTC moments."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from projections.dates import as_date, as_moment, moment_key, parse, parse_datetime


def test_a_datetime_keeps_its_offset_and_gives_the_date_in_that_offset() -> None:
    moment = parse_datetime("2026-10-03T01:30:00+02:00")
    assert moment.utcoffset() == timedelta(hours=2)
    assert moment.isoformat() == "2026-10-03T01:30:00+02:00"
    assert as_date("2026-10-03T01:30:00+02:00") == date(2026, 10, 3)  # UTC date: the 2nd
    assert as_moment("2026-10-03T01:30:00+02:00") == datetime(2026, 10, 2, 23, 30, tzinfo=UTC)
    assert as_moment("2026-10-03T01:30:00+02:00").utcoffset() == timedelta(0)


def test_dates_datetimes_and_none() -> None:
    assert as_date("2026-01-05") == date(2026, 1, 5)
    assert as_date(date(2026, 1, 5)) == date(2026, 1, 5)
    assert as_date(datetime(2026, 1, 5, 23, tzinfo=timezone(timedelta(hours=-5)))) == date(
        2026, 1, 5)
    assert as_date(None) is None
    assert as_date("2026-01-05T08:00:00Z") == date(2026, 1, 5)


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="offset"):
        parse_datetime("2026-01-05T08:00:00")
    with pytest.raises(ValueError, match="offset"):
        as_date("2026-01-05T08:00:00")


def test_parse_reads_iso_values_recursively_and_keeps_the_rest() -> None:
    parsed = parse({"a": ["2026-01-05", "2026-01-05T08:00:00-03:00"], "b": "text", "c": 1})
    assert parsed["a"][0] == date(2026, 1, 5)
    assert parsed["a"][1].utcoffset() == timedelta(hours=-3)
    assert (parsed["b"], parsed["c"]) == ("text", 1)
    assert parse("2026-01-05T08:00") == "2026-01-05T08:00"  # naive: left as text


def test_moment_key_orders_by_instant_whatever_the_offset() -> None:
    values = ["2026-02-10T03:00:00+00:00", "2026-02-10T09:00:00+08:00", None]
    assert sorted(values, key=moment_key) == [None, "2026-02-10T09:00:00+08:00",
                                              "2026-02-10T03:00:00+00:00"]
    assert sorted(values[:2]) == values[:2]  # as text the order would be wrong


def test_a_value_stored_in_utc_before_offsets_were_kept_reads_as_before() -> None:
    stored = "2026-02-09T23:30:00+00:00"  # the shape every entry had before issue #11 item 3
    assert as_date(stored) == date(2026, 2, 9)
    assert as_moment(stored) == datetime(2026, 2, 9, 23, 30, tzinfo=UTC)
