"""Every PostgreSQL session of the store is in UTC, whatever the server's or the URL's default
zone: the times come back as the same instants, with ``datetime.UTC`` itself as their zone
(psycopg loads them so only in a session named 'UTC'; under a named zone the decoding had to
convert each one again). SQLite stores the times as UTC text: the same answer there."""

from __future__ import annotations

from datetime import UTC

import sqlalchemy as sa

from events import EventStore, NewEvent, make_engine


def test_times_read_back_are_the_instants_written_in_utc_whatever_the_session_default(
        database_url, db_kind, engine, signer):
    written = EventStore(engine, signer=signer).append(
        "subject-1", [NewEvent("Noted", {"n": n}) for n in range(3)], expected_version=0)
    url, connect_args = database_url
    if db_kind == "postgresql":  # a URL whose sessions would otherwise be in Tokyo
        connect_args = {**connect_args, "options": connect_args["options"]
                        + " -c timezone=Asia/Tokyo"}
    tokyo = make_engine(url, connect_args=connect_args)
    try:
        store = EventStore(tokyo)
        for read in (store.read_all(0, 100), store.read_stream("subject-1")):
            assert [e.recorded_at for e in read] == [e.recorded_at for e in written]
            assert all(e.recorded_at.tzinfo is UTC for e in read)
        if db_kind == "postgresql":
            for _ in range(2):  # a new session and one back from the pool
                with tokyo.connect() as conn:
                    assert conn.exec_driver_sql("SHOW TimeZone").scalar() == "UTC"
                    assert conn.execute(sa.text("SELECT recorded_at FROM events ORDER BY "
                                                "position LIMIT 1")).scalar().tzinfo is UTC
    finally:
        tokyo.dispose()
