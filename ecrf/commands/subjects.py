"""Reading a subject's casebook with site isolation (the read side of every command).

``latest_casebook`` (projections.casebook_cache) folds the stream from the kept casebook.
"""

from __future__ import annotations

from ecrf.accounts.model import User
from ecrf.errors import NotFound
from events import EventStore
from projections.casebook import Casebook, fold_casebook
from projections.casebook_cache import latest_casebook


def load_casebook(store: EventStore, user: User, subject_id: str, *,
                  up_to_position: int | None = None) -> Casebook:
    """Return the subject's casebook, or 404 when it does not exist or its site is not the user's.

    Both cases answer alike so that a user cannot learn that another site's subject exists.
    """
    book = latest_casebook(store, subject_id) if up_to_position is None else \
        fold_casebook(store.read_stream(subject_id), up_to_position=up_to_position)
    if book is None or not user.sees_site(book.site_id):
        raise NotFound("subject_not_found", f"no subject {subject_id!r}")
    return book
