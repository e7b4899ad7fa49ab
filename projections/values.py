"""Turn stored JSON values (ISO strings) back into the Python types the rules take."""

from __future__ import annotations

from typing import Any

from projections.dates import parse

__all__ = ["entry_values", "parse"]


def entry_values(entry: Any) -> dict[str, Any]:
    """Return an entry's current values parsed, with its ``entry_id`` (the rules' input shape)."""
    return {**parse(entry.values), "entry_id": entry.entry_id}
