"""Re-check the whole log as an inspector would, on the raw stored columns (no upcasting).

Checks, in position order: positions gapless from 1; stream versions gapless from 1 in each
stream; ``recorded_at`` never decreasing; every hash; every event signature (against the
public key of its key_id, following key rotations), and that every event is signed or
covered by the signature of a later event of its append (events.coverage); every
``CasebookSigned``'s ``covers_hash`` equal to the hash of the event it covers; then each
checkpoint given (receipts, the witness file): its signature, that the log reaches its
position, and the hash there.
A malformed value in a tampered row is reported at its position, never raised.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.engine import Engine

from events.checkpoints import checkpoint_problem
from events.coverage import NOT_COVERED, Coverage
from events.encoding import GENESIS_HASH, canonical_json, format_timestamp, hash_encoded
from events.rotation import ROTATION_TYPE, trusted_closure
from events.signing import signature_holds
from events.tables import events as T

SIGNATURE_EVENT = "CasebookSigned"


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of a check; ``first_broken_position`` is None when everything holds."""

    ok: bool
    checked: int
    head_position: int
    head_hash: str
    first_broken_position: int | None = None
    problem: str | None = None
    signatures_checked: bool = False
    key_ids: tuple[str, ...] = ()
    checkpoints_checked: int = 0
    checks: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "events_checked": self.checked,
            "head_position": self.head_position,
            "head_hash": self.head_hash,
            "first_broken_position": self.first_broken_position,
            "problem": self.problem,
            "signatures_checked": self.signatures_checked,
            "trusted_key_ids": list(self.key_ids),
            "checkpoints_checked": self.checkpoints_checked,
            "checks": list(self.checks),
        }


class _Broken(Exception):
    def __init__(self, position: int, problem: str) -> None:
        super().__init__(problem)
        self.position, self.problem = position, problem


def _columns(engine: Engine) -> list[Any]:
    """The raw columns; on SQLite recorded_at is read as its stored text (a garbled value
    must be a failure at its row, not an exception while fetching the batch)."""
    recorded_at = sa.type_coerce(T.c.recorded_at, sa.String).label("recorded_at") \
        if engine.dialect.name == "sqlite" else T.c.recorded_at
    return [T.c.position, T.c.stream_id, T.c.stream_version, T.c.type, T.c.schema_version,
            T.c.data, T.c["metadata"], recorded_at, T.c.hash, T.c.signature, T.c.key_id]


def verify_chain(engine: Engine, *, batch: int = 5000,
                 progress: Callable[[int], None] | None = None,
                 public_keys: Mapping[str, Ed25519PublicKey] | None = None,
                 checkpoints: Iterable[tuple[str, Any]] = ()) -> ChainReport:
    """Walk the stored rows and check everything listed in the module docstring.

    ``public_keys`` (key_id -> key) are the keys the caller trusts; None skips the signature
    checks (the report says so). ``checkpoints`` are (where, checkpoint) pairs.
    """
    columns = _columns(engine)
    checks = ["positions", "stream versions", "recorded_at order", "hashes",
              "casebook signatures' covers_hash"]
    with engine.connect() as conn:
        keys = None
        if public_keys is not None:
            rotations = conn.execute(sa.select(T.c.data, T.c.hash, T.c.signature, T.c.key_id)
                                     .where(T.c.type == ROTATION_TYPE)
                                     .order_by(T.c.position)).all()
            keys = trusted_closure(public_keys, ((_json(r[0]), r[1], r[2], r[3])
                                                 for r in rotations))
            checks.insert(4, "event signatures")
        walk = _Walk(keys)
        checked_points = 0
        for where, checkpoint in checkpoints:  # signatures now; hashes during the walk
            checked_points += 1
            _record(walk, _check_checkpoint(walk, keys, where, checkpoint))
        after: int | None = None  # the first page has no lower bound: a row stored at
        try:                      # position 0 or below is walked (and refused), not skipped
            while True:
                select = sa.select(*columns)
                if after is not None:
                    select = select.where(T.c.position > after)
                rows = conn.execute(select.order_by(T.c.position).limit(batch)).all()
                for row in rows:
                    try:
                        walk.check(row)
                    except _Broken:
                        raise
                    except Exception as error:  # whatever a tampered row holds: a failure
                        raise _Broken(walk.expected, "the stored row cannot be checked "
                                      f"({type(error).__name__}: {error})") from None
                if progress:
                    progress(len(rows))
                if len(rows) < batch:
                    break
                after = rows[-1][0]
        except _Broken as broken:
            _record(walk, broken)
        else:
            _record(walk, walk.beyond_the_end())
            _record(walk, walk.unsigned_tail())
        _record(walk, _check_covers(conn, walk))
    if checked_points:
        checks.append("checkpoints")
    common = {"signatures_checked": keys is not None,
              "key_ids": tuple(sorted(keys or ())), "checkpoints_checked": checked_points,
              "checks": tuple(checks)}
    if walk.broken is not None:
        return ChainReport(False, walk.checked, walk.expected - 1, walk.prev_hash,
                           walk.broken.position, walk.broken.problem, **common)
    return ChainReport(True, walk.checked, walk.expected - 1, walk.prev_hash, **common)


def _record(walk: _Walk, broken: _Broken | None) -> None:
    """Keep the failure at the lowest position as the one to report."""
    if broken is not None and (walk.broken is None or broken.position < walk.broken.position):
        walk.broken = broken


class _Walk:
    """The state of the walk along positions: what the next row must be."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey] | None) -> None:
        self.keys = keys
        self.prev_hash, self.expected, self.checked = GENESIS_HASH, 1, 0
        self.versions: dict[str, int] = {}
        self.last_recorded: datetime | None = None
        self.signatures: list[tuple[int, str, Any]] = []
        self.broken: _Broken | None = None
        #: position -> [(where, hash)] of the checkpoints whose signatures hold
        self.wanted: dict[int, list[tuple[str, str]]] = {}
        self.retired: set[str] = set()  # keys rotated away from: they sign nothing later
        self.coverage = Coverage()  # unsigned events wait for their append's signature

    def unsigned_tail(self) -> _Broken | None:
        """The log ends inside an append whose last event is not signed."""
        uncovered = self.coverage.end() if self.keys is not None else None
        return _Broken(uncovered, NOT_COVERED) if uncovered is not None else None

    def beyond_the_end(self) -> _Broken | None:
        """A checkpoint past the last stored event: the log was cut short."""
        head = self.expected - 1
        past = [p for p in self.wanted if p > head]
        if not past:
            return None
        where = self.wanted[min(past)][0][0]
        return _Broken(min(past), f"the log ends at position {head}, before the checkpoint "
                                  f"in {where}: events were removed")

    def check(self, row: sa.Row) -> None:
        (position, stream_id, version, type_, schema_version, data, metadata, recorded_at,
         hash_, signature, key_id) = row
        expected = self.expected
        if type(position) is not int:
            raise _Broken(expected, f"position is not a whole number ({position!r})")
        if position < expected:  # positions start at 1 and never repeat
            raise _Broken(expected, f"an extra row is stored at position {position}, before "
                                    f"position {expected}")
        if position != expected:
            raise _Broken(expected, f"missing (the next stored position is {position})")
        problem = _shape_problem(stream_id, version, type_, schema_version, hash_)
        if problem:
            raise _Broken(position, problem)
        if version != self.versions.get(stream_id, 0) + 1:
            raise _Broken(position, f"stream {stream_id!r} jumps from version "
                                    f"{self.versions.get(stream_id, 0)} to {version}")
        moment = _moment(recorded_at)
        if moment is None:
            raise _Broken(position, f"recorded_at is not a date-time ({recorded_at!r})")
        if self.keys is not None and (uncovered := self.coverage.next_event(moment)) \
                is not None:
            raise _Broken(uncovered, NOT_COVERED)
        if self.last_recorded is not None and moment < self.last_recorded:
            raise _Broken(position, "recorded_at runs backwards (earlier than position "
                                    f"{position - 1})")
        parsed_data, parsed_meta = _json(data), _json(metadata)
        if parsed_data is None or parsed_meta is None:
            raise _Broken(position, "stored data or metadata is not valid JSON")
        try:
            recomputed = _hash(self.prev_hash, position, stream_id, version, type_,
                               schema_version, parsed_data, parsed_meta, moment)
        except (TypeError, ValueError) as error:
            raise _Broken(position, f"the event cannot be encoded ({error})") from None
        if recomputed != hash_:
            raise _Broken(position, "hash does not match the event's content and its "
                                    "predecessor's hash")
        if self.keys is not None:
            if signature is None and key_id is None:
                self.coverage.unsigned(position, moment)  # a later event must cover it
            elif signature is None or key_id is None:
                raise _Broken(position, "the event is not signed (its signature or its "
                                        "key_id is missing)")
            else:
                self._check_signature(position, hash_, signature, key_id)
                self.coverage.signed()
        for where, expected_hash in self.wanted.get(position, ()):
            if expected_hash != hash_:
                raise _Broken(position, f"the stored hash differs from the checkpoint in "
                                        f"{where}")
        if type_ == SIGNATURE_EVENT:
            self.signatures.append((position, stream_id, parsed_data))
        if type_ == ROTATION_TYPE and isinstance(parsed_data, dict) and \
                isinstance(parsed_data.get("old_key_id"), str):
            self.retired.add(parsed_data["old_key_id"])
        self.versions[stream_id] = version
        self.prev_hash, self.expected, self.last_recorded = hash_, position + 1, moment
        self.checked += 1

    def _check_signature(self, position: int, hash_: str, signature: Any, key_id: Any) -> None:
        key = self.keys.get(key_id) if isinstance(key_id, str) else None
        if key is None:
            raise _Broken(position, f"signed by an unknown key {key_id!r}")
        if key_id in self.retired:
            raise _Broken(position, f"signed by the key {key_id}, retired by an earlier "
                                    "rotation")
        if not signature_holds(key, signature, hash_.encode("ascii", "replace")):
            raise _Broken(position, f"the signature does not hold for key {key_id}")


def _check_covers(conn: sa.Connection, walk: _Walk) -> _Broken | None:
    """Each casebook signature's covers_hash must be the hash of the event it covers."""
    wanted: dict[int, tuple[int, str, Any]] = {}
    for position, stream_id, data in walk.signatures:
        covers = data.get("covers_position") if isinstance(data, dict) else None
        if type(covers) is not int or not 1 <= covers < position:
            return _Broken(position, "the signature's covers_position is not an earlier "
                                     "position")
        wanted[position] = (covers, stream_id, data.get("covers_hash"))
    targets = sorted({covers for covers, _, _ in wanted.values()})
    found: dict[int, tuple[str, str]] = {}
    for start in range(0, len(targets), 500):
        chunk = targets[start:start + 500]
        found.update({r[0]: (r[1], r[2]) for r in conn.execute(
            sa.select(T.c.position, T.c.stream_id, T.c.hash).where(T.c.position.in_(chunk)))})
    for position, (covers, stream_id, covers_hash) in sorted(wanted.items()):
        if found.get(covers) != (stream_id, covers_hash):
            return _Broken(position, f"covers_hash does not match the hash of position "
                                     f"{covers} in this casebook")
    return None


def _check_checkpoint(walk: _Walk, keys: Mapping[str, Ed25519PublicKey] | None, where: str,
                      checkpoint: Any) -> _Broken | None:
    """Check a checkpoint's form and signature, and note its hash for the walk to compare."""
    position = checkpoint.get("position") if isinstance(checkpoint, dict) else None
    at = position if type(position) is int and position > 0 else 0
    if keys is None:
        return _Broken(at, f"{where}: no public key to check the checkpoint with")
    problem = checkpoint_problem(checkpoint, keys)
    if problem:
        return _Broken(at, f"{where}: {problem}")
    walk.wanted.setdefault(position, []).append((where, checkpoint["hash"]))
    return None


def _shape_problem(stream_id: Any, version: Any, type_: Any, schema_version: Any,
                   hash_: Any) -> str | None:
    if not isinstance(stream_id, str) or not isinstance(type_, str):
        return "stream_id or type is not text"
    if type(version) is not int or type(schema_version) is not int:
        return "stream_version or schema_version is not a whole number"
    if not isinstance(hash_, str) or len(hash_) != 64:
        return "hash is not 64 hex digits"
    return None


def _moment(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json(text: Any) -> Any:
    """Parse stored JSON strictly (NaN and Infinity are refused); None when it is not JSON."""
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except ValueError:
        return None


def _hash(prev_hash: str, position: int, stream_id: str, version: int, type_: str,
          schema_version: int, data: Any, metadata: Any, moment: datetime) -> str:
    return hash_encoded(prev_hash, position, canonical_json(stream_id), version,
                        canonical_json(type_), schema_version, canonical_json(data),
                        canonical_json(metadata), format_timestamp(moment))
