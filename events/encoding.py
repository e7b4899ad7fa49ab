"""The canonical encoding of an event and its SHA-256 link in the hash chain.

docs/hash-chain.md describes the same rules for an inspector's independent check.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from json.encoder import (  # type: ignore[attr-defined]
    c_make_encoder,
    encode_basestring,
    encode_basestring_ascii,
)
from typing import Any

GENESIS_HASH = "0" * 64


def json_encoder(*, sort_keys: bool = False, separators: tuple[str, str] = (", ", ": "),
                 ensure_ascii: bool = True, allow_nan: bool = True) -> Callable[[Any], str]:
    """``json.dumps`` with these settings, without building an encoder on every call.

    ``dumps`` with any non-default argument builds a ``JSONEncoder`` and its C encoder on
    each call, which costs more than encoding a small payload. This builds the C encoder
    once, as ``JSONEncoder.iterencode`` would (the standard library's ``c_make_encoder``),
    without the check for circular references: its shared memo would make concurrent
    encodings of one object fail, and JSON payloads cannot be circular (a circular value
    fails with RecursionError instead of ValueError). Tests compare it with ``json.dumps``.
    """
    item_separator, key_separator = separators
    settings = json.JSONEncoder(sort_keys=sort_keys, separators=separators,
                                ensure_ascii=ensure_ascii, allow_nan=allow_nan)
    if c_make_encoder is None:  # pragma: no cover - CPython has the C accelerator
        return settings.encode
    encode = c_make_encoder(None, settings.default,
                            encode_basestring_ascii if ensure_ascii else encode_basestring,
                            None, key_separator, item_separator, sort_keys, False, allow_nan)
    return lambda value: "".join(encode(value, 0))


_canonical = json_encoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)


def canonical_json(value: Any) -> str:
    """Encode JSON with sorted keys, no spaces and raw UTF-8, so equal values give equal text:
    ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    allow_nan=False)``."""
    return _canonical(value)


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
    return hash_encoded(prev_hash, position, canonical_json(stream_id), stream_version,
                        canonical_json(type), schema_version, canonical_json(data),
                        canonical_json(metadata), format_timestamp(recorded_at))


def hash_encoded(prev_hash: str, position: int, stream_id_json: str, stream_version: int,
                 type_json: str, schema_version: int, data_json: str, metadata_json: str,
                 recorded_at_text: str) -> str:
    """Hash from parts already in canonical JSON, so the store encodes each payload once.

    The body is ``canonical_json`` of the envelope with its keys in sorted order; canonical
    JSON of an object is the concatenation of its members' canonical JSON, so splicing the
    encoded parts gives the same bytes (tests/unit/test_encoding.py checks it).
    """
    if type(position) is not int or type(stream_version) is not int or type(
            schema_version) is not int or len(prev_hash) != 64:
        raise TypeError("position, versions must be int and prev_hash 64 hex digits")
    body = (f'{{"data":{data_json},"metadata":{metadata_json},"position":{position},'
            f'"prev_hash":"{prev_hash}","recorded_at":"{recorded_at_text}",'
            f'"schema_version":{schema_version},"stream_id":{stream_id_json},'
            f'"stream_version":{stream_version},"type":{type_json}}}')
    return hashlib.sha256(body.encode("utf-8")).hexdigest()
