"""The one way commands append: idempotency, optimistic concurrency, actor metadata."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from ecrf.accounts.model import User
from ecrf.commands.outcome import Outcome, replayed_outcome, write_receipt
from ecrf.errors import Conflict, Invalid
from ecrf.text import MAX_REASON, TextProblem, clean_text
from events import (
    ConcurrencyError,
    EventStore,
    IdempotencyKeyReused,
    NewEvent,
    RecordedEvent,
    StaleRead,
)
from projections.casebook import Casebook
from projections.casebook_cache import casebook_of


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


KEY_METADATA, FINGERPRINT_METADATA = "idempotency_key", "request_fingerprint"


def replay_if_seen(store: EventStore, user: User, idempotency_key: str | None,
                   fingerprint: str | None = None) -> Outcome | None:
    """Return the first result of this same request made before with this key, else None.

    Refuses (422 ``idempotency_key_reused``) when the key came with a different request.
    """
    key = scoped_key(user, idempotency_key)
    if key is None:
        return None
    earlier = store.find_idempotent(key)
    return _replay(store, earlier, fingerprint) if earlier else None


def _replay(store: EventStore, earlier: Sequence[RecordedEvent], fingerprint: str | None
            ) -> Outcome:
    """The first response again, built from the recorded events as the first one was (its
    receipt too), or 422 when the key came with another request."""
    if earlier[0].metadata.get(FINGERPRINT_METADATA) != fingerprint:
        raise Invalid("idempotency_key_reused",
                      "this Idempotency-Key was already used for a different request: "
                      "send a new key with a new request",
                      {"Idempotency-Key": ["already used for another request"]})
    return replayed_outcome(store, earlier[0])


def check_if_match(if_match: int | None, current: int) -> None:
    """Refuse a write based on a stale read of the stream (If-Match: stream version)."""
    if if_match is not None and if_match != current:
        raise Conflict("version_conflict",
                       f"the casebook is at version {current}, the request was based on "
                       f"version {if_match}: reload and retry")


def append_as(store: EventStore, user: User, stream_id: str, events: Sequence[NewEvent], *,
              expected_version: int, idempotency_key: str | None,
              fingerprint: str | None = None,
              decide: Callable[[Casebook], Sequence[NewEvent]] | None = None,
              depends: dict[str, int] | None = None) -> Outcome:
    """Append events stamped with the acting user, mapping store errors to API errors.

    With an idempotency key, the first event's metadata carries the key and the request's
    fingerprint, so both are covered by the event's hash. With ``decide`` (the command's own
    checks and events, as a function of the casebook), a casebook that moved meanwhile is no
    conflict: the store's writer folds it as it now stands and decides again, in order with
    the other writes of its batch (events.group_commit); ``decide`` may refuse by raising.
    ``depends``: other streams the checks read (the trial lock, from guard_writable); if one
    moved meanwhile the write is refused with 409 ``stale_read``, which the retry wrappers
    answer by running the command again on a fresh read.
    """
    def stamp(new: Sequence[NewEvent]) -> list[NewEvent]:
        stamped = [NewEvent(e.type, e.data, {"actor": user.username, "role": user.role,
                                             **e.metadata}, e.schema_version) for e in new]
        if idempotency_key is not None:
            first = stamped[0]
            stamped[0] = NewEvent(first.type, first.data, {
                **first.metadata, KEY_METADATA: idempotency_key,
                FINGERPRINT_METADATA: fingerprint}, first.schema_version)
        return stamped

    rebase = None
    if decide is not None:
        def rebase(now: list[RecordedEvent]) -> list[NewEvent]:
            # ``now`` holds the earlier appends of the batch, not committed yet: a casebook
            # of them must not be kept (if the batch fails, others would be served it)
            book = casebook_of(store, now, keep=False)
            if book is None:  # pragma: no cover - a subject's stream starts with its registration
                raise Conflict("version_conflict", "the casebook is gone: reload and retry")
            return stamp(decide(book))
    try:
        recorded = store.append(stream_id, stamp(events), expected_version=expected_version,
                                idempotency_key=scoped_key(user, idempotency_key),
                                rebase=rebase, depends=depends)
    except IdempotencyKeyReused as reused:  # a concurrent request with the key won the race
        return _replay(store, reused.events, fingerprint)
    except StaleRead as moved:
        raise Conflict("stale_read",
                       f"{moved.stream_id!r} changed while the request was processed (a trial "
                       "lock?): nothing was recorded; retry") from None
    except ConcurrencyError as moved:
        raise Conflict("version_conflict",
                       f"the casebook changed while the request was processed (now at "
                       f"version {moved.actual}): reload and retry") from None
    return Outcome.of(recorded[0], events=tuple(recorded),
                      receipt=write_receipt(store, recorded[-1]))


def retry_unpinned(command: Callable[..., Outcome]) -> Callable[..., Outcome]:
    """Re-run a command that lost a race to another writer, unless the client pinned a version.

    Without If-Match the client asked for "append to the casebook as it is"; an unrelated
    entry recorded meanwhile is no reason to refuse, so the command reads and checks again.
    A stale read of another stream (``stale_read``: the trial lock moved) is retried pinned
    or not: the client's version may well still hold, and the fresh checks decide.
    """
    return _retrying(command, lambda conflict, kwargs: conflict.code == "stale_read" or (
        conflict.code == "version_conflict" and kwargs.get("if_match") is None))


def retry_stale(command: Callable[..., Outcome]) -> Callable[..., Outcome]:
    """Re-run a command whose write was refused because a stream its checks read moved."""
    return _retrying(command, lambda conflict, _kwargs: conflict.code == "stale_read")


def _retrying(command: Callable[..., Outcome],
              retry: Callable[[Conflict, dict[str, Any]], bool]) -> Callable[..., Outcome]:
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Outcome:
        for attempt in range(RETRIES):
            try:
                return command(*args, **kwargs)
            except Conflict as conflict:
                if not retry(conflict, kwargs) or attempt == RETRIES - 1:
                    raise
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise AssertionError("unreachable")  # pragma: no cover

    return run
