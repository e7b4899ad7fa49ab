"""Upcasters: old event versions are brought up to date on read, never rewritten in place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Upcasters:
    """A registry of (event type, from schema version) -> function returning the next version."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def register(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register a step from ``from_version`` to ``from_version + 1`` (used as a decorator)."""

        def decorate(step: Upcaster) -> Upcaster:
            self._steps[(event_type, from_version)] = step
            return step

        return decorate

    def upcast(self, event_type: str, version: int, data: dict[str, Any]) -> tuple[int, dict]:
        """Apply every registered step from ``version`` on; return the final version and data."""
        while (step := self._steps.get((event_type, version))) is not None:
            data = step(data)
            version += 1
        return version, data

    def __bool__(self) -> bool:
        return bool(self._steps)
