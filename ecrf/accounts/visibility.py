"""Which account events a reader of the security log may see (least exposure)."""

from __future__ import annotations

from ecrf.accounts.lockout import is_security_stream
from ecrf.accounts.model import ALL_SITES, User, fold_user
from events import EventStore

__all__ = ["is_security_stream", "shows_account"]


def shows_account(store: EventStore, reader: User, stream_id: str) -> bool:
    """Tell whether ``reader`` may see the events of a security stream.

    A trial-wide reader (sites '*') sees every stream. A reader limited to some sites sees an
    account's stream only when the account is assigned to one of those sites (by its current
    assignment); trial-wide accounts and names that are no account are not of any one site.
    """
    if ALL_SITES in reader.sites:
        return True
    if not stream_id.startswith("user:"):
        return False
    account = fold_user(store.read_stream(stream_id))
    return account is not None and ALL_SITES not in account.sites and bool(
        set(account.sites) & set(reader.sites))
