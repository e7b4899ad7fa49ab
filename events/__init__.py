"""The event store: append-only streams, a global position, a hash chain, and a commit signal.

It knows nothing of Flask, HTTP, users or clinical rules.
"""

from events.context import event_metadata
from events.engine import make_engine
from events.errors import ConcurrencyError, EventStoreError, IdempotencyKeyReused, StaleRead
from events.model import NewEvent, RecordedEvent
from events.signals import events_committed
from events.store import EventStore, Head
from events.verify import ChainReport, verify_chain

__all__ = [
    "ChainReport",
    "ConcurrencyError",
    "EventStore",
    "EventStoreError",
    "Head",
    "IdempotencyKeyReused",
    "NewEvent",
    "RecordedEvent",
    "StaleRead",
    "event_metadata",
    "events_committed",
    "make_engine",
    "verify_chain",
]
