"""The one reader of stored dates and date-times, and the clinical date of a date-time.

A date-time is stored as entered, with the offset the site gave (``2026-10-03T01:30:00+02:00``).
Two things are read from it, never mixed up:

- its **moment** (``as_moment``): the instant, in UTC, used to order and to measure durations
  (mixed offsets make ISO strings sort wrongly, so nothing sorts them as text);
- its **clinical date** (``as_date``): the calendar date in the offset it was entered with, the
  date the site saw on its calendar; study days, visit windows, the date of a count and the day
  of a daily grade are this date.

Entries stored before offsets were kept were written in UTC (``+00:00``); they read the same way.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)$")


def is_iso_date(text: str) -> bool:
    """Tell whether a string is an ISO calendar date (``YYYY-MM-DD``)."""
    return bool(_DATE.match(text))


def is_iso_datetime(text: str) -> bool:
    """Tell whether a string is an ISO date-time with an offset (a naive one is not)."""
    return bool(_DATETIME.match(text))


def parse_datetime(value: str | datetime) -> datetime:
    """Read a stored date-time, keeping its offset; refuse a naive one (ValueError)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(
        value.replace("Z", "+00:00"))
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a date-time needs its offset, got {value!r}")
    return moment


def parse_date(value: str | date) -> date:
    """Read a stored calendar date (a date-time gives its clinical date)."""
    return as_date(value)  # type: ignore[return-value]


def parse(value: Any) -> Any:
    """Parse ISO dates and date-times (recursively in lists and objects); keep the rest.

    Date-times keep the offset they were entered with.
    """
    if isinstance(value, str):
        if _DATE.match(value):
            return date.fromisoformat(value)
        if _DATETIME.match(value):
            return parse_datetime(value)
        return value
    if isinstance(value, list):
        return [parse(v) for v in value]
    if isinstance(value, dict):
        return {k: parse(v) for k, v in value.items()}
    return value


def as_date(value: Any) -> date | None:
    """The clinical date of a date, a date-time or an ISO string of either (None stays None).

    A date-time gives its date in the offset it was entered with, not its UTC date.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    if "T" in text:
        return parse_datetime(text).date()
    return date.fromisoformat(text)


def as_moment(value: str | datetime) -> datetime:
    """The UTC instant of a stored date-time: what orders and measures."""
    return parse_datetime(value).astimezone(UTC)


def moment_key(value: str | datetime | None) -> datetime:
    """A sort key by instant; a missing value sorts first."""
    return datetime.min.replace(tzinfo=UTC) if value is None else as_moment(value)
