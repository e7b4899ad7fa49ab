"""Reading a subject's casebook with site isolation (the read side of every command)."""

from __future__ import annotations

import weakref
from collections.abc import Sequence

from ecrf.accounts.model import User
from ecrf.errors import NotFound
from events import EventStore, RecordedEvent
from projections.casebook import Casebook, fold_casebook
from projections.casebook_cache import CasebookCache

_CACHES: weakref.WeakKeyDictionary[EventStore, CasebookCache] = weakref.WeakKeyDictionary()


def casebook_of(store: EventStore, events: Sequence[RecordedEvent]) -> Casebook | None:
    """Fold a subject's whole stream, starting from the casebook last folded from it."""
    cache = _CACHES.get(store)
    if cache is None:
        cache = _CACHES.setdefault(store, CasebookCache())
    return cache.casebook(events)


def load_casebook(store: EventStore, user: User, subject_id: str, *,
                  up_to_position: int | None = None) -> Casebook:
    """Return the subject's casebook, or 404 when it does not exist or its site is not the user's.

    Both cases answer alike so that a user cannot learn that another site's subject exists.
    """
    events = store.read_stream(subject_id)
    book = casebook_of(store, events) if up_to_position is None else \
        fold_casebook(events, up_to_position=up_to_position)
    if book is None or not user.sees_site(book.site_id):
        raise NotFound("subject_not_found", f"no subject {subject_id!r}")
    return book
