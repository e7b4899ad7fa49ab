"""Reading stored JSON back (events.reading.loads, msgspec with the standard library behind it)
gives exactly what ``json.loads`` gives: the same values of the same types, so the fold, the
re-encoded hash body and an export cannot tell which decoder read the row."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.encoding import canonical_json
from events.reading import loads

stored_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(-2**200, 2**200)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=16)


def _typed(value):
    """The value with each leaf's type beside it: 1, 1.0 and True are equal in Python."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (type(value).__name__, repr(value))


@given(value=stored_values)
def test_a_stored_text_reads_back_as_json_loads_reads_it(value):
    text = canonical_json(value)  # what the store writes
    assert _typed(loads(text)) == _typed(json.loads(text))
    assert canonical_json(loads(text)) == text


@pytest.mark.parametrize("text", [
    '{"a":1e400}',              # beyond a float: the standard library reads infinity
    '{"a":NaN,"b":-Infinity}',  # not JSON, but json.loads reads it
    '{"a":"\\ud800"}',          # an escaped lone surrogate
    '{"a":1,"a":2}',            # a repeated key: the last one wins
    ' {"a": [1, 2.50, -0.0, 1E2]} ',
    '{"a":"\\u00e9\\n\\t\\"\\\\"}',
])
def test_texts_the_fast_decoder_refuses_or_may_read_otherwise_read_as_json_loads(text):
    """A row written by hand in the database may hold any of these; the store must read it as
    the standard library would (and as docs/hash-chain.md's inspector script does)."""
    assert _typed(loads(text)) == _typed(json.loads(text))


@pytest.mark.parametrize("text", ["", "{", '{"a":1} x', "[1,]", '{"a":tru}'])
def test_what_is_not_json_is_refused_as_json_loads_refuses_it(text):
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        loads(text)
