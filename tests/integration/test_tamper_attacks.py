"""Issue #10: an attacker with write access to the database but not the signing key.

Each attack is done by tests/attacker.py (the one deliberate bypass of the guard) on SQLite and
PostgreSQL, and must be detected by `ecrf verify`, by GET /audit/verify and by the inspector's
script in docs/hash-chain.md, at the right position. An untouched log verifies.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ecrf.accounts.service import load_user
from ecrf.cli import main
from ecrf.commands.workflow import sign_casebook
from ecrf.evidence import witness_now
from events import NewEvent
from events.checkpoints import receipt_for
from events.signing import Signer
from events.tables import events as T
from tests.api.conftest import PASSWORD
from tests.attacker import Attacker
from tests.contract.test_inspector_script import inspector_script, run_script, url_for_script
from tests.scenario import Subject


@pytest.fixture
def trial(store, db_kind):
    """Two subjects with data, one casebook signed by its investigator; returns the log's
    signature event position."""
    first = Subject(store, "ITP-001")
    first.screening_labs(platelets=14)
    first.platelets(7, 41)
    Subject(store, "ITP-002").screening_labs(platelets=12)
    first.platelets(14, 55)
    investigator = load_user(store, "investigator")
    signed = sign_casebook(store, investigator, "ITP-001", PASSWORD, "approval")
    return signed.position


@pytest.fixture
def check(app, as_user, database_url, db_kind, tmp_path, monkeypatch):
    """Run all three verifiers; return (cli result, API report, script output)."""
    cli_url = url_for_script(database_url).replace("postgresql://", "postgresql+psycopg://")
    monkeypatch.setenv("DATABASE_URL", cli_url.replace("?options=-c search_path=",
                                                       "?options=-csearch_path%3D"))
    script = inspector_script(tmp_path)
    public = tmp_path / "server.pub.pem"
    public.write_text(app.extensions["ecrf"].store.signer.public_pem)
    auditor = as_user("auditor")

    def run(*checkpoint_files: str):
        args = [a for f in checkpoint_files for a in ("--checkpoint", f)]
        cli = CliRunner().invoke(main, ["verify", *args], catch_exceptions=False)
        if checkpoint_files:
            kept = [json.loads(Path(f).read_text()) for f in checkpoint_files]
            report = auditor.post("/audit/verify", {"checkpoints": kept})
        else:
            report = auditor.get("/audit/verify")
        assert report.status_code == 200, report.json
        witness = app.config["WITNESS_FILE"]
        files = [*checkpoint_files, witness] if (tmp_path / "checkpoints.jsonl").exists() \
            else list(checkpoint_files)
        out = run_script(script, url_for_script(database_url), str(public), *files)
        return cli, report.json, out

    return run


def assert_detected(result, position: int, *words: str) -> None:
    """All three verifiers fail at ``position``; the CLI and API name one of ``words``."""
    cli, report, script = result
    assert cli.exit_code == 1, cli.output
    assert f"position {position}: " in cli.output, cli.output
    assert any(w in cli.output for w in words), cli.output
    assert report["ok"] is False and report["first_broken_position"] == position, report
    assert any(w in report["problem"] for w in words), report
    assert script.startswith(f"BROKEN at position {position}:"), script


def first_witnessed_beyond(app, end: int) -> int:
    """The lowest position of a witness-file checkpoint past the log's new end."""
    with open(app.config["WITNESS_FILE"], encoding="utf-8") as lines:
        return min(p for p in (json.loads(line)["position"] for line in lines) if p > end)


def test_an_untouched_log_verifies_everywhere(trial, check, store):
    head = store.head()  # the CLI runs first; the API's check itself records an AuditViewed
    cli, report, script = check()
    assert cli.exit_code == 0, cli.output
    assert cli.output.startswith(f"OK: {head.position} events, head {head.hash}")
    assert report["ok"] is True and report["signatures_checked"] is True
    assert report["head_position"] == head.position
    assert script.startswith("OK: ")


def test_a_changed_value_with_every_hash_recomputed_is_detected(trial, check, store, db_kind):
    target = next(e for e in store.read_stream("ITP-001") if e.type == "PlateletCountRecorded")
    Attacker(store.engine, db_kind).change_value(target.position, {"platelets": 140})
    assert_detected(check(), target.position, "signature")


def test_deleting_the_last_rows_is_detected_against_a_kept_receipt(check, trial, store,
                                                                   db_kind, tmp_path):
    # check first: the auditor logs in before the trial, so the rows removed are the trial's
    head = store.head()
    kept = tmp_path / "receipt.json"
    last = store.read_all(after=head.position - 1)[0]
    kept.write_text(json.dumps(receipt_for(last, store.signer)))
    (tmp_path / "checkpoints.jsonl").unlink(missing_ok=True)  # the receipt alone must tell
    Attacker(store.engine, db_kind).delete_last(3)
    assert_detected(check(str(kept)), head.position, "events were removed")


def test_deleting_the_last_rows_is_detected_against_the_witness_file(app, check, trial, store,
                                                                     db_kind):
    witnessed = witness_now(app)
    assert witnessed["position"] == store.head().position
    Attacker(store.engine, db_kind).delete_last(4)
    expected = first_witnessed_beyond(app, witnessed["position"] - 4)
    assert_detected(check(), expected, "events were removed")


@pytest.mark.parametrize("with_own_key", [False, True])
def test_a_forged_casebook_signature_with_a_correct_hash_is_detected(
        trial, check, store, db_kind, with_own_key):
    head = store.read_stream("ITP-002")[-1]
    forged = Attacker(store.engine, db_kind).insert_forged("ITP-002", "CasebookSigned", {
        "printed_name": "Dr Ivy Investigator", "meaning": "approval",
        "signed_at": "2026-03-01T10:00:00+00:00", "covers_position": head.position,
        "covers_hash": head.hash, "statement": "I sign."},
        key=Signer.generate() if with_own_key else None)
    assert_detected(check(), forged, "unknown key" if with_own_key else "signature")


def test_a_deleted_row_with_renumbered_positions_and_backdated_times_is_detected(
        trial, check, store, db_kind):
    victim = store.read_stream("ITP-001")[1]
    Attacker(store.engine, db_kind).delete_and_renumber(victim.position, timedelta(hours=1))
    assert_detected(check(), victim.position, "signature", "recorded_at")


def test_a_signature_event_whose_covers_hash_no_longer_matches_is_detected(
        trial, check, store, db_kind):
    Attacker(store.engine, db_kind).change_value(trial, {"covers_hash": "f" * 64})
    assert_detected(check(), trial, "signature")
    # Without the key the chain alone still shows the mismatch: the covers check itself.
    from events import verify_chain

    report = verify_chain(store.engine)
    assert report.first_broken_position == trial and "covers_hash" in report.problem


def test_a_covers_hash_signed_by_the_server_but_wrong_is_detected(trial, check, store):
    from events import NewEvent

    head = store.read_stream("ITP-002")[-1]
    wrong = store.append("ITP-002", [NewEvent("CasebookSigned", {
        "printed_name": "Dr Ivy Investigator", "meaning": "approval",
        "signed_at": "2026-03-01T10:00:00+00:00", "covers_position": head.position,
        "covers_hash": "0" * 64, "statement": "I sign."})], expected_version=None)[0]
    assert_detected(check(), wrong.position, "covers_hash")


@pytest.mark.parametrize(("column", "value", "words"), [
    ("data", '{"platelets": NaN}', "not valid JSON"),
    ("schema_version", "one", "whole number"),
    ("hash", "x", "hash"),
    ("signature", None, "not signed"),
    ("key_id", None, "not signed"),
    ("recorded_at", "yesterday", "recorded_at"),
])
def test_a_malformed_value_in_a_tampered_row_is_a_failure_at_its_position(
        trial, check, store, db_kind, column, value, words):
    if db_kind == "postgresql" and column in ("schema_version", "recorded_at"):
        pytest.skip("PostgreSQL's column types refuse the value itself")  # SQLite stores it
    Attacker(store.engine, db_kind).set_column(3, column, value)
    cli, report, script = check()
    assert cli.exit_code == 1 and "position 3: " in cli.output, cli.output
    assert "Traceback" not in cli.output
    assert report["first_broken_position"] == 3 and words in report["problem"], report
    assert script.startswith("BROKEN at position 3:"), script
    assert not math.isnan(report["head_position"])


def test_a_dropped_column_is_reported_not_a_crash(app, as_user, store, db_kind,
                                                   database_url, monkeypatch):
    from tests.contract.test_event_store import tamper

    Subject(store, "ITP-001").screening_labs(platelets=14)
    auditor = as_user("auditor")
    tamper(store.engine, db_kind, "ALTER TABLE events DROP COLUMN signature")
    report = auditor.get("/audit/verify")
    assert report.status_code == 200
    assert report.json["ok"] is False and "cannot be read" in report.json["problem"]
    monkeypatch.setenv("DATABASE_URL", url_for_script(database_url).replace(
        "postgresql://", "postgresql+psycopg://").replace("?options=-c search_path=",
                                                          "?options=-csearch_path%3D"))
    cli = CliRunner().invoke(main, ["verify"], catch_exceptions=False)
    assert cli.exit_code == 2 and "cannot read the database" in cli.output
    assert "Traceback" not in cli.output


# -- one signature per append (events/coverage.py) --------------------------------------------
# The writer signs the last event of each append; its signature covers the append's earlier
# events through the chain. What an attacker can do with those unsigned events:


def three_in_one(store, stream: str = "IMPORT-1") -> list[int]:
    """One append of three events; their positions."""
    return [e.position for e in store.append(
        stream, [NewEvent("Imported", {"n": n}) for n in range(3)], expected_version=0)]


def signatures(store, positions: list[int]) -> list[tuple]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(T.c.signature.is_not(None), T.c.key_id).where(
                T.c.position.in_(positions)).order_by(T.c.position))]


def test_only_the_last_event_of_an_append_is_signed_and_the_log_verifies(trial, check, store):
    positions = three_in_one(store)
    key = store.signer.key_id
    assert signatures(store, positions) == [(False, None), (False, None), (True, key)]
    cli, report, script = check()
    assert cli.exit_code == 0, cli.output
    assert report["ok"] is True and report["signatures_checked"] is True
    assert script.startswith("OK: "), script


def test_the_appends_of_one_group_commit_are_each_signed_on_their_last_event(store):
    """Concurrent appends committed together are still signed one by one, per append."""
    import threading

    barrier, outcomes = threading.Barrier(4), {}

    def append(i: int) -> None:
        barrier.wait()
        outcomes[i] = [e.position for e in store.append(
            f"GROUP-{i}", [NewEvent("Imported", {"n": n}) for n in range(2)],
            expected_version=0)]

    threads = [threading.Thread(target=append, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for first, last in outcomes.values():
        assert signatures(store, [first, last]) == [(False, None), (True, store.signer.key_id)]


def test_stripping_the_last_signature_of_an_append_is_found_at_its_first_event(
        trial, check, store, db_kind):
    positions = three_in_one(store)
    store.append("IMPORT-2", [NewEvent("Imported", {"n": 9})], expected_version=0)
    attacker = Attacker(store.engine, db_kind)
    attacker.set_column(positions[-1], "signature", None)
    attacker.set_column(positions[-1], "key_id", None)
    assert_detected(check(), positions[0], "not signed")


def test_an_append_left_unsigned_at_the_end_of_the_log_is_found(trial, check, store, db_kind):
    positions = three_in_one(store)
    attacker = Attacker(store.engine, db_kind)
    attacker.set_column(positions[-1], "signature", None)
    attacker.set_column(positions[-1], "key_id", None)
    assert_detected(check(), positions[0], "not signed")


@pytest.mark.parametrize("column", ["signature", "key_id"])
def test_half_a_signature_is_found_at_its_own_event(trial, check, store, db_kind, column):
    """The writer leaves both empty or fills both: a row with one of them is damaged."""
    positions = three_in_one(store)
    Attacker(store.engine, db_kind).set_column(positions[-1], column, None)
    assert_detected(check(), positions[-1], "not signed", "signature")


def test_an_unsigned_event_claiming_the_last_append_is_found(trial, check, store, db_kind):
    """A forged event with a correct hash and the recorded_at of the last append, so that it
    looks like one of that append's events: nothing signed follows it."""
    three_in_one(store)
    forged = Attacker(store.engine, db_kind).insert_forged(
        "IMPORT-1", "Imported", {"n": 3}, same_append=True)
    assert_detected(check(), forged, "not signed")


def test_an_unsigned_event_slipped_into_an_append_breaks_the_signature_after_it(
        trial, check, store, db_kind):
    """Inserting an event inside an append moves the append's last event: its hash changes
    (recomputed by the attacker) and its signature no longer holds."""
    positions = three_in_one(store)
    Attacker(store.engine, db_kind).insert_inside(positions[1], {"n": 99})
    assert_detected(check(), positions[-1] + 1, "signature")


def test_a_row_below_position_1_cannot_smuggle_in_a_trusted_key(trial, check, store, db_kind):
    """A rotation row stored at position 0, carrying a genuine row's hash and signature, once
    made the verifier trust the attacker's key without being walked itself; events signed
    with that key then verified. The walk now starts at the lowest stored position."""
    from events.encoding import canonical_json
    from events.model import utc
    from events.rotation import KEYS_STREAM, rotation_event

    attacker_key = Signer.generate()
    with store.engine.connect() as conn:
        genuine = conn.execute(sa.select(T).where(T.c.signature.is_not(None))
                               .order_by(T.c.position.desc())).first()
    forged_rotation = rotation_event(store.signer, attacker_key)
    attacker = Attacker(store.engine, db_kind)
    attacker.insert_row({
        **genuine._mapping, "position": 0, "stream_id": KEYS_STREAM, "stream_version": 1,
        "type": forged_rotation.type, "data": canonical_json(forged_rotation.data),
        "recorded_at": utc(genuine.recorded_at), "idempotency_key": None})
    forged = attacker.insert_forged("ITP-002", "PlateletCountRecorded", {"platelets": 400},
                                    key=attacker_key)
    assert forged > 1
    assert_detected(check(), 1, "extra row", "position 0")


def test_the_same_moment_written_with_an_offset_verifies_everywhere(trial, check, store,
                                                                    db_kind):
    """SQLite keeps times as text: the same instant rewritten with an offset changes no hash,
    and all three verifiers agree on that (the script once read the offset as UTC)."""
    if db_kind == "postgresql":
        pytest.skip("PostgreSQL stores the instant itself, not its text")
    moment = store.read_all()[2].recorded_at
    shifted = moment.astimezone(timezone(timedelta(hours=5)))
    Attacker(store.engine, db_kind).set_column(3, "recorded_at",
                                               shifted.isoformat(sep=" "))
    cli, report, script = check()
    assert cli.exit_code == 0, cli.output
    assert report["ok"] is True, report
    assert script.startswith("OK: "), script
