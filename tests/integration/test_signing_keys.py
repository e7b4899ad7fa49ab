"""The signing key on the command line: create, show, rotate, the first start of demo, a
server refusing a key that did not sign the log, and `ecrf verify`'s exit codes and options."""

from __future__ import annotations

import json
import stat

import pytest
from click.testing import CliRunner

from ecrf.cli import main
from events import EventStore, make_engine
from events.rotation import ROTATION_TYPE
from events.signing import Signer, SigningKeyError, load_public_key
from tests.contract.test_inspector_script import inspector_script, run_script


@pytest.fixture
def cli(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ECRF_SECRET_KEY", "keys-test")
    monkeypatch.setenv("ECRF_SIGNING_KEY", str(tmp_path / "keys" / "signing_key.pem"))
    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    run.url = url  # type: ignore[attr-defined]
    return run


def test_keys_create_writes_a_private_key_only_its_owner_can_read(cli, tmp_path):
    made = cli("keys", "create", "--dir", str(tmp_path / "keys"))
    assert made.exit_code == 0, made.output
    private = tmp_path / "keys" / "signing_key.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    signer = Signer.from_file(private)
    public = load_public_key((tmp_path / "keys" / "signing_key.pub.pem").read_bytes())
    assert signer.key_id in made.output and len(signer.key_id) == 16
    assert public.public_bytes_raw() == signer.public_key.public_bytes_raw()
    again = cli("keys", "create", "--dir", str(tmp_path / "keys"))
    assert again.exit_code != 0 and "never overwritten" in again.output
    assert Signer.from_file(private).key_id == signer.key_id  # untouched


def test_keys_show_prints_the_public_key_and_key_id(cli, tmp_path):
    cli("keys", "create", "--dir", str(tmp_path / "keys"))
    shown = cli("keys", "show")
    signer = Signer.from_file(tmp_path / "keys" / "signing_key.pem")
    assert shown.exit_code == 0
    assert signer.public_pem.strip() in shown.output and f"key_id {signer.key_id}" in shown.output
    assert "PRIVATE" not in shown.output


def test_a_named_key_file_that_does_not_exist_is_a_clear_error(cli):
    result = cli("demo", "--accounts-only")
    assert result.exit_code != 0
    assert "does not exist" in result.output and "keys create" in result.output


def test_demo_creates_the_key_in_the_instance_folder_on_first_start(tmp_path, monkeypatch):
    monkeypatch.delenv("ECRF_SIGNING_KEY")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'first.db'}")
    monkeypatch.setenv("ECRF_SECRET_KEY", "first-start")
    # an instance folder in the test's tmp, not in the repository
    monkeypatch.setenv("ECRF_INSTANCE_PATH", str(tmp_path / "instance"))
    first = CliRunner().invoke(main, ["demo", "--accounts-only"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    key_file = tmp_path / "instance" / "signing_key.pem"
    signer = Signer.from_file(key_file)
    assert "created a signing key" in first.output and signer.key_id in first.output
    second = CliRunner().invoke(main, ["demo", "--accounts-only"], catch_exceptions=False)
    assert "created a signing key" not in second.output and signer.key_id in second.output
    assert CliRunner().invoke(main, ["verify"]).exit_code == 0


def test_a_server_whose_key_did_not_sign_the_log_refuses_to_start(cli, tmp_path, monkeypatch):
    cli("keys", "create", "--dir", str(tmp_path / "keys"))
    assert cli("demo", "--accounts-only").exit_code == 0
    cli("keys", "create", "--dir", str(tmp_path / "other"))
    monkeypatch.setenv("ECRF_SIGNING_KEY", str(tmp_path / "other" / "signing_key.pem"))
    refused = cli("demo", "--accounts-only")
    assert refused.exit_code != 0
    assert "is not the key" in refused.output and "keys rotate" in refused.output
    events = EventStore(make_engine(cli.url)).count()
    assert cli("user", "create", "x", "--role", "site_staff", "--site", "S",
               "--password-stdin").exit_code != 0
    assert EventStore(make_engine(cli.url)).count() == events  # nothing appended


def test_rotation_hands_signing_over_and_verify_follows_it(cli, tmp_path):
    cli("keys", "create", "--dir", str(tmp_path / "keys"))
    assert cli("demo", "--accounts-only").exit_code == 0
    old = Signer.from_file(tmp_path / "keys" / "signing_key.pem")
    (tmp_path / "old.pem").write_text(old.public_pem)
    rotated = cli("keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    new = Signer.from_file(tmp_path / "keys" / "signing_key.pem")
    assert new.key_id != old.key_id and new.key_id in rotated.output
    retired = tmp_path / "keys" / f"signing_key.pem.retired-{old.key_id}"
    assert Signer.from_file(retired).key_id == old.key_id
    after = cli("user", "create", "after", "--role", "site_staff", "--site", "S",
                "--password-stdin", input="a-long-password\n")
    assert after.exit_code == 0, after.output  # the new key is accepted after the rotation
    store = EventStore(make_engine(cli.url), signer=new)
    from tests.scenario import Subject

    Subject(store, "ITP-009").screening_labs(platelets=12)
    from events.tables import events as T

    with store.engine.connect() as conn:
        key_ids = [r.key_id for r in conn.execute(T.select().order_by(T.c.position))]
    rotation = next(e for e in store.read_all() if e.type == ROTATION_TYPE)
    # only an append's last event carries a signature (the others: None, covered by it)
    assert set(key_ids[:rotation.position]) - {None} == {old.key_id}  # rotation: the old key
    assert key_ids[rotation.position - 1] == old.key_id  # a rotation ends its append
    assert set(key_ids[rotation.position:]) - {None} == {new.key_id}
    assert key_ids[-1] == new.key_id
    for trusted in ("keys/signing_key.pub.pem", "old.pem"):  # either key leads to the other
        ok = cli("verify", "--public-key", str(tmp_path / trusted))
        assert ok.exit_code == 0 and ok.output.startswith(f"OK: {len(key_ids)} events"), \
            ok.output
        script = run_script(inspector_script(tmp_path), cli.url, str(tmp_path / trusted))
        assert script.startswith(f"OK: {len(key_ids)} events"), script
    stranger = tmp_path / "stranger.pem"
    stranger.write_text(Signer.generate().public_pem)
    refused = cli("verify", "--public-key", str(stranger))
    assert refused.exit_code == 1 and "position 1: " in refused.output
    assert "signed by an unknown key" in refused.output


def test_verify_exits_2_with_one_line_when_the_database_cannot_be_read(cli, tmp_path,
                                                                        monkeypatch):
    cli("keys", "create", "--dir", str(tmp_path / "keys"))
    (tmp_path / "garbage.db").write_bytes(b"this is not a database" * 100)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'garbage.db'}")
    result = cli("verify")
    assert result.exit_code == 2
    assert "cannot read the database" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert cli("verify").exit_code == 2  # no events table


def test_verify_checks_kept_receipts_and_refuses_a_forged_one(cli, tmp_path):
    cli("keys", "create", "--dir", str(tmp_path / "keys"))
    cli("demo", "--accounts-only")
    store = EventStore(make_engine(cli.url),
                       signer=Signer.from_file(tmp_path / "keys" / "signing_key.pem"))
    from events.checkpoints import receipt_for

    receipts = [receipt_for(e, store.signer) for e in store.read_all()[:3]]
    kept = tmp_path / "receipts.jsonl"
    kept.write_text("".join(json.dumps(r) + "\n" for r in receipts))
    single = tmp_path / "one.json"
    single.write_text(json.dumps(receipts[0], indent=2))
    ok = cli("verify", "--checkpoint", str(kept), "--checkpoint", str(single))
    assert ok.exit_code == 0, ok.output
    witnessed = len((tmp_path / "checkpoints.jsonl").read_text().splitlines())
    assert f"; {witnessed + 4} checkpoints" in ok.output, ok.output
    forged = {**receipts[1], "hash": "a" * 64}
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    bad = cli("verify", "--checkpoint", str(tmp_path / "forged.json"))
    assert bad.exit_code == 1 and "position 2: " in bad.output and "signature" in bad.output
    (tmp_path / "junk.json").write_text("[1, 2")
    junk = cli("verify", "--checkpoint", str(tmp_path / "junk.json"))
    assert junk.exit_code == 1 and "not a checkpoint" in junk.output
    missing = cli("verify", "--checkpoint", str(tmp_path / "nope.json"))
    assert missing.exit_code == 2 and "cannot read" in missing.output
    response = tmp_path / "response.json"  # a whole write response, kept as it came
    response.write_text(json.dumps({"subject_id": "ITP-1", "position": 2,
                                    "stream_version": 1, "receipt": receipts[1]}))
    whole = cli("verify", "--checkpoint", str(response))
    assert whole.exit_code == 0, whole.output


def test_an_event_signed_by_a_retired_key_after_its_rotation_fails(cli, tmp_path,
                                                                   monkeypatch):
    from events import NewEvent

    cli("keys", "create", "--dir", str(tmp_path / "keys"))
    assert cli("demo", "--accounts-only").exit_code == 0
    old = Signer.from_file(tmp_path / "keys" / "signing_key.pem")
    assert cli("keys", "rotate").exit_code == 0
    assert cli("demo", "--accounts-only").exit_code == 0  # the new key starts
    with monkeypatch.context() as env:
        env.setenv("ECRF_SIGNING_KEY",
                   str(tmp_path / "keys" / f"signing_key.pem.retired-{old.key_id}"))
        refused = cli("demo", "--accounts-only")
        assert refused.exit_code != 0 and "is not the key" in refused.output  # the old not
    stale = EventStore(make_engine(cli.url), signer=old)  # a server still running the old key
    with pytest.raises(SigningKeyError, match="expects key"):  # refuses to sign on
        stale.append("S-1", [NewEvent("X", {})], expected_version=0)
    # a server without that guard (an older version, a forged writer holding the old key):
    monkeypatch.setattr(stale._writer, "_check_signer_follows", lambda *args: None)
    late = stale.append("S-1", [NewEvent("X", {})], expected_version=0)[0]
    result = cli("verify")
    assert result.exit_code == 1
    assert f"position {late.position}: signed by the key {old.key_id}, retired" in result.output
    script = run_script(inspector_script(tmp_path), cli.url,
                        str(tmp_path / "keys" / "signing_key.pub.pem"))
    assert script.startswith(f"BROKEN at position {late.position}: signed by a key retired")


def test_verify_without_any_public_key_says_so_and_exits_2(cli):
    from ecrf.schema import upgrade

    engine = make_engine(cli.url)
    upgrade(engine)  # a migrated, empty database: only the key is missing
    engine.dispose()
    result = cli("verify")  # ECRF_SIGNING_KEY names a file not made yet; no --public-key
    assert result.exit_code == 2 and "no public key" in result.output
    assert len(result.output.strip().splitlines()) == 1
