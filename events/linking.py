"""Numbering, chaining and encoding an append's events: what the writer stores and hashes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from events.encoding import GENESIS_HASH, canonical_json, format_timestamp, hash_encoded
from events.model import ONE_MICROSECOND, Head, NewEvent, RecordedEvent
from events.reading import loads

_TYPE_TEXTS: dict[str, str] = {}  # an event type's canonical JSON, encoded once


def number_and_link(stream_id: str, version: int, head: Head | None,
                    new_events: Sequence[NewEvent], stamp: dict[str, Any]
                    ) -> tuple[list[RecordedEvent], list[tuple[str, str]]]:
    """Number, link and encode the events: the recorded events, and the stored texts of each
    one's payload and metadata. Each payload is encoded to canonical JSON once, and that
    text is both stored and hashed (events.encoding.hash_encoded)."""
    position = head.position if head else 0
    prev_hash = head.hash if head else GENESIS_HASH
    now = datetime.now(UTC)
    if head and head.recorded_at and head.recorded_at >= now:
        # recorded_at never runs backwards along the log, and two appends never share one:
        # the events of one append are those with its recorded_at (receipts rely on it)
        now = head.recorded_at + ONE_MICROSECOND
    stamp_text = format_timestamp(now)
    stream_text = canonical_json(stream_id)
    recorded, texts = [], []
    meta_cache: tuple[dict[str, Any], str] | None = None
    for offset, new in enumerate(new_events, start=1):
        meta = {**stamp, **new.metadata} if new.metadata else stamp
        if meta_cache is None or meta_cache[0] is not meta:
            meta_cache = (meta, canonical_json(meta))
        meta_text = meta_cache[1]
        data_text = canonical_json(new.data)
        pos, ver, sv = position + offset, version + offset, new.schema_version
        if type(sv) is not int or not isinstance(new.type, str):
            raise TypeError("schema_version must be an int and type a str")
        type_text = _TYPE_TEXTS.get(new.type)
        if type_text is None:
            type_text = canonical_json(new.type)
            if len(_TYPE_TEXTS) < 1000:  # event types are the code's own: a few dozen
                _TYPE_TEXTS[new.type] = type_text
        prev_hash = hash_encoded(prev_hash, pos, stream_text, ver, type_text, sv, data_text,
                                 meta_text, stamp_text)
        # the event as a read will give it: decoded from the stored text (key order, types),
        # so an answer never depends on whether it came from the cache or the database
        recorded.append(RecordedEvent(pos, stream_id, ver, new.type, sv, loads(data_text),
                                      loads(meta_text), now, prev_hash))
        texts.append((data_text, meta_text))
    return recorded, texts
