"""The server's Ed25519 signing key: kept in a file outside the database, never inside it.

The ``hash`` of the last event of each append is signed (the ASCII bytes of the hex digest);
through the chain that signature covers the append's other events (events.coverage), so
someone who can write to the database but does not hold this key cannot add or rewrite an
event that verifies.
A ``key_id`` names a key: the first 16 hex digits of SHA-256 over its raw 32-byte public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PRIVATE_KEY_NAME = "signing_key.pem"
PUBLIC_KEY_NAME = "signing_key.pub.pem"


class SigningKeyError(Exception):
    """The signing key cannot be read, or it is not the key this log expects."""


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """Name a public key: the first 16 hex digits of SHA-256 over its 32 raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public_key: Ed25519PublicKey) -> str:
    """Return the public key as PEM text (SubjectPublicKeyInfo)."""
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    """Parse a PEM public key; refuse anything that is not Ed25519."""
    try:
        key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    except ValueError as error:
        raise SigningKeyError(f"not a PEM public key ({error})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError("the public key is not an Ed25519 key")
    return key


def signature_holds(public_key: Ed25519PublicKey, signature: object, message: bytes) -> bool:
    """Tell whether ``signature`` (base64 text) is this key's signature of ``message``."""
    if not isinstance(signature, str):
        return False
    try:
        public_key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Signer:
    """A private key with its key_id; signs bytes into base64 text (deterministic: Ed25519)."""

    private_key: Ed25519PrivateKey

    @cached_property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @cached_property
    def key_id(self) -> str:  # cached: read on every append
        return key_id_of(self.public_key)

    @cached_property
    def public_pem(self) -> str:
        return public_pem(self.public_key)

    def sign(self, message: bytes) -> str:
        """Return the base64 Ed25519 signature of ``message``."""
        return base64.b64encode(self.private_key.sign(message)).decode("ascii")

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_file(cls, path: str | Path) -> Signer:
        """Load a PEM private key (unencrypted PKCS#8), refusing anything but Ed25519."""
        try:
            data = Path(path).read_bytes()
            key = serialization.load_pem_private_key(data, password=None)
        except OSError as error:
            raise SigningKeyError(f"cannot read the signing key {path}: "
                                  f"{error.strerror or error}") from None
        except (ValueError, TypeError) as error:
            raise SigningKeyError(f"{path} is not a PEM private key ({error})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{path} is not an Ed25519 private key")
        return cls(key)


def write_key_pair(signer: Signer, private_path: str | Path,
                   public_path: str | Path | None = None) -> tuple[Path, Path]:
    """Write the private key (mode 0600, created exclusively) and its public key beside it."""
    private_path = Path(private_path)
    public_path = Path(public_path) if public_path else private_path.with_name(
        private_path.name.removesuffix(".pem") + ".pub.pem")
    private_path.parent.mkdir(parents=True, exist_ok=True)
    pem = signer.private_key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    os.chmod(private_path, 0o600)
    public_path.write_text(signer.public_pem)
    return private_path, public_path


def create_key_pair(directory: str | Path) -> tuple[Signer, Path, Path]:
    """Generate a new key and write it as signing_key.pem / signing_key.pub.pem in ``directory``."""
    signer = Signer.generate()
    private, public = write_key_pair(signer, Path(directory) / PRIVATE_KEY_NAME,
                                     Path(directory) / PUBLIC_KEY_NAME)
    return signer, private, public
