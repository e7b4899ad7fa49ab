"""Who is acting: metadata that rides in a context variable and is stamped on every event."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

_metadata: ContextVar[dict[str, Any]] = ContextVar("event_metadata", default={})  # noqa: B039


def current_metadata() -> dict[str, Any]:
    """Return the metadata in force for events appended now."""
    return _metadata.get()


@contextmanager
def event_metadata(**values: Any) -> Iterator[None]:
    """Stamp these values (actor, role, request id ...) on every event appended inside the block."""
    token = _metadata.set({**_metadata.get(), **values})
    try:
        yield
    finally:
        _metadata.reset(token)


def push_metadata(**values: Any) -> Token[dict[str, Any]]:
    """Add values for the rest of this context (e.g. one web request); undo with pop_metadata."""
    return _metadata.set({**_metadata.get(), **values})


def pop_metadata(token: Token[dict[str, Any]]) -> None:
    """Undo a push_metadata."""
    _metadata.reset(token)
