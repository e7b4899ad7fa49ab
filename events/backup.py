"""Backup and restore of the whole log as JSON lines, hashes and signatures included.

Export writes the stored rows as they are (``signature`` and ``key_id`` too). Import refuses a
non-empty database and any file whose chain, stream versions, time order or (given public
keys) signatures do not verify, naming the line, and writes everything in one transaction: a
refused file leaves the target empty.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import IO, Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.engine import Engine

from events.batch_write import APPEND_LOCK
from events.coverage import Coverage
from events.encoding import GENESIS_HASH, canonical_json, event_hash, format_timestamp
from events.engine import WRITE
from events.errors import EventStoreError
from events.model import utc as _utc
from events.rotation import ROTATION_TYPE, trusted_closure
from events.signing import signature_holds
from events.tables import events as T

FIELDS = ("position", "stream_id", "stream_version", "type", "schema_version", "data",
          "metadata", "recorded_at", "hash", "idempotency_key")
SIGNATURE_FIELDS = ("signature", "key_id")  # absent from backups made before migration 0003


class ImportRefused(EventStoreError):
    """The file cannot be imported; nothing was written."""


def export_events(engine: Engine, out: IO[str], *, batch: int = 5000,
                  progress: Callable[[int], None] | None = None) -> int:
    """Write every event as one JSON object per line, in position order; return the count."""
    written, after = 0, 0
    with engine.connect() as conn:
        while rows := conn.execute(sa.select(T).where(T.c.position > after)
                                   .order_by(T.c.position).limit(batch)).all():
            for row in rows:
                record = dict(row._mapping)
                record["data"] = json.loads(record["data"])
                record["metadata"] = json.loads(record["metadata"])
                record["recorded_at"] = format_timestamp(_utc(record["recorded_at"]))
                out.write(canonical_json(record) + "\n")
            written, after = written + len(rows), rows[-1].position
            if progress:
                progress(len(rows))
    return written


def backup_keys(lines: Iterable[str], public_keys: Mapping[str, Ed25519PublicKey]
                ) -> dict[str, Ed25519PublicKey]:
    """The trusted keys extended along the key rotations recorded in a backup file."""
    rotations = []
    for line in lines:
        if ROTATION_TYPE not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("type") == ROTATION_TYPE:
            rotations.append((record.get("data"), record.get("hash"), record.get("signature"),
                              record.get("key_id")))
    return trusted_closure(public_keys, rotations)


def import_events(engine: Engine, lines: Iterable[str], *, batch: int = 2000,
                  progress: Callable[[int], None] | None = None,
                  public_keys: Mapping[str, Ed25519PublicKey] | None = None) -> int:
    """Load an exported file into an empty database, verifying every link (and, given public
    keys, every signature); return the count."""
    with engine.connect().execution_options(**WRITE) as conn, conn.begin():
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(APPEND_LOCK)
        if conn.execute(sa.select(sa.func.count()).select_from(T)).scalar_one():
            raise ImportRefused("the target database already holds events: import needs "
                                "an empty one")
        imported, pending = 0, []
        for row in _verified(lines, public_keys):
            pending.append(row)
            if len(pending) == batch:
                conn.execute(T.insert(), pending)
                imported += len(pending)
                if progress:
                    progress(len(pending))
                pending = []
        if pending:
            conn.execute(T.insert(), pending)
            imported += len(pending)
            if progress:
                progress(len(pending))
    return imported


def _verified(lines: Iterable[str], public_keys: Mapping[str, Ed25519PublicKey] | None
              ) -> Iterator[dict[str, Any]]:
    prev_hash, expected, versions, last_time = GENESIS_HASH, 1, {}, None
    coverage, lines_of = Coverage(), {}  # unsigned positions -> their line, until covered
    retired: set[str] = set()  # keys rotated away from: they sign nothing later
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_constant=_refuse_constant)
            row = {name: record[name] for name in FIELDS}
            row.update({name: record.get(name) for name in SIGNATURE_FIELDS})
            recorded_at = _parse_time(row["recorded_at"])
            if type(row["position"]) is not int or type(row["stream_version"]) is not int:
                raise TypeError("position and stream_version must be whole numbers")
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ImportRefused(f"line {number} is not an exported event ({error})") from None
        if row["position"] != expected:
            raise ImportRefused(f"line {number}: position {row['position']} where {expected} "
                                "was expected (missing or reordered event)")
        if row["stream_version"] != versions.get(row["stream_id"], 0) + 1:
            raise ImportRefused(f"line {number}: stream {row['stream_id']!r} jumps to version "
                                f"{row['stream_version']}")
        # an append left unsigned is reported before what is wrong with the next one, as
        # ecrf verify and the inspector's script report it
        if public_keys is not None and (uncovered := coverage.next_event(recorded_at)) \
                is not None:
            raise _not_covered(lines_of[uncovered], uncovered)
        if last_time is not None and recorded_at < last_time:
            raise ImportRefused(f"line {number}: recorded_at of position {row['position']} is "
                                "earlier than the event before it")
        try:
            recomputed = event_hash(prev_hash, position=row["position"],
                                stream_id=row["stream_id"],
                                stream_version=row["stream_version"], type=row["type"],
                                schema_version=row["schema_version"], data=row["data"],
                                metadata=row["metadata"], recorded_at=recorded_at)
        except (TypeError, ValueError) as error:
            raise ImportRefused(f"line {number} is not an exported event ({error})") from None
        if recomputed != row["hash"]:
            raise ImportRefused(f"line {number}: the hash of position {row['position']} does "
                                "not match its content and its predecessor")
        if public_keys is not None:
            if row["signature"] is None and row["key_id"] is None:
                coverage.unsigned(row["position"], recorded_at)  # a later event must cover it
                lines_of[row["position"]] = number
            else:
                key = public_keys.get(row["key_id"]) if isinstance(row["key_id"], str) \
                    else None
                if key is None or not signature_holds(key, row["signature"],
                                                      row["hash"].encode("ascii")):
                    raise ImportRefused(
                        f"line {number}: the signature of position {row['position']} does "
                        "not hold for a trusted key" + ("" if row["signature"] else
                                                        " (not signed)"))
                if row["key_id"] in retired:
                    raise ImportRefused(
                        f"line {number}: position {row['position']} is signed by the key "
                        f"{row['key_id']}, retired by an earlier rotation")
                if row["type"] == ROTATION_TYPE and isinstance(row["data"], dict) \
                        and isinstance(row["data"].get("old_key_id"), str):
                    retired.add(row["data"]["old_key_id"])  # it signs nothing after this
                coverage.signed()
                lines_of.clear()
        versions[row["stream_id"]] = row["stream_version"]
        prev_hash, expected, last_time = row["hash"], expected + 1, recorded_at
        yield {**row, "data": canonical_json(row["data"]),
               "metadata": canonical_json(row["metadata"]), "recorded_at": recorded_at}
    if public_keys is not None and (uncovered := coverage.end()) is not None:
        raise _not_covered(lines_of[uncovered], uncovered)  # the file ends inside an append


def _not_covered(number: int, position: int) -> ImportRefused:
    return ImportRefused(f"line {number}: position {position} is not signed, nor is any later "
                         "event of its append")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_time(text: str) -> datetime:
    return _utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
