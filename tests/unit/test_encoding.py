"""The spliced hash body equals canonical JSON of the whole envelope, for awkward payloads."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from events.encoding import canonical_json, event_hash, format_timestamp, json_encoder

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(), lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


@given(data=st.dictionaries(st.text(max_size=10), json_values, max_size=6),
       metadata=st.dictionaries(st.text(max_size=10), st.text(), max_size=4),
       stream_id=st.text(min_size=1, max_size=20), event_type=st.text(min_size=1, max_size=30),
       position=st.integers(1, 10**12), version=st.integers(1, 10**6))
def test_spliced_body_hash_equals_the_hash_of_the_canonical_envelope(
        data, metadata, stream_id, event_type, position, version):
    moment = datetime(2026, 1, 5, 9, 30, 0, 123456, tzinfo=UTC)
    prev = "ab" * 32
    envelope = canonical_json({
        "prev_hash": prev, "position": position, "stream_id": stream_id,
        "stream_version": version, "type": event_type, "schema_version": 1, "data": data,
        "metadata": metadata, "recorded_at": format_timestamp(moment)})
    expected = hashlib.sha256(envelope.encode("utf-8")).hexdigest()
    assert event_hash(prev, position=position, stream_id=stream_id, stream_version=version,
                      type=event_type, schema_version=1, data=data, metadata=metadata,
                      recorded_at=moment) == expected



any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=4), max_leaves=12)


def _outcome(encode, value):
    try:
        return encode(value)
    except (ValueError, TypeError) as error:
        return type(error)


@given(value=any_json)
def test_canonical_json_is_json_dumps_with_its_settings(value):
    """The prebuilt encoder writes what json.dumps writes, and refuses what it refuses (NaN,
    keys that cannot be sorted together)."""
    assert _outcome(canonical_json, value) == _outcome(lambda v: json.dumps(
        v, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False), value)


@given(value=any_json)
def test_json_encoder_is_json_dumps_for_the_default_separators(value):
    encode = json_encoder(ensure_ascii=False)
    assert _outcome(encode, value) == _outcome(lambda v: json.dumps(v, ensure_ascii=False),
                                               value)
    assert _outcome(json_encoder(), value) == _outcome(json.dumps, value)
