"""The smaller fixes of #11 item 9, each with its own test (the audit filters are in
test_audit_export_whole.py)."""

from __future__ import annotations

import pytest

from tests.api.conftest import PASSWORD, platelet_count, registration

# -- diff from before the registration -------------------------------------------------------


@pytest.mark.parametrize("start", ["0", "1"])
def test_a_diff_from_before_the_registration_starts_from_the_first_event(
        as_user, staff, store, start):
    assert staff.post("/subjects", registration("ITP-050")).status_code == 201  # after others
    count = staff.post("/subjects/ITP-050/forms/platelet_count", platelet_count())
    assert count.status_code == 201, count.json
    first = store.read_stream("ITP-050")[0].position
    assert int(start) < first
    reply = as_user("auditor").get(f"/subjects/ITP-050/diff?from={start}&to={10**6}")
    assert reply.status_code == 200, reply.json
    fields = {(c["form"], c["field"]) for c in reply.json["entries"]}
    assert ("registration", "subject_id") in fields and ("platelet_count", "platelets") in fields
    assert all(c["from"] is None for c in reply.json["entries"])


# -- registering an id that exists at a site the user cannot see -----------------------------


def test_registering_another_sites_subject_id_answers_as_for_an_unseen_subject(
        as_user, subject, store):
    other = as_user("staff2")  # SITE-02 only; ITP-001 is at SITE-01
    unseen = other.get("/subjects/ITP-001")
    before = store.count()
    reply = other.post("/subjects", registration("ITP-001", site_id="SITE-02"))
    assert reply.status_code == unseen.status_code == 404, reply.json
    assert reply.json["error"] == unseen.json["error"]
    assert "exists" not in str(reply.json)
    assert store.count() == before


def test_registering_ones_own_sites_subject_id_again_is_still_a_conflict(staff, subject, store):
    before = store.count()
    reply = staff.post("/subjects", registration())
    assert reply.status_code == 409 and reply.json["error"]["code"] == "subject_exists"
    assert store.count() == before


# -- unknown filter values -------------------------------------------------------------------


def test_an_unknown_subject_status_filter_is_refused_naming_the_statuses(staff, subject, store):
    before = store.count()
    reply = staff.get("/subjects?status=bogus")
    assert reply.status_code == 422, reply.json
    assert reply.json["error"]["code"] == "invalid_filter"
    assert "in_follow_up" in reply.json["error"]["fields"]["status"][0]
    assert store.count() == before


def test_the_subject_status_filter_filters(staff, subject):
    assert staff.post("/subjects/ITP-001/forms/leukapheresis", {
        "visit": "LEUK", "procedure_date": "2026-01-15"}).status_code == 201
    assert staff.post("/subjects", registration("ITP-002")).status_code == 201
    enrolled = staff.get("/subjects?status=enrolled").json["subjects"]
    screening = staff.get("/subjects?status=screening").json["subjects"]
    assert [s["subject_id"] for s in enrolled] == ["ITP-001"]
    assert [s["subject_id"] for s in screening] == ["ITP-002"]


# -- what a refusal records: failed password checks, and only those ---------------------------


def _new_events(store, before: int):
    return [e for e in store.iter_all() if e.position > before]


def test_a_failed_login_records_one_login_failed_event(app, store):
    client = app.test_client()
    before = store.count()
    reply = client.post("/api/v1/auth/token", json={"username": "staff", "password": "nope"})
    assert reply.status_code == 401
    [event] = _new_events(store, before)
    assert (event.type, event.stream_id, event.data) == (
        "LoginFailed", "user:staff", {"username": "staff", "purpose": "login"})
    before = store.count()
    client.post("/api/v1/auth/token", json={"username": "nobody", "password": "nope"})
    [event] = _new_events(store, before)  # a name that is no account: only as a keyed hash
    assert event.type == "LoginFailed" and event.stream_id.startswith("unknown-user:")
    assert "nobody" not in event.stream_id and "nobody" not in str(event.data)


def test_the_fifth_failure_also_records_the_lockout(app, store):
    client = app.test_client()
    for _ in range(4):
        client.post("/api/v1/auth/token", json={"username": "staff", "password": "nope"})
    before = store.count()
    client.post("/api/v1/auth/token", json={"username": "staff", "password": "nope"})
    assert [e.type for e in _new_events(store, before)] == ["LoginFailed", "AccountLocked"]
    before = store.count()
    locked = client.post("/api/v1/auth/token", json={"username": "staff", "password": PASSWORD})
    assert locked.status_code == 401 and locked.json["error"]["code"] == "invalid_credentials"
    assert store.count() == before  # refused while locked: nothing more is recorded


def test_a_signature_refused_for_its_password_records_the_failure_only(as_user, subject, store):
    investigator = as_user("investigator")
    before = store.count()
    reply = investigator.post(f"/subjects/{subject}/signatures",
                              {"password": "wrong", "meaning": "review"})
    assert reply.status_code == 403 and reply.json["error"]["code"] == "signature_refused"
    [event] = _new_events(store, before)
    assert (event.type, event.stream_id, event.data["purpose"]) == (
        "LoginFailed", "user:investigator", "signature")
    assert not [e for e in store.read_stream(subject) if e.type == "CasebookSigned"]


def test_other_refusals_append_nothing(as_user, staff, subject, store):
    monitor = as_user("monitor")
    before = store.count()
    assert monitor.post(f"/subjects/{subject}/forms/platelet_count",
                        platelet_count()).status_code == 403
    assert staff.post(f"/subjects/{subject}/forms/platelet_count",
                      platelet_count(platelets="many")).status_code == 422
    assert staff.post("/subjects", registration()).status_code == 409
    assert store.count() == before
    # a wrong current password is a failed password check: recorded (docs/security.md)
    assert staff.post("/auth/password", {"current_password": "wrong",
                                         "new_password": "long-enough-1"}).status_code == 403
    [failure] = _new_events(store, before)
    assert (failure.type, failure.data["purpose"]) == ("LoginFailed", "password_change")
