"""Queries, source data verification, signatures, locks and accounts, through the API."""

from __future__ import annotations

import pytest

from tests.api.conftest import PASSWORD, platelet_count, registration


@pytest.fixture
def entry(staff, subject) -> str:
    reply = staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count())
    assert reply.status_code == 201
    return reply.json["entry_id"]


def queries(api, subject: str, **filters) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    return api.get(f"/subjects/{subject}/queries?{query}").json["queries"]


def test_query_life_cycle_open_answer_with_correction_close_reopen(
        as_user, staff, subject, entry):
    monitor = as_user("monitor")
    opened = monitor.post(f"/subjects/{subject}/queries",
                          {"entry_id": entry, "field": "platelets",
                           "text": "Source says 24, not 42?"})
    assert opened.status_code == 201
    query_id = opened.json["query_id"]
    assert queries(staff, subject, state="open")[0]["query_id"] == query_id

    answered = staff.post(f"/subjects/{subject}/queries/{query_id}/answer",
                          {"text": "Transposed digits, corrected",
                           "changes": {"platelets": 24}})
    assert answered.status_code == 201
    book = staff.get(f"/subjects/{subject}").json
    corrected = next(e for e in book["entries"] if e["entry_id"] == entry)
    assert corrected["values"]["platelets"] == 24
    assert corrected["versions"][-1]["reason"] == "Transposed digits, corrected"
    assert queries(staff, subject)[0]["state"] == "answered"

    assert monitor.post(f"/subjects/{subject}/queries/{query_id}/close", {}).status_code == 201
    assert queries(staff, subject, state="closed")[0]["query_id"] == query_id
    reopened = monitor.post(f"/subjects/{subject}/queries/{query_id}/reopen",
                            {"text": "Please also attach the lab report"})
    assert reopened.status_code == 201
    history = queries(monitor, subject)[0]["history"]
    assert [h["action"] for h in history] == [
        "QueryOpened", "QueryAnswered", "QueryClosed", "QueryReopened"]


def test_only_the_opener_or_a_data_manager_may_close_a_query(as_user, subject, entry, store):
    monitor, dm = as_user("monitor"), as_user("dm")
    query_id = dm.post(f"/subjects/{subject}/queries",
                       {"entry_id": entry, "field": "platelets", "text": "Check"}).json[
        "query_id"]
    before = store.count()
    refused = monitor.post(f"/subjects/{subject}/queries/{query_id}/close", {})
    assert refused.status_code == 403
    assert store.count() == before
    assert dm.post(f"/subjects/{subject}/queries/{query_id}/cancel",
                   {"text": "raised in error"}).status_code == 201


def test_a_query_must_name_an_entry_and_one_of_its_fields(as_user, subject, entry, store):
    monitor = as_user("monitor")
    before = store.count()
    reply = monitor.post(f"/subjects/{subject}/queries",
                         {"entry_id": entry, "field": "horoscope", "text": "?"})
    assert reply.status_code == 422 and "field" in reply.json["error"]["fields"]
    reply = monitor.post(f"/subjects/{subject}/queries", {"entry_id": "nope", "text": "?"})
    assert reply.status_code == 422 and "entry_id" in reply.json["error"]["fields"]
    assert store.count() == before


def test_an_unexpected_value_opens_an_automatic_query_once_and_closes_it_when_fixed(
        staff, subject):
    entry = staff.post(f"/subjects/{subject}/forms/platelet_count",
                       platelet_count(platelets=1500)).json["entry_id"]
    automatic = [q for q in queries(staff, subject) if q["automatic"]]
    assert len(automatic) == 1
    assert (automatic[0]["field"], automatic[0]["opened_by"]) == ("platelets", "system")
    staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count(platelets=50))
    assert len([q for q in queries(staff, subject) if q["automatic"]]) == 1  # once
    staff.post(f"/subjects/{subject}/entries/{entry}/corrections",
               {"changes": {"platelets": 150}, "reason": "typo"})
    closed = next(q for q in queries(staff, subject) if q["automatic"])
    assert closed["state"] == "closed"
    assert closed["history"][-1]["by"] == "system"


def test_a_correction_voids_the_verification_of_the_entry(as_user, staff, subject, entry):
    monitor = as_user("monitor")
    assert monitor.post(f"/subjects/{subject}/entries/{entry}/verify").status_code == 201
    progress = monitor.get(f"/subjects/{subject}/verification").json
    assert progress["per_form"]["platelet_count"] == {"entries": 1, "verified": 1}

    correction = staff.post(f"/subjects/{subject}/entries/{entry}/corrections",
                            {"changes": {"platelets": 43}, "reason": "re-read"})
    book = monitor.get(f"/subjects/{subject}").json
    verification = next(e for e in book["entries"] if e["entry_id"] == entry)["verification"]
    assert verification["state"] == "verification_voided"
    assert verification["voided_by_position"] == correction.json["position"]
    assert monitor.get(f"/subjects/{subject}/verification").json["verified"] == 0
    assert monitor.post(f"/subjects/{subject}/entries/{entry}/verify").status_code == 201


def test_signature_records_meaning_and_head_and_a_later_event_invalidates_it(
        as_user, staff, subject, entry, store):
    investigator = as_user("investigator")
    signed = investigator.post(f"/subjects/{subject}/signatures",
                               {"password": PASSWORD, "meaning": "approval"})
    assert signed.status_code == 201
    signature = investigator.get(f"/subjects/{subject}").json["signatures"][0]
    head = store.read_stream(subject)[-2]
    assert (signature["meaning"], signature["printed_name"], signature["valid"]) == (
        "approval", "Investigator", True)
    assert (signature["covers_position"], signature["covers_hash"]) == (head.position,
                                                                        head.hash)
    later = staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count())
    signature = investigator.get(f"/subjects/{subject}").json["signatures"][0]
    assert signature["valid"] is False
    assert signature["invalidated_by_position"] == later.json["position"]


def test_a_wrong_signature_password_signs_nothing_and_counts_toward_lockout(
        as_user, subject, store):
    investigator = as_user("investigator")
    before = len(store.read_stream(subject))
    for _ in range(5):
        reply = investigator.post(f"/subjects/{subject}/signatures",
                                  {"password": "wrong-one", "meaning": "review"})
        assert reply.status_code == 403
    assert len(store.read_stream(subject)) == before
    locked = investigator.client.post("/api/v1/auth/token", json={
        "username": "investigator", "password": PASSWORD})
    assert locked.status_code == 401
    assert locked.json["error"]["code"] == "invalid_credentials"  # a lock is not revealed


def test_five_failed_logins_lock_the_account_and_are_recorded(anonymous, as_user):
    for _ in range(5):
        reply = anonymous.post("/auth/token", {"username": "staff", "password": "nope-nope"})
        assert reply.json["error"]["code"] == "invalid_credentials"
    reply = anonymous.post("/auth/token", {"username": "staff", "password": PASSWORD})
    assert reply.json["error"]["code"] == "invalid_credentials"  # a lock is not revealed
    events = as_user("auditor").get("/security/events").json["events"]
    kinds = [e["type"] for e in events if e["data"].get("username") == "staff"]
    assert kinds.count("LoginFailed") == 5 and "AccountLocked" in kinds
    assert all("password_hash" not in e["data"] for e in events)


def test_site_staff_may_not_read_the_security_events(staff):
    assert staff.get("/security/events").status_code == 403


def test_logout_revokes_the_token(staff):
    assert staff.post("/auth/logout").status_code == 204
    reply = staff.get("/subjects")
    assert reply.status_code == 401
    assert reply.json["error"]["code"] == "token_revoked"


def test_a_locked_casebook_refuses_data_but_shows_the_lock_and_unlocks_with_a_reason(
        as_user, staff, subject, entry, store):
    dm = as_user("dm")
    query_id = dm.post(f"/subjects/{subject}/queries",
                       {"entry_id": entry, "field": "platelets", "text": "?"}).json["query_id"]
    assert dm.post(f"/subjects/{subject}/lock", {"reason": "interim analysis"}).status_code == 201
    before = store.count()
    for path, body in [(f"/subjects/{subject}/forms/platelet_count", platelet_count()),
                       (f"/subjects/{subject}/entries/{entry}/corrections",
                        {"changes": {"platelets": 1}, "reason": "x"}),
                       (f"/subjects/{subject}/queries/{query_id}/answer", {"text": "ok"})]:
        reply = staff.post(path, body)
        assert (reply.status_code, reply.json["error"]["code"]) == (409, "casebook_locked")
    assert store.count() == before
    book = staff.get(f"/subjects/{subject}").json
    assert (book["locked"], book["lock_reason"]) == (True, "interim analysis")
    assert staff.get(f"/subjects/{subject}/queries").status_code == 200
    assert dm.post(f"/subjects/{subject}/unlock", {}).status_code == 422
    assert dm.post(f"/subjects/{subject}/unlock", {"reason": "query resolution"}
                   ).status_code == 201
    assert staff.post(f"/subjects/{subject}/forms/platelet_count",
                      platelet_count()).status_code == 201


def test_a_locked_trial_refuses_every_write_but_the_unlock(as_user, staff, subject, store):
    dm = as_user("dm")
    assert dm.post("/trial/lock", {"reason": "database lock"}).status_code == 201
    before = store.count()
    assert staff.post("/subjects", registration("ITP-002")).json["error"]["code"] == (
        "trial_locked")
    assert staff.post(f"/subjects/{subject}/forms/platelet_count",
                      platelet_count()).status_code == 409
    assert dm.post(f"/subjects/{subject}/lock", {"reason": "x"}).status_code == 409
    assert store.count() == before
    assert dm.post("/trial/unlock", {"reason": "reopened for a late SAE"}).status_code == 201
    assert staff.post("/subjects", registration("ITP-002")).status_code == 201
