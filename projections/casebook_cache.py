"""Folded casebooks kept between requests, so a long stream is not folded again for each one.

A casebook at version v is a pure function of the stream's first v events, which never
change: the cache keeps the latest one folded per stream and brings it forward by applying
only the events after it. Callers get a fork (``Casebook.fork``), never the kept one, so what
they apply to theirs (the edit checks do) cannot reach the cache.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from events import RecordedEvent
from projections.casebook import Casebook, apply, fold_casebook


class CasebookCache:
    """Least-recently-used map of stream id -> the latest casebooks folded from it (a few
    versions, newest last: requests that read the stream a moment earlier still find one)."""

    def __init__(self, max_books: int = 1024, versions: int = 4) -> None:
        self.max_books, self.versions = max_books, versions
        self._books: OrderedDict[str, tuple[Casebook, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def casebook(self, events: Sequence[RecordedEvent], *, keep: bool = True
                 ) -> Casebook | None:
        """Fold a whole stream (its events in version order, from version 1) into its casebook.

        A kept casebook is used only when the same event stands at its version in ``events``
        (same position), so a stream read from another store cannot mislead it. ``keep=False``
        for events that may never commit (a rebase inside a batch): a casebook of them must
        not be kept, or after a failed batch a later event at the same position and version
        would take it for its own.
        """
        if not events:
            return None
        stream_id = events[0].stream_id
        with self._lock:
            kept = self._books.get(stream_id, ())
        base = next((b for b in reversed(kept) if 0 < b.version <= len(events)
                     and events[b.version - 1].position == b.position), None)
        if base is not None:
            if base.version == len(events):
                return base.fork()
            book = base.fork()
            for event in events[base.version:]:
                apply(book, event)
        else:
            book = fold_casebook(events)
            if book is None:
                return None
        if not keep or not self._kept_if_newest(stream_id, book):
            return book  # the caller's alone: never kept, never seen by another
        return book.fork()

    def _kept_if_newest(self, stream_id: str, book: Casebook) -> bool:
        """Keep ``book`` (as it is: callers get forks) as the stream's newest casebook, unless
        one as new is kept already; evict the least recently used streams past the bound."""
        with self._lock:
            kept = self._books.get(stream_id, ())
            if kept and kept[-1].version >= book.version:
                return False
            self._books[stream_id] = (*kept[-(self.versions - 1):], book)
            self._books.move_to_end(stream_id)
            while len(self._books) > self.max_books:
                self._books.popitem(last=False)
        return True

    def keep(self, stream_id: str, book: Casebook) -> None:
        """Keep a casebook a caller carried forward from one handed out here, by applying the
        stream's next recorded events in order (the edit checks do, after a write), when it
        is newer than the newest kept: the next read starts from it, with what was worked
        out on it (``Casebook.current``, ``Casebook.entry_aggregate``). It is used only
        where its last event stands at its version in the stream read, like any kept one."""
        self._kept_if_newest(stream_id, book.fork())

    def newest_version(self, stream_id: str) -> int:
        """The version of the newest casebook kept for a stream (0: none)."""
        with self._lock:
            kept = self._books.get(stream_id, ())
        return kept[-1].version if kept else 0

    def forget(self, stream_id: str) -> None:
        """Drop the casebooks kept for a stream (the next read folds it from its events)."""
        with self._lock:
            self._books.pop(stream_id, None)


_CACHES: weakref.WeakKeyDictionary[Any, CasebookCache] = weakref.WeakKeyDictionary()


def casebook_of(store: Any, events: Sequence[RecordedEvent], *, keep: bool = True
                ) -> Casebook | None:
    """Fold a subject's whole stream with the cache of this store (one per event store: the
    commands, the read-model runner and the views share it); ``keep=False`` for events that
    are not all committed (see ``CasebookCache.casebook``)."""
    return _cache_of(store).casebook(events, keep=keep)


def _cache_of(store: Any) -> CasebookCache:
    cache = _CACHES.get(store)
    if cache is None:
        cache = _CACHES.setdefault(store, CasebookCache())
    return cache


def latest_casebook(store: Any, stream_id: str) -> Casebook | None:
    """The casebook of a stream as the store reads it now (``store.read_stream``).

    When the kept casebooks are already past what was read (other threads of this process
    committed and kept theirs in between: with 8 clients on one subject the last few kept
    versions move within a switch of the GIL), no kept one can be carried backwards, and
    folding the whole stream from its first event was 40% of the CPU (py-spy). The stream is
    read again instead: those commits are in the store's stream cache, so it costs no query.
    After three reads still behind, the casebook of the last read is folded."""
    cache = _cache_of(store)
    events = store.read_stream(stream_id)
    for _again in range(2):
        if cache.newest_version(stream_id) <= len(events):
            break
        events = store.read_stream(stream_id)
    return cache.casebook(events)


def keep_casebook(store: Any, book: Casebook) -> None:
    """Offer this store's cache a casebook carried forward by recorded events (see
    ``CasebookCache.keep``)."""
    cache = _CACHES.get(store)
    if cache is not None:
        cache.keep(book.subject_id, book)


def forget_casebooks(store: Any, stream_id: str) -> None:
    """Drop what this store's cache keeps of a stream: a cold read (benchmarks)."""
    cache = _CACHES.get(store)
    if cache is not None:
        cache.forget(stream_id)
