"""A bounded cache of decoded stream prefixes: a read fetches only the versions it lacks.

Events never change once committed, so a stream's first n events, decoded once, stay valid
for ever; every read still asks the database for versions after n, so the cache is never
stale, even with other processes writing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from events.model import RecordedEvent


class StreamCache:
    """Least-recently-used map of stream id -> its known events, in version order."""

    def __init__(self, max_streams: int = 1024) -> None:
        self.max_streams = max_streams
        self._streams: OrderedDict[str, tuple[RecordedEvent, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def known(self, stream_id: str) -> tuple[RecordedEvent, ...]:
        """Return the cached events of a stream (empty when none)."""
        with self._lock:
            events = self._streams.get(stream_id, ())
            if events:
                self._streams.move_to_end(stream_id)
            return events

    def extend(self, stream_id: str, known: tuple[RecordedEvent, ...],
               newer: list[RecordedEvent]) -> tuple[RecordedEvent, ...]:
        """Record the events that follow ``known``; keep the longest prefix seen."""
        events = known + tuple(newer)
        with self._lock:
            current = self._streams.get(stream_id, ())
            if len(events) > len(current):
                self._streams[stream_id] = events
                self._streams.move_to_end(stream_id)
                while len(self._streams) > self.max_streams:
                    self._streams.popitem(last=False)
        return events
