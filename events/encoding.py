"""The canonical encoding of an event and its SHA-256 link in the hash chain.

docs/hash-chain.md describes the same rules for an inspector's independent check.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """Encode JSON with sorted keys, no spaces and raw UTF-8, so equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def format_timestamp(moment: datetime) -> str:
    """Write a UTC moment as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (fixed width, microseconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(
    prev_hash: str,
    *,
    position: int,
    stream_id: str,
    stream_version: int,
    type: str,
    schema_version: int,
    data: dict[str, Any],
    metadata: dict[str, Any],
    recorded_at: datetime,
) -> str:
    """Return the hex SHA-256 of the previous hash and this event's canonical encoding."""
    body = canonical_json(
        {
            "prev_hash": prev_hash,
            "position": position,
            "stream_id": stream_id,
            "stream_version": stream_version,
            "type": type,
            "schema_version": schema_version,
            "data": data,
            "metadata": metadata,
            "recorded_at": format_timestamp(recorded_at),
        }
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()
