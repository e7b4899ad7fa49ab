"""The one way commands append: idempotency, optimistic concurrency, actor metadata."""

from __future__ import annotations

from collections.abc import Sequence

from ecrf.accounts.model import User
from ecrf.commands.outcome import Outcome
from ecrf.errors import Conflict
from events import ConcurrencyError, EventStore, IdempotencyKeyReused, NewEvent


def scoped_key(user: User, idempotency_key: str | None) -> str | None:
    """Scope a client's Idempotency-Key to its user, so two users cannot collide."""
    return f"{user.username}:{idempotency_key}" if idempotency_key else None


def replay_if_seen(store: EventStore, user: User, idempotency_key: str | None
                   ) -> Outcome | None:
    """Return the first result of a request already made with this key, else None."""
    key = scoped_key(user, idempotency_key)
    if key is None:
        return None
    earlier = store.find_idempotent(key)
    return Outcome.of(earlier[0], replayed=True) if earlier else None


def check_if_match(if_match: int | None, current: int) -> None:
    """Refuse a write based on a stale read of the stream (If-Match: stream version)."""
    if if_match is not None and if_match != current:
        raise Conflict("version_conflict",
                       f"the casebook is at version {current}, the request was based on "
                       f"version {if_match}: reload and retry")


def append_as(store: EventStore, user: User, stream_id: str, events: Sequence[NewEvent], *,
              expected_version: int, idempotency_key: str | None) -> Outcome:
    """Append events stamped with the acting user, mapping store errors to API errors."""
    stamped = [NewEvent(e.type, e.data, {"actor": user.username, "role": user.role,
                                         **e.metadata}, e.schema_version) for e in events]
    try:
        recorded = store.append(stream_id, stamped, expected_version=expected_version,
                                idempotency_key=scoped_key(user, idempotency_key))
    except IdempotencyKeyReused as reused:
        return Outcome.of(reused.events[0], replayed=True)
    except ConcurrencyError as moved:
        raise Conflict("version_conflict",
                       f"the casebook changed while the request was processed (now at "
                       f"version {moved.actual}): reload and retry") from None
    return Outcome.of(recorded[0])
