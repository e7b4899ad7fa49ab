"""Write receipts, fresh checkpoints and the witness file, through the API (issue #10)."""

from __future__ import annotations

import json

import pytest

from ecrf.commands.outcome import replayed_outcome
from events import NewEvent
from events.checkpoints import checkpoint_problem, receipt_for, signed_body
from events.signing import load_public_key, signature_holds
from tests.api.conftest import PASSWORD, platelet_count, registration


def trusted(api) -> dict:
    checkpoint = api.get("/audit/checkpoint").json
    key = load_public_key(checkpoint["public_key"])
    return {checkpoint["key_id"]: key}


def witnessed(app) -> list[dict]:
    with open(app.config["WITNESS_FILE"], encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def test_every_write_response_carries_a_receipt_of_its_own_last_event(as_user, staff, store):
    keys = trusted(as_user("auditor"))
    made = staff.post("/subjects", registration())
    entry = staff.post("/subjects/ITP-001/forms/platelet_count", platelet_count())
    corrected = staff.post(f"/subjects/ITP-001/entries/{entry.json['entry_id']}/corrections",
                           {"changes": {"platelets": 43}, "reason": "transcription error"})
    query = as_user("monitor").post("/subjects/ITP-001/queries", {
        "entry_id": entry.json["entry_id"], "field": "platelets", "text": "please check"})
    for reply in (made, entry, corrected, query):
        assert reply.status_code == 201, reply.json
        receipt = reply.json["receipt"]
        assert set(receipt) == {"position", "hash", "recorded_at", "signed_at", "key_id",
                                "signature"}
        assert checkpoint_problem(receipt, keys) is None
        event = store.read_all(after=receipt["position"] - 1, limit=1)[0]
        assert (receipt["position"], receipt["hash"]) == (event.position, event.hash)
        assert event.position == reply.json["position"]  # one event each: its own last
        assert receipt["signed_at"] == receipt["recorded_at"]


def test_the_replay_of_an_idempotent_retry_returns_the_same_receipt_byte_for_byte(staff,
                                                                                 store):
    staff.post("/subjects", registration())
    headers = {"Idempotency-Key": "entry-1"}
    first = staff.post("/subjects/ITP-001/forms/platelet_count", platelet_count(),
                       headers=headers)
    count = store.count()
    again = staff.post("/subjects/ITP-001/forms/platelet_count", platelet_count(),
                       headers=headers)
    assert first.status_code == 201 and again.status_code in (200, 201)
    assert store.count() == count
    assert json.dumps(again.json["receipt"], sort_keys=True) == \
        json.dumps(first.json["receipt"], sort_keys=True)


def test_a_replayed_write_of_several_events_gets_the_receipt_of_its_last(store):
    first = store.append("S-1", [NewEvent("A", {}), NewEvent("B", {}), NewEvent("C", {})],
                         expected_version=0, idempotency_key="k")
    store.append("S-1", [NewEvent("D", {})], expected_version=3)  # a later write, same stream
    outcome = replayed_outcome(store, store.find_idempotent("k")[0])
    assert outcome.receipt == receipt_for(first[-1], store.signer)
    assert outcome.receipt["position"] == first[-1].position


def test_a_fresh_checkpoint_is_signed_for_auditors_and_data_managers_only(as_user, staff,
                                                                          subject, store):
    for who in ("auditor", "dm"):
        reply = as_user(who).get("/audit/checkpoint")
        assert reply.status_code == 200
        body = reply.json
        key = load_public_key(body["public_key"])
        assert signature_holds(key, body["signature"], signed_body(body))
        head = store.head()
        assert (body["position"], body["hash"]) == (head.position, head.hash)
        tampered = {**body, "position": body["position"] - 1}
        assert not signature_holds(key, tampered["signature"], signed_body(tampered))
    for who in ("monitor", "investigator"):
        assert as_user(who).get("/audit/checkpoint").status_code == 403
    assert staff.get("/audit/checkpoint").status_code == 403


def test_signature_lock_and_every_export_append_a_checkpoint_to_the_witness_file(
        app, as_user, staff, subject, store):
    staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count())
    keys = trusted(as_user("auditor"))
    dm, investigator = as_user("dm"), as_user("investigator")
    actions = [
        lambda: investigator.post(f"/subjects/{subject}/signatures",
                                  {"password": PASSWORD, "meaning": "approval"}),
        lambda: dm.get("/export/csv"),
        lambda: dm.get(f"/export/odm?subject={subject}"),
        lambda: dm.get(f"/subjects/{subject}/platelets.svg"),
        lambda: dm.get("/audit?format=csv"),
        lambda: dm.post(f"/subjects/{subject}/lock", {"reason": "interim analysis"}),
        lambda: dm.post("/trial/lock", {"reason": "database lock"}),
    ]
    for action in actions:
        before = len(witnessed(app))
        assert action().status_code in (200, 201)
        lines = witnessed(app)
        assert len(lines) == before + 1
        assert lines[-1]["position"] == store.head().position
        assert checkpoint_problem(lines[-1], keys) is None


def test_posted_receipts_are_checked_and_bad_bodies_get_a_422(as_user, staff, store):
    made = staff.post("/subjects", registration())
    auditor = as_user("auditor")
    ok = auditor.post("/audit/verify", {"checkpoints": [made.json["receipt"]]})
    assert ok.status_code == 200 and ok.json["ok"] is True
    assert ok.json["checkpoints_checked"] >= 1
    forged = {**made.json["receipt"], "hash": "b" * 64}
    bad = auditor.post("/audit/verify", {"checkpoints": [forged]})
    assert bad.json["ok"] is False and bad.json["first_broken_position"] == forged["position"]
    count = store.count()
    for body in ({"checkpoints": "x"}, {"checkpoints": []}, {"checkpoints": [1]},
                 {"checkpoints": [{}] * 1001}, {"other": 1}, [1]):
        reply = auditor.post("/audit/verify", body)
        assert reply.status_code == 422, (body, reply.json)
        assert reply.json["error"]["code"] == "validation_failed"
    assert store.count() == count


@pytest.mark.parametrize("field", ["position", "hash", "key_id", "signature"])
def test_a_receipt_with_a_wrong_type_is_a_failure_not_a_crash(as_user, staff, field):
    made = staff.post("/subjects", registration())
    bad = {**made.json["receipt"], field: [1, {"x": None}]}
    reply = as_user("auditor").post("/audit/verify", {"checkpoints": [bad]})
    assert reply.status_code == 200 and reply.json["ok"] is False


def test_plain_writes_are_witnessed_at_most_once_an_interval(engine, tmp_path):
    import threading

    from ecrf.app import create_app
    from ecrf.evidence import run_witness_forever

    def app_with(interval: float, name: str):
        return create_app({"ENGINE": engine, "SECRET_KEY": "w", "TESTING": True,
                           "WITNESS_FILE": str(tmp_path / name),
                           "WITNESS_INTERVAL_SECONDS": interval})

    slow = app_with(3600, "slow.jsonl")
    store = slow.extensions["ecrf"].store
    for n in range(5):
        store.append(f"S-{n}", [NewEvent("X", {})], expected_version=0)
    assert [p["position"] for p in witnessed(slow)] == [1]  # the first, then not for an hour
    fast = app_with(0.05, "fast.jsonl")
    writer = fast.extensions["ecrf"].store
    stop = threading.Event()
    loop = threading.Thread(target=run_witness_forever, args=(fast, stop))
    loop.start()
    try:
        writer.append("S-9", [NewEvent("X", {})], expected_version=0)
        head = writer.head().position
        for _ in range(100):
            if any(p["position"] == head for p in witnessed(fast)):
                break
            stop.wait(0.05)
    finally:
        stop.set()
        loop.join(timeout=5)
    assert witnessed(fast)[-1]["position"] == head
