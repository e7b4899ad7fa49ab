"""Idempotency-Key bound to its request (IETF draft "The Idempotency-Key HTTP Header Field").

The key is stored with a fingerprint of the request it came with: the method, the path and
the canonical JSON of the body. A retry of the same request gets the first response again
(same status, same body, ``Idempotent-Replayed: true``); the same key on a different request
is refused by the commands (422 ``idempotency_key_reused``) and appends nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from flask import request

from ecrf.api.context import idempotency_key
from ecrf.commands.outcome import Outcome
from events.encoding import canonical_json

REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class Idempotency:
    """The client's key and the fingerprint of the request it was sent with."""

    key: str | None
    fingerprint: str | None


def request_fingerprint() -> str:
    """SHA-256 of the canonical JSON of [method, path, body]: equal requests, equal prints."""
    body = request.get_json(silent=True)
    try:
        text = canonical_json([request.method, request.path, body])
    except ValueError:  # NaN or Infinity in the body: still a stable text
        text = json.dumps([request.method, request.path, body], sort_keys=True,
                          separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def idempotency() -> Idempotency:
    """Read the Idempotency-Key header and fingerprint the request when one is given."""
    key = idempotency_key()
    return Idempotency(key, request_fingerprint() if key is not None else None)


def written(outcome: Outcome, body: Any = None) -> tuple[Any, int, dict[str, str]]:
    """The response of a write: 201 both times, marked when it replays the first one."""
    headers = {REPLAYED_HEADER: "true"} if outcome.replayed else {}
    return (outcome if body is None else body), 201, headers
