"""A key rotated by another process (`ecrf keys rotate` while a server runs): the server still
holding the old key refuses to sign on, so the log never holds an event that cannot verify."""

from __future__ import annotations

import pytest

from events import EventStore, NewEvent, verify_chain
from events.rotation import rotate
from events.signing import Signer, SigningKeyError


def test_a_server_with_a_retired_key_refuses_to_append_and_the_log_still_verifies(
        engine, signer):
    server = EventStore(engine, signer=signer)  # the running server, old key
    server.append("ITP-001", [NewEvent("Recorded", {"n": 1})], expected_version=0)
    rotator = EventStore(engine, signer=signer)  # another process rotates the key
    new = Signer.generate()
    rotate(rotator, new)
    before = server.count()
    with pytest.raises(SigningKeyError, match="expects key"):
        server.append("ITP-001", [NewEvent("Recorded", {"n": 2})], expected_version=None)
    assert server.count() == before
    rotator.append("ITP-001", [NewEvent("Recorded", {"n": 3})], expected_version=None)
    keys = {signer.key_id: signer.public_key, new.key_id: new.public_key}
    assert verify_chain(engine, public_keys=keys).ok


def test_a_key_that_never_signed_the_log_is_refused_too(engine, signer):
    EventStore(engine, signer=signer).append("A", [NewEvent("X", {})], expected_version=0)
    stranger = EventStore(engine, signer=Signer.generate())
    with pytest.raises(SigningKeyError):
        stranger.append("A", [NewEvent("X", {})], expected_version=None)
