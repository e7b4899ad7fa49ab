"""Re-check the whole log: gapless positions, contiguous stream versions, and every hash link."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from events.encoding import GENESIS_HASH, event_hash
from events.store import _utc
from events.tables import events as T


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of a chain check; ``first_broken_position`` is None when the chain holds."""

    ok: bool
    checked: int
    head_position: int
    head_hash: str
    first_broken_position: int | None = None
    problem: str | None = None

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "events_checked": self.checked,
            "head_position": self.head_position,
            "head_hash": self.head_hash,
            "first_broken_position": self.first_broken_position,
            "problem": self.problem,
        }


def verify_chain(engine: Engine, *, batch: int = 5000,
                 progress: Callable[[int], None] | None = None) -> ChainReport:
    """Walk the stored rows in position order and recompute each hash from its predecessor.

    Works on the raw stored columns (no upcasting), exactly as an inspector's script would.
    """
    prev_hash, expected_position, checked = GENESIS_HASH, 1, 0
    versions: dict[str, int] = {}
    after = 0
    with engine.connect() as conn:
        while True:
            rows = conn.execute(
                sa.select(T).where(T.c.position > after).order_by(T.c.position).limit(batch)
            ).all()
            for row in rows:
                problem = _check_row(row, prev_hash, expected_position, versions)
                if problem:
                    return ChainReport(False, checked, row.position - 1, prev_hash,
                                       row.position, problem)
                prev_hash, expected_position = row.hash, row.position + 1
                versions[row.stream_id] = row.stream_version
                checked += 1
            if progress:
                progress(len(rows))
            if len(rows) < batch:
                break
            after = rows[-1].position
    return ChainReport(True, checked, expected_position - 1, prev_hash)


def _check_row(row: sa.Row, prev_hash: str, expected_position: int,
               versions: dict[str, int]) -> str | None:
    if row.position != expected_position:
        return f"position {expected_position} is missing (next stored is {row.position})"
    if row.stream_version != versions.get(row.stream_id, 0) + 1:
        return f"stream {row.stream_id!r} jumps to version {row.stream_version}"
    try:
        data, metadata = json.loads(row.data), json.loads(row.metadata)
    except ValueError:
        return "stored payload is not valid JSON"
    recomputed = event_hash(
        prev_hash,
        position=row.position,
        stream_id=row.stream_id,
        stream_version=row.stream_version,
        type=row.type,
        schema_version=row.schema_version,
        data=data,
        metadata=metadata,
        recorded_at=_utc(row.recorded_at),
    )
    if recomputed != row.hash:
        return "hash does not match the event's content and its predecessor's hash"
    return None
