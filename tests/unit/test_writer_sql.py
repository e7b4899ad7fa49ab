"""The writer's text of a time for SQLite is the text SQLAlchemy's DateTime stores and reads
(``%Y-%m-%d %H:%M:%S.%f`` of the UTC moment), whatever the offset the moment carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from events.batch_write import WriterSql

moments = st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 30),
                       timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                                  timezone(-timedelta(hours=11))]))


@given(moment=moments)
def test_the_stored_sqlite_time_is_the_strftime_text_of_the_utc_moment(moment):
    text = WriterSql(postgres=False).stored_time(moment)
    assert text == moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    assert datetime.fromisoformat(text).replace(tzinfo=UTC) == moment


def test_postgresql_stores_the_moment_itself():
    moment = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert WriterSql(postgres=True).stored_time(moment) is moment
