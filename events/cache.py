"""A bounded cache of decoded streams that follows the log, so a read need not ask the database.

The cache knows the log up to a position, ``seen``: every stream it holds has all of its
events at positions <= ``seen`` (a stream held as empty has none). Moving ``seen`` forward
means reading the events after it (one indexed query, usually empty or a few rows) and adding
them to the streams held; this process's own appends are added as they commit. Events never
change once committed, so nothing held is ever wrong, only possibly behind ``seen``, and a
reader that first moves ``seen`` to the head sees what the database holds, whichever process
wrote it. The store decides when to move it (events.store: once per read outside a request,
once per request inside one).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from events.model import RecordedEvent


class StreamCache:
    """Least-recently-used map of stream id -> its events in version order, complete up to
    the log position ``seen``."""

    def __init__(self, max_streams: int = 4096) -> None:
        self.max_streams = max_streams
        self._streams: OrderedDict[str, tuple[RecordedEvent, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self.seen = 0
        #: Moves whenever the set of streams held grows; a refresh that chose the rows of the
        #: streams held must find it unchanged, or a stream put meanwhile could miss a row.
        self.generation = 0
        #: (probe connection's epoch, SQLite's data version) read before the last refresh
        #: that reached the head (None: none yet, or not SQLite): while the probe answers
        #: the same pair, nothing new was committed (events.data_version).
        self.data_version: tuple[int, int] | None = None

    def get(self, stream_id: str) -> tuple[RecordedEvent, ...] | None:
        """Return the stream as known up to ``seen`` (None: not held)."""
        with self._lock:
            events = self._streams.get(stream_id)
            if events is not None:
                self._streams.move_to_end(stream_id)
            return events

    def holds(self, stream_id: str) -> bool:
        return stream_id in self._streams

    def put(self, stream_id: str, events: Iterable[RecordedEvent], loaded_after_seen: int
            ) -> None:
        """Hold a stream read whole from the database after the cache knew ``loaded_after_seen``.

        Kept only if ``seen`` has not moved since: otherwise an event between the two could be
        missing from it while the cache claims to know the log past it.
        """
        events = tuple(events)
        with self._lock:
            if self.seen != loaded_after_seen:
                return
            current = self._streams.get(stream_id)
            if current is None:
                self.generation += 1
            if current is None or len(events) > len(current):
                self._streams[stream_id] = events
            self._streams.move_to_end(stream_id)
            while len(self._streams) > self.max_streams:
                self._streams.popitem(last=False)

    def advance(self, events: Iterable[RecordedEvent], through: int, after: int,
                generation: int | None = None) -> bool:
        """Add the log's events at positions (after, through] to the streams held.

        ``events`` must be all of them that belong to streams held, in position order;
        refused (False) unless ``after`` is the position the cache knows and, when given,
        ``generation`` is still the cache's (no stream became held since they were chosen),
        so a gap can never be papered over.
        """
        with self._lock:
            if after != self.seen or (generation is not None and generation != self.generation):
                return False
            streams = self._streams
            for event in events:
                held = streams.get(event.stream_id)
                if held is None:
                    continue
                if event.stream_version == len(held) + 1:
                    streams[event.stream_id] = (*held, event)
                elif event.stream_version > len(held) + 1:  # pragma: no cover - a gap
                    del streams[event.stream_id]
            self.seen = max(self.seen, through)
            return True

    def forget_all(self, through: int) -> None:
        """Drop every stream and know the log up to ``through`` (too much came at once)."""
        with self._lock:
            self._streams.clear()
            self.seen = max(self.seen, through)

    def forget(self, stream_id: str) -> None:
        with self._lock:
            self._streams.pop(stream_id, None)
