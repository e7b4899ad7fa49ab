"""A write's answer names what it created: the entry or the query, the values the server derived,
the automatic queries it opened, and the casebook version after it (issue 14, item 2)."""

from __future__ import annotations

from tests.api.conftest import PASSWORD, platelet_count


def test_a_form_answer_shows_derived_values_and_the_automatic_queries_it_opened(staff, subject,
                                                                              store):
    reply = staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count(platelets=1500))
    assert reply.status_code == 201
    body = reply.json
    assert "query_id" not in body and body["derived"] == {}
    [opened] = body["automatic_queries"]
    assert (opened["entry_id"], opened["field"], opened["check"]) == (
        body["entry_id"], "platelets", "unexpected_value")
    book = staff.get(f"/subjects/{subject}").json
    assert opened["query_id"] in {q["query_id"] for q in book["queries"] if q["automatic"]}


def test_derived_flags_are_in_the_answer_of_the_write_that_stored_them(staff, subject):
    reply = staff.post(f"/subjects/{subject}/forms/lymphodepletion", {
        "visit": "LD", "administered_on": "2026-01-29", "height_cm": 165, "weight_kg": 60,
        "fludarabine_mg": 80, "cyclophosphamide_mg": 500})
    derived = reply.json["derived"]
    assert derived["bsa_m2"] == 1.66 and "fludarabine_dose_deviation" in derived["flags"]
    assert {q["check"] for q in reply.json["automatic_queries"]} >= {
        "fludarabine_dose_deviation"}


def test_a_replay_gives_the_same_automatic_queries(staff, subject):
    key = {"Idempotency-Key": "replay-auto-1"}
    first = staff.post(f"/subjects/{subject}/forms/platelet_count",
                       platelet_count(platelets=1500), headers=key)
    again = staff.post(f"/subjects/{subject}/forms/platelet_count",
                       platelet_count(platelets=1500), headers=key)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json and len(first.json["automatic_queries"]) == 1


def test_query_steps_name_the_query_and_locks_and_signatures_no_entry(as_user, staff, subject):
    entry = staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count()).json[
        "entry_id"]
    monitor, dm = as_user("monitor"), as_user("dm")
    opened = monitor.post(f"/subjects/{subject}/queries",
                          {"entry_id": entry, "field": "platelets", "text": "Source?"}).json
    assert "entry_id" not in opened and len(opened["query_id"]) == 32
    assert "automatic_queries" not in opened and "derived" not in opened
    closed = monitor.post(f"/subjects/{subject}/queries/{opened['query_id']}/close", {}).json
    assert closed["query_id"] == opened["query_id"]
    signed = as_user("investigator").post(f"/subjects/{subject}/signatures",
                                          {"password": PASSWORD, "meaning": "review"}).json
    locked = dm.post(f"/subjects/{subject}/lock", {"reason": "interim"}).json
    for body in (signed, locked):
        assert not {"entry_id", "query_id", "derived", "automatic_queries"} & set(body)
        assert {"subject_id", "position", "stream_version", "receipt"} <= set(body)


def test_an_answer_with_a_correction_gives_the_version_after_both_events(as_user, staff,
                                                                       subject):
    entry = staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count()).json[
        "entry_id"]
    query = as_user("monitor").post(f"/subjects/{subject}/queries", {
        "entry_id": entry, "field": "platelets", "text": "48?"}).json["query_id"]
    answer = staff.post(f"/subjects/{subject}/queries/{query}/answer",
                        {"text": "corrected", "changes": {"platelets": 48}}).json
    assert (answer["query_id"], answer["entry_id"]) == (query, entry)
    assert answer["stream_version"] == staff.get(f"/subjects/{subject}").json["stream_version"]
    follow = staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count(),
                        headers={"If-Match": str(answer["stream_version"])})
    assert follow.status_code == 201


def test_a_body_that_is_not_json_is_told_to_be_sent_as_json(anonymous, store):
    before = store.count()
    reply = anonymous.client.post("/api/v1/auth/token", data="username=demo&password=x",
                                  content_type="application/x-www-form-urlencoded")
    assert reply.status_code == 400 and reply.json["error"]["code"] == "invalid_json"
    assert "Content-Type: application/json" in reply.json["error"]["message"]
    assert store.count() == before


def test_missing_login_fields_are_named_in_words(anonymous):
    reply = anonymous.post("/auth/token", {"username": "staff"})
    assert reply.status_code == 422
    assert reply.json["error"]["message"] == "the request has invalid or missing fields: see fields"
    assert "password" in reply.json["error"]["fields"]


def test_a_bad_subject_id_is_explained_without_a_regular_expression(staff, store):
    from tests.api.conftest import registration

    reply = staff.post("/subjects", registration("itp 1"))
    assert reply.json["error"]["fields"]["subject_id"] == [
        "Not valid: use 3 to 20 capital letters, digits or '-', e.g. ITP-101."]
