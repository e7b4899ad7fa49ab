"""Only an investigator attests eligibility: the ie_checklist is an investigator's form.

Issue #11 item 7: site staff could submit ``investigator_confirms_eligible: true`` and the
subject became eligible with no investigator. Submitting, correcting, voiding the checklist,
and correcting it through a query answer, are the investigator's; site staff get 403.
"""

from __future__ import annotations

from tests.api.examples import valid


def _checklist(api, subject: str, **changes):
    return api.post(f"/subjects/{subject}/forms/ie_checklist", valid("ie_checklist", **changes))


def test_site_staff_cannot_attest_eligibility(staff, subject, store):
    before = store.count()
    reply = _checklist(staff, subject)
    assert reply.status_code == 403, reply.json
    assert reply.json["error"]["code"] == "forbidden"
    assert store.count() == before
    status = staff.get(f"/subjects/{subject}/eligibility").json["status"]
    assert status != "eligible"


def test_the_investigator_attests_eligibility(as_user, subject, store):
    reply = _checklist(as_user("investigator"), subject)
    assert reply.status_code == 201, reply.json
    event = next(e for e in store.read_stream(subject) if e.position == reply.json["position"])
    assert event.metadata["role"] == "investigator"


def test_site_staff_cannot_correct_or_void_the_checklist(staff, as_user, subject, store):
    entry = _checklist(as_user("investigator"), subject,
                       investigator_confirms_eligible=False).json["entry_id"]
    before = store.count()
    correction = staff.post(f"/subjects/{subject}/entries/{entry}/corrections", {
        "changes": {"investigator_confirms_eligible": True}, "reason": "forgot to tick"})
    voided = staff.post(f"/subjects/{subject}/entries/{entry}/void", {"reason": "duplicate"})
    assert (correction.status_code, voided.status_code) == (403, 403), (correction.json,
                                                                      voided.json)
    assert store.count() == before


def test_site_staff_cannot_attest_through_a_query_answer(staff, as_user, subject, store):
    entry = _checklist(as_user("investigator"), subject,
                       investigator_confirms_eligible=False).json["entry_id"]
    query = as_user("monitor").post(f"/subjects/{subject}/queries", {
        "entry_id": entry, "field": "investigator_confirms_eligible", "text": "confirm?"})
    assert query.status_code == 201, query.json
    query_id = query.json.get("query_id") or query.json.get("entry_id")
    before = store.count()
    reply = staff.post(f"/subjects/{subject}/queries/{query_id}/answer", {
        "text": "confirmed", "changes": {"investigator_confirms_eligible": True}})
    assert reply.status_code == 403, reply.json
    assert store.count() == before
    answer = as_user("investigator").post(
        f"/subjects/{subject}/queries/{query_id}/answer",
        {"text": "confirmed", "changes": {"investigator_confirms_eligible": True}})
    assert answer.status_code == 201, answer.json
