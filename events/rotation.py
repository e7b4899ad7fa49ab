"""Key rotation: a ``SigningKeyRotated`` event, signed by the old key, names the new one.

The event also carries the old public key and the new key's *endorsement* of it (a signature
by the new key over both key_ids and both public keys), so a verifier that trusts either key
comes to trust the other: the old key vouches for the new one through the row's signature, the
new key vouches for the old one through the endorsement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from events.encoding import canonical_json
from events.model import NewEvent, RecordedEvent
from events.signing import (
    Signer,
    SigningKeyError,
    key_id_of,
    load_public_key,
    signature_holds,
)

ROTATION_TYPE = "SigningKeyRotated"
KEYS_STREAM = "signing-keys"
_ENDORSED = ("old_key_id", "old_public_key", "new_key_id", "new_public_key")


def rotation_event(old: Signer, new: Signer) -> NewEvent:
    """The event that hands signing over from ``old`` to ``new``."""
    data: dict[str, Any] = {"old_key_id": old.key_id, "old_public_key": old.public_pem,
                            "new_key_id": new.key_id, "new_public_key": new.public_pem}
    data["endorsement"] = new.sign(canonical_json(data).encode("utf-8"))
    return NewEvent(ROTATION_TYPE, data)


def rotate(store: Any, new: Signer) -> RecordedEvent:
    """Append the rotation (signed by the store's current key), then sign with ``new``."""
    old = store.signer
    if old is None:
        raise SigningKeyError("the store has no signing key to rotate from")
    if old.key_id == new.key_id:
        raise SigningKeyError("the new key is the current key")
    recorded = store.append(KEYS_STREAM, [rotation_event(old, new)], expected_version=None)
    store.signer = new
    return recorded[-1]


def trusted_closure(trusted: Mapping[str, Ed25519PublicKey],
                    rotations: Iterable[tuple[Any, Any, Any]]) -> dict[str, Ed25519PublicKey]:
    """Extend the trusted keys along rotations: ``rotations`` are (data, hash, signature,
    key_id) of the stored rotation rows. Malformed rows add nothing."""
    keys = dict(trusted)
    rows = list(rotations)
    changed = True
    while changed:
        changed = False
        for data, hash_, signature, key_id in rows:
            for name, key in _vouched(keys, data, hash_, signature, key_id):
                if name not in keys:
                    keys[name], changed = key, True
    return keys


def _vouched(keys: Mapping[str, Ed25519PublicKey], data: Any, hash_: Any, signature: Any,
             key_id: Any) -> list[tuple[str, Ed25519PublicKey]]:
    if not isinstance(data, dict) or not all(isinstance(data.get(n), str) for n in _ENDORSED):
        return []
    out = []
    try:
        new_key, old_key = load_public_key(data["new_public_key"]), \
            load_public_key(data["old_public_key"])
    except SigningKeyError:
        return []
    if key_id_of(new_key) != data["new_key_id"] or key_id_of(old_key) != data["old_key_id"]:
        return []
    old_id, new_id = data["old_key_id"], data["new_key_id"]
    if old_id in keys and key_id == old_id and isinstance(hash_, str) and \
            signature_holds(keys[old_id], signature, hash_.encode("ascii", "replace")):
        out.append((new_id, new_key))
    endorsed = canonical_json({n: data[n] for n in _ENDORSED}).encode("utf-8")
    if new_id in keys and signature_holds(keys[new_id], data.get("endorsement"), endorsed):
        out.append((old_id, old_key))
    return out
