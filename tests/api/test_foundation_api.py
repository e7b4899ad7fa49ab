"""The write path end to end: tokens, registration, a form, history, and every error status."""

from __future__ import annotations

import pytest

from tests.api.conftest import PASSWORD, platelet_count, registration


def test_token_is_issued_for_the_right_password(anonymous):
    reply = anonymous.post("/auth/token", {"username": "staff", "password": PASSWORD})
    assert reply.status_code == 200
    assert reply.json["token_type"] == "Bearer"
    assert reply.json["expires_in"] == 3600
    assert reply.json["access_token"]


@pytest.mark.parametrize("body", [{"username": "staff", "password": "wrong-password"},
                                  {"username": "nobody", "password": PASSWORD}])
def test_bad_credentials_are_refused_with_401(anonymous, body):
    reply = anonymous.post("/auth/token", body)
    assert reply.status_code == 401
    assert reply.json["error"]["code"] == "invalid_credentials"


def test_missing_token_field_is_422_with_the_field_named(anonymous):
    reply = anonymous.post("/auth/token", {"username": "staff"})
    assert reply.status_code == 422
    assert "password" in reply.json["error"]["fields"]


@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic abc"])
def test_requests_without_a_valid_token_are_401_and_append_nothing(anonymous, store, header):
    before = store.count()
    headers = {"Authorization": header} if header else {}
    reply = anonymous.post("/subjects", registration(), headers=headers)
    assert reply.status_code == 401
    assert set(reply.json["error"]) >= {"code", "message"}
    assert store.count() == before


def test_registration_creates_the_subject_stream(staff, store):
    reply = staff.post("/subjects", registration())
    assert reply.status_code == 201
    assert reply.json["subject_id"] == "ITP-001"
    assert reply.json["stream_version"] == 1
    event = store.read_stream("ITP-001")[0]
    assert event.type == "SubjectRegistered"
    assert event.metadata["actor"] == "staff"
    assert event.metadata["role"] == "site_staff"
    assert event.metadata["request_id"]


def test_invalid_registration_is_422_with_field_messages_and_appends_nothing(staff, store):
    before = store.count()
    reply = staff.post("/subjects", registration(subject_id="bad id", sex="X"))
    assert reply.status_code == 422
    assert reply.json["error"]["code"] == "validation_failed"
    assert {"subject_id", "sex"} <= set(reply.json["error"]["fields"])
    assert store.count() == before


def test_second_registration_of_a_subject_is_409(staff, subject, store):
    before = store.count()
    reply = staff.post("/subjects", registration())
    assert reply.status_code == 409
    assert reply.json["error"]["code"] == "subject_exists"
    assert store.count() == before


def test_platelet_count_is_recorded_with_the_time_as_entered(staff, subject, store):
    reply = staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count())
    assert reply.status_code == 201
    assert reply.json["stream_version"] == 2
    assert reply.json["entry_id"]
    event = store.read_stream(subject)[-1]
    assert event.type == "PlateletCountRecorded"
    assert event.data["values"]["collected_at"] == "2026-02-10T09:30:00+08:00"
    assert event.data["entry_id"] == reply.json["entry_id"]
    assert event.position == reply.json["position"]


def test_invalid_platelet_count_is_422_and_appends_nothing(staff, subject, store):
    before = store.count()
    reply = staff.post(f"/subjects/{subject}/forms/platelet_count",
                       platelet_count(platelets=2500, surprise=1))
    assert reply.status_code == 422
    assert {"platelets", "surprise"} <= set(reply.json["error"]["fields"])
    assert store.count() == before


def test_unknown_subject_is_404_and_appends_nothing(staff, store):
    before = store.count()
    reply = staff.post("/subjects/NOPE-1/forms/platelet_count", platelet_count())
    assert reply.status_code == 404
    assert reply.json["error"]["code"] == "subject_not_found"
    assert store.count() == before


def test_unknown_form_is_404(staff, subject, store):
    before = store.count()
    reply = staff.post(f"/subjects/{subject}/forms/horoscope", {"visit": "D7"})
    assert reply.status_code == 404
    assert reply.json["error"]["code"] == "unknown_form"
    assert store.count() == before


def test_stale_if_match_is_409_and_appends_nothing(staff, subject, store):
    staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count())
    before = store.count()
    reply = staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count(),
                       headers={"If-Match": "1"})
    assert reply.status_code == 409
    assert reply.json["error"]["code"] == "version_conflict"
    assert store.count() == before


def test_current_if_match_is_accepted(staff, subject):
    reply = staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count(),
                       headers={"If-Match": '"1"'})
    assert reply.status_code == 201


def test_repeated_idempotency_key_returns_the_first_result_and_appends_nothing(
        staff, subject, store):
    headers = {"Idempotency-Key": "retry-42"}
    first = staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count(),
                       headers=headers)
    before = store.count()
    again = staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count(),
                       headers=headers)
    assert first.status_code == 201
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert store.count() == before


def test_body_that_is_not_json_is_400_and_appends_nothing(staff, subject, store):
    before = store.count()
    reply = staff.client.post(f"/api/v1/subjects/{subject}/forms/platelet_count",
                              data="platelets=3", headers=staff._headers(
                                  {"Content-Type": "text/plain"}))
    assert reply.status_code == 400
    assert reply.json["error"]["code"] == "invalid_json"
    assert store.count() == before


def test_a_monitor_may_not_enter_data(as_user, subject, store):
    monitor = as_user("monitor")
    before = store.count()
    reply = monitor.post(f"/subjects/{subject}/forms/platelet_count", platelet_count())
    assert reply.status_code == 403
    assert reply.json["error"]["code"] == "forbidden"
    assert store.count() == before


def test_another_sites_subject_is_not_found_for_reading_or_writing(as_user, subject, store):
    other = as_user("staff2")
    before = store.count()
    assert other.get(f"/subjects/{subject}").status_code == 404
    assert other.post(f"/subjects/{subject}/forms/platelet_count",
                      platelet_count()).status_code == 404
    assert other.get("/subjects").json["subjects"] == []
    assert store.count() == before


def test_registering_at_a_site_not_assigned_is_403(as_user, store):
    other = as_user("staff2")
    before = store.count()
    reply = other.post("/subjects", registration())
    assert reply.status_code == 403
    assert reply.json["error"]["fields"]["site_id"]
    assert store.count() == before


def test_history_lists_the_subjects_events_with_envelopes(staff, subject):
    staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count())
    events = staff.get(f"/subjects/{subject}/history").json["events"]
    assert [e["type"] for e in events] == ["SubjectRegistered", "PlateletCountRecorded"]
    assert [e["stream_version"] for e in events] == [1, 2]
    assert all(len(e["hash"]) == 64 and e["metadata"]["actor"] == "staff" for e in events)


def test_openapi_document_is_generated_from_the_form_schemas(anonymous):
    spec = anonymous.get("/openapi.json").json
    path = spec["paths"]["/api/v1/subjects/{subject_id}/forms/platelet_count"]["post"]
    ref = path["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert {"collected_at", "platelets", "visit"} <= set(schema["properties"])
    assert "platelets" in schema["required"]


def test_chain_verifies_through_the_api(as_user, subject):
    report = as_user("auditor").get("/audit/verify").json
    assert report["ok"] is True
    assert report["head_position"] == report["events_checked"]


def test_concurrent_submissions_without_if_match_all_succeed(app, staff, subject, store):
    """Writers racing on one casebook are re-run, not refused, when no version was pinned."""
    import threading

    replies = []

    def submit() -> None:
        client = app.test_client()
        replies.append(client.post(f"/api/v1/subjects/{subject}/forms/platelet_count",
                                   json=platelet_count(), headers=staff._headers(None)))

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in replies) == [201] * 6
    versions = [e.stream_version for e in store.read_stream(subject)]
    assert versions == list(range(1, len(versions) + 1))
