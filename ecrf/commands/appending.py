"""The one way commands append: idempotency, optimistic concurrency, actor metadata."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from ecrf.accounts.model import User
from ecrf.commands.outcome import Outcome
from ecrf.errors import Conflict, Invalid
from ecrf.text import MAX_REASON, TextProblem, clean_text
from events import ConcurrencyError, EventStore, IdempotencyKeyReused, NewEvent


def required_reason(reason: Any) -> str:
    """Return a stripped, non-blank reason, or refuse with 422 naming the field."""
    if not isinstance(reason, str) or not reason.strip():
        raise Invalid("reason_required", "a reason is required",
                      {"reason": ["give a non-blank reason"]})
    try:
        return clean_text(reason.strip(), MAX_REASON)
    except TextProblem as problem:
        raise Invalid("validation_failed", "the reason cannot be recorded",
                      {"reason": [f"The reason {problem}."]}) from None


RETRIES = 10  # races on one casebook are short; each retry backs off a little more


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
    return Outcome.of(recorded[0], events=tuple(recorded))


def retry_unpinned(command: Callable[..., Outcome]) -> Callable[..., Outcome]:
    """Re-run a command that lost a race to another writer, unless the client pinned a version.

    Without If-Match the client asked for "append to the casebook as it is"; an unrelated
    entry recorded meanwhile is no reason to refuse, so the command reads and checks again.
    """

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Outcome:
        for attempt in range(RETRIES):
            try:
                return command(*args, **kwargs)
            except Conflict as conflict:
                if (conflict.code != "version_conflict" or kwargs.get("if_match") is not None
                        or attempt == RETRIES - 1):
                    raise
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise AssertionError("unreachable")  # pragma: no cover

    return run
