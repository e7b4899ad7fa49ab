"""Idempotency-Key bound to its request (#11 item 1).

The same key with the same request gets the first response again (201, the whole body,
``Idempotent-Replayed: true``) and appends nothing; the same key with any other request (a
different body, another subject, another endpoint) is refused with 422
``idempotency_key_reused`` and appends nothing: a grade 4 SAE sent with a reused key is never
silently dropped.
"""

from __future__ import annotations

import threading

from events import NewEvent, verify_chain
from events.encoding import event_hash
from tests.api.conftest import Api, platelet_count, registration
from tests.api.examples import valid

KEY = {"Idempotency-Key": "retry-7f3c"}


def _form(api, subject: str, body: dict, form: str = "platelet_count", headers=KEY):
    return api.post(f"/subjects/{subject}/forms/{form}", body, headers=headers)


def _refused(reply, store, before: int) -> None:
    assert reply.status_code == 422, reply.json
    assert reply.json["error"]["code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in reply.json["error"]["fields"]
    assert store.count() == before


def test_a_retry_gets_the_whole_first_response_and_appends_nothing(staff, subject, store):
    first = _form(staff, subject, platelet_count())
    assert first.status_code == 201, first.json
    assert "Idempotent-Replayed" not in first.headers
    before = store.count()
    again = _form(staff, subject, platelet_count())
    assert again.status_code == 201, again.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert store.count() == before


def test_the_body_is_compared_as_canonical_json_not_as_text(staff, subject, store):
    first = staff.client.post(f"/api/v1/subjects/{subject}/forms/platelet_count",
                              data='{"visit":"D7","platelets":42,'
                                   '"collected_at":"2026-02-10T09:30:00+08:00"}',
                              headers=staff._headers({**KEY, "Content-Type":
                                                      "application/json"}))
    assert first.status_code == 201, first.json
    again = staff.client.post(f"/api/v1/subjects/{subject}/forms/platelet_count",
                              data='{ "platelets": 42, "collected_at": '
                                   '"2026-02-10T09:30:00+08:00", "visit": "D7" }',
                              headers=staff._headers({**KEY, "Content-Type":
                                                      "application/json"}))
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()


def test_a_reused_key_with_another_body_is_refused_and_nothing_is_lost(staff, subject, store):
    assert _form(staff, subject, platelet_count()).status_code == 201
    before = store.count()
    _refused(_form(staff, subject, platelet_count(platelets=640)), store, before)
    sae = valid("adverse_event", ctcae_grade=4, category="other", term="Intracranial haemorrhage")
    _refused(_form(staff, subject, sae, form="adverse_event"), store, before)
    fresh = _form(staff, subject, sae, form="adverse_event",
                  headers={"Idempotency-Key": "a-new-key"})
    assert fresh.status_code == 201, fresh.json
    assert "Idempotent-Replayed" not in fresh.headers


def test_a_reused_key_for_another_subject_is_refused(staff, subject, store):
    assert staff.post("/subjects", registration("ITP-002")).status_code == 201
    assert _form(staff, subject, platelet_count()).status_code == 201
    before = store.count()
    _refused(_form(staff, "ITP-002", platelet_count()), store, before)


def test_registration_correction_and_void_replay_and_refuse_alike(staff, subject, store):
    reg = staff.post("/subjects", registration("ITP-003"), headers=KEY)
    assert reg.status_code == 201, reg.json
    again = staff.post("/subjects", registration("ITP-003"), headers=KEY)
    assert (again.status_code, again.get_json()) == (201, reg.get_json())
    assert again.headers["Idempotent-Replayed"] == "true"
    before = store.count()
    _refused(staff.post("/subjects", registration("ITP-004"), headers=KEY), store, before)

    entry = _form(staff, subject, platelet_count(), headers={}).json["entry_id"]
    path = f"/subjects/{subject}/entries/{entry}"
    fix = {"Idempotency-Key": "fix-1"}
    body = {"changes": {"platelets": 45}, "reason": "transcription error"}
    first = staff.post(f"{path}/corrections", body, headers=fix)
    assert first.status_code == 201, first.json
    again = staff.post(f"{path}/corrections", body, headers=fix)
    assert (again.status_code, again.get_json()) == (201, first.get_json())
    before = store.count()
    _refused(staff.post(f"{path}/corrections", {**body, "changes": {"platelets": 46}},
                        headers=fix), store, before)
    _refused(staff.post(f"{path}/void", {"reason": "duplicate"}, headers=fix), store, before)
    gone = {"Idempotency-Key": "void-1"}
    first = staff.post(f"{path}/void", {"reason": "duplicate"}, headers=gone)
    assert first.status_code == 201, first.json
    again = staff.post(f"{path}/void", {"reason": "duplicate"}, headers=gone)
    assert (again.status_code, again.get_json()) == (201, first.get_json())


def test_the_key_and_fingerprint_are_in_the_hashed_metadata(staff, subject, store):
    reply = _form(staff, subject, platelet_count())
    event = next(e for e in store.read_stream(subject) if e.position == reply.json["position"])
    assert event.metadata["idempotency_key"] == KEY["Idempotency-Key"]
    fingerprint = event.metadata["request_fingerprint"]
    assert len(fingerprint) == 64 and int(fingerprint, 16) >= 0
    assert verify_chain(store.engine).to_dict()["ok"] is True
    previous = next(e for e in store.iter_all() if e.position == event.position - 1)
    fields = {"position": event.position, "stream_id": event.stream_id,
              "stream_version": event.stream_version, "type": event.type,
              "schema_version": event.schema_version, "data": event.data,
              "recorded_at": event.recorded_at}
    assert event_hash(previous.hash, metadata=event.metadata, **fields) == event.hash
    forged = {**event.metadata, "request_fingerprint": "0" * 64}
    assert event_hash(previous.hash, metadata=forged, **fields) != event.hash


def test_another_user_with_the_same_key_is_not_served_the_first_users_response(
        staff, as_user, subject, store):
    assert _form(staff, subject, platelet_count()).status_code == 201
    before = store.count()
    other = _form(as_user("investigator"), subject, platelet_count())
    assert other.status_code == 201, other.json
    assert "Idempotent-Replayed" not in other.headers
    assert store.count() > before


def test_two_concurrent_requests_with_one_key_append_once(app, staff, subject, store):
    before = store.count()
    barrier, replies = threading.Barrier(4), []

    def send() -> None:
        api = Api(app.test_client(), staff.token)
        barrier.wait()
        replies.append(_form(api, subject, platelet_count()))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in replies] == [201] * 4, [r.json for r in replies]
    assert len({r.json["entry_id"] for r in replies}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in replies) == 3
    assert len({str(r.get_json()) for r in replies}) == 1
    counts = [e for e in store.read_stream(subject)
              if e.position > before and e.type == "PlateletCountRecorded"]
    assert len(counts) == 1


def test_writes_that_take_no_key_say_so_instead_of_ignoring_it(staff, as_user, subject, store):
    entry = _form(staff, subject, platelet_count(), headers={}).json["entry_id"]
    monitor, dm = as_user("monitor"), as_user("dm")
    before = store.count()
    for api, path, body in [
            (monitor, f"/subjects/{subject}/queries",
             {"entry_id": entry, "field": "platelets", "text": "?"}),
            (monitor, f"/subjects/{subject}/entries/{entry}/verify", None),
            (dm, f"/subjects/{subject}/lock", {"reason": "interim"}),
            (dm, "/trial/lock", {"reason": "database lock"})]:
        reply = api.post(path, body, headers=KEY)
        assert reply.status_code == 400, (path, reply.json)
        assert reply.json["error"]["code"] == "idempotency_key_not_supported"
    assert store.count() == before
    assert monitor.get(f"/subjects/{subject}/queries", headers=KEY).status_code == 200


def test_a_key_recorded_before_fingerprints_is_refused_on_reuse(staff, subject, store):
    """An append made under the key by an older version (no fingerprint in its metadata)."""
    old = store.append(subject, [NewEvent("PlateletCountRecorded", {
        "entry_id": "e-legacy", "form": "platelet_count", "values": platelet_count()},
        {"actor": "staff", "role": "site_staff"})], expected_version=None,
        idempotency_key=f"staff:{KEY['Idempotency-Key']}")
    assert "request_fingerprint" not in old[0].metadata
    before = store.count()
    _refused(_form(staff, subject, platelet_count()), store, before)
