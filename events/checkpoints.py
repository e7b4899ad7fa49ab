"""Signed checkpoints of the log head: receipts for clients, lines of the witness file.

A checkpoint is ``{"position", "hash", "recorded_at", "signed_at", "key_id", "signature"}``;
``signature`` is Ed25519 over the canonical JSON of the other five fields. Kept outside the
database (by a client, an inspector, the witness file), it proves later that the log still
reaches ``position`` and holds exactly ``hash`` there, and so everything before it unchanged.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from events.encoding import canonical_json, format_timestamp
from events.model import RecordedEvent
from events.signing import Signer, signature_holds

FIELDS = ("position", "hash", "recorded_at", "signed_at", "key_id")


def signed_body(checkpoint: Mapping[str, Any]) -> bytes:
    """The bytes a checkpoint's signature covers: canonical JSON of its five other fields."""
    return canonical_json({name: checkpoint[name] for name in FIELDS}).encode("utf-8")


def make_checkpoint(signer: Signer, position: int, hash_: str, recorded_at: datetime,
                    signed_at: datetime) -> dict[str, Any]:
    """Sign a checkpoint of the event at ``position`` with ``hash_``."""
    body = {"position": position, "hash": hash_, "recorded_at": format_timestamp(recorded_at),
            "signed_at": format_timestamp(signed_at), "key_id": signer.key_id}
    return {**body, "signature": signer.sign(signed_body(body))}


def receipt_for(event: RecordedEvent, signer: Signer) -> dict[str, Any]:
    """The receipt of a write whose last event is ``event``: a pure function of the event and
    the key (signed_at is the event's recorded_at, Ed25519 is deterministic), so the replay of
    an idempotent request can return the very same bytes."""
    return make_checkpoint(signer, event.position, event.hash, event.recorded_at,
                           event.recorded_at)


def checkpoint_problem(checkpoint: Any, public_keys: Mapping[str, Any]) -> str | None:
    """Return what is wrong with a checkpoint's form or signature, or None when it holds."""
    if not isinstance(checkpoint, dict) or any(
            name not in checkpoint for name in (*FIELDS, "signature")):
        return "not a checkpoint (needs position, hash, recorded_at, signed_at, key_id, " \
               "signature)"
    if type(checkpoint["position"]) is not int or checkpoint["position"] < 1 \
            or not isinstance(checkpoint["hash"], str):
        return "not a checkpoint (position must be a positive integer, hash a string)"
    key = public_keys.get(checkpoint["key_id"]) if isinstance(checkpoint["key_id"], str) \
        else None
    if key is None:
        return f"checkpoint signed by an unknown key {checkpoint['key_id']!r}"
    try:
        body = signed_body(checkpoint)
    except (TypeError, ValueError, RecursionError):
        return "checkpoint fields cannot be encoded"
    if not signature_holds(key, checkpoint["signature"], body):
        return "checkpoint signature does not hold"
    return None


def read_checkpoints(path: str | Path) -> Iterator[tuple[str, Any]]:
    """Yield (where, parsed or None) for each checkpoint in a file: one JSON object, or JSON
    lines of them. ``where`` names the file and line for messages."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        whole = json.loads(text)
    except ValueError:
        whole = None
    if isinstance(whole, dict):
        yield f"{path}", _receipt_of(whole)
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"{path} line {number}", _receipt_of(json.loads(line))
        except ValueError:
            yield f"{path} line {number}", None


def _receipt_of(value: Any) -> Any:
    """A whole write response kept as it came holds its checkpoint under ``receipt``."""
    if isinstance(value, dict) and "signature" not in value and isinstance(
            value.get("receipt"), dict):
        return value["receipt"]
    return value


class WitnessFile:
    """Append checkpoints as JSON lines to a file outside the database, at most one per
    ``interval`` seconds while new events come, and on demand (signature, lock, export)."""

    def __init__(self, path: str | Path, signer: Signer, interval: float = 60.0) -> None:
        self.path, self.signer, self.interval = Path(path), signer, interval
        self._lock = threading.Lock()
        self._last_position = 0
        self._last_time: float | None = None  # none written yet by this process

    def append(self, position: int, hash_: str, recorded_at: datetime) -> dict[str, Any]:
        """Sign a checkpoint of this head now and append it to the file (fsynced)."""
        checkpoint = make_checkpoint(self.signer, position, hash_, recorded_at,
                                     datetime.now(UTC))
        line = canonical_json(checkpoint) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(line)
                out.flush()
                os.fsync(out.fileno())
            self._last_position = max(self._last_position, position)
            self._last_time = time.monotonic()
        return checkpoint

    def due(self, position: int) -> bool:
        """Tell whether the periodic checkpoint is due for a head at ``position``."""
        return position > self._last_position and (
            self._last_time is None or time.monotonic() - self._last_time >= self.interval)

