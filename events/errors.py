"""Errors the store raises; each names what the caller can do about it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from events.model import RecordedEvent


class EventStoreError(Exception):
    """Base class of the store's errors."""


class ConcurrencyError(EventStoreError):
    """The stream moved on since the caller read it: re-read and decide again."""

    def __init__(self, stream_id: str, expected: int | None, actual: int) -> None:
        super().__init__(
            f"stream {stream_id!r} is at version {actual}, the caller expected {expected}"
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class IdempotencyKeyReused(EventStoreError):
    """An append with this idempotency key was already committed; here is what it recorded."""

    def __init__(self, key: str, events: list[RecordedEvent]) -> None:
        super().__init__(f"idempotency key {key!r} was already used")
        self.key = key
        self.events = events


class StaleRead(ConcurrencyError):
    """Another stream the caller decided on (e.g. the trial lock) moved since it was read:
    decide again on a fresh read."""
