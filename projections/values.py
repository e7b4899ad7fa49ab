"""Turn stored JSON values (ISO strings) back into the Python types the rules take."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)$")


def parse(value: Any) -> Any:
    """Parse ISO dates and date-times (recursively in lists and objects); keep the rest."""
    if isinstance(value, str):
        if _DATE.match(value):
            return date.fromisoformat(value)
        if _DATETIME.match(value):
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        return value
    if isinstance(value, list):
        return [parse(v) for v in value]
    if isinstance(value, dict):
        return {k: parse(v) for k, v in value.items()}
    return value


def entry_values(entry: Any) -> dict[str, Any]:
    """Return an entry's current values parsed, with its ``entry_id`` (the rules' input shape)."""
    return {**parse(entry.values), "entry_id": entry.entry_id}
