"""The signing key files, and migration 0003 on a log recorded before it (issue #10)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ecrf.schema import upgrade
from events import verify_chain
from events.coverage import NOT_COVERED
from events.encoding import GENESIS_HASH, canonical_json, event_hash
from events.signing import Signer, SigningKeyError, key_id_of, load_public_key, write_key_pair


def test_a_key_file_that_is_not_an_ed25519_pem_key_is_refused_clearly(tmp_path):
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(SigningKeyError, match="not a PEM private key"):
        Signer.from_file(tmp_path / "junk.pem")
    other = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "ec.pem").write_bytes(other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    with pytest.raises(SigningKeyError, match="not an Ed25519"):
        Signer.from_file(tmp_path / "ec.pem")
    with pytest.raises(SigningKeyError, match="cannot read"):
        Signer.from_file(tmp_path / "missing.pem")
    with pytest.raises(SigningKeyError, match="not an Ed25519"):
        load_public_key(other.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def test_key_id_is_the_start_of_sha256_over_the_raw_public_key(tmp_path):
    import hashlib

    signer = Signer.generate()
    raw = signer.public_key.public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw)
    assert signer.key_id == hashlib.sha256(raw).hexdigest()[:16] == key_id_of(signer.public_key)
    private, public = write_key_pair(signer, tmp_path / "k.pem")
    assert Signer.from_file(private).key_id == signer.key_id
    assert key_id_of(load_public_key(public.read_text())) == signer.key_id
    with pytest.raises(FileExistsError):
        write_key_pair(Signer.generate(), private)  # never overwrites a key


def test_migration_0003_adds_columns_beside_old_rows_without_changing_them(db_kind,
                                                                          signer, tmp_path):
    # a database at 0002 with two events, then upgraded
    from tests.conftest import fresh_database

    with fresh_database(db_kind, tmp_path) as (url, connect_args):
        from events import make_engine

        old = make_engine(url, connect_args=connect_args)
        upgrade(old, "0002")
        moment = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
        prev, rows = GENESIS_HASH, []
        for position in (1, 2):
            prev = event_hash(prev, position=position, stream_id="S", stream_version=position,
                              type="X", schema_version=1, data={"n": position}, metadata={},
                              recorded_at=moment)
            rows.append({"position": position, "stream_id": "S", "stream_version": position,
                         "type": "X", "schema_version": 1,
                         "data": canonical_json({"n": position}), "metadata": "{}",
                         "recorded_at": moment, "hash": prev})
        table = sa.table("events", *(sa.column(c) for c in rows[0]))
        with old.begin() as conn:
            conn.execute(table.insert(), rows)
        upgrade(old)
        with old.connect() as conn:
            stored = conn.execute(sa.text("SELECT hash, signature, key_id FROM events "
                                          "ORDER BY position")).all()
        assert [tuple(r) for r in stored] == [(r["hash"], None, None) for r in rows]
        assert verify_chain(old).ok
        report = verify_chain(old, public_keys={signer.key_id: signer.public_key})
        assert (report.first_broken_position, report.problem) == (1, NOT_COVERED)
        old.dispose()
