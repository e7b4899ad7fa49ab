"""Locks mean locked (#11 item 6): every write a lock refuses, one by one (docs/locks.md).

A trial lock refuses every write except ``POST /trial/unlock`` (409 ``trial_locked``); a
casebook lock refuses every write to that casebook except its unlock (409
``casebook_locked``). Reads, logins, audit views and exports still work. Each refusal
appends nothing.
"""

from __future__ import annotations

import pytest

from tests.api.conftest import PASSWORD, platelet_count, registration
from tests.api.examples import valid

S, E, Q, A = "{subject}", "{entry}", "{open_query}", "{answered_query}"
#: (user, path, body) of every write to a subject, valid were the record not locked.
SUBJECT_WRITES = [
    ("staff", f"/subjects/{S}/forms/platelet_count", platelet_count(visit="D14")),
    ("investigator", f"/subjects/{S}/forms/ie_checklist", valid("ie_checklist")),
    ("staff", f"/subjects/{S}/entries/{E}/corrections",
     {"changes": {"platelets": 43}, "reason": "re-read the report"}),
    ("staff", f"/subjects/{S}/entries/{E}/void", {"reason": "wrong subject"}),
    ("monitor", f"/subjects/{S}/queries", {"entry_id": E, "field": "platelets", "text": "?"}),
    ("staff", f"/subjects/{S}/queries/{Q}/answer", {"text": "as per source"}),
    ("monitor", f"/subjects/{S}/queries/{Q}/close", {}),
    ("monitor", f"/subjects/{S}/queries/{Q}/cancel", {"text": "raised in error"}),
    ("monitor", f"/subjects/{S}/queries/{A}/reopen", {"text": "still unclear"}),
    ("monitor", f"/subjects/{S}/entries/{E}/verify", None),
    ("investigator", f"/subjects/{S}/signatures", {"password": PASSWORD, "meaning": "review"}),
]
TRIAL_ONLY_WRITES = [
    ("staff", "/subjects", registration("ITP-009")),
    ("dm", f"/subjects/{S}/lock", {"reason": "interim analysis"}),
    ("dm", f"/subjects/{S}/unlock", {"reason": "late result"}),
]
READS = [
    ("staff", f"/subjects/{S}"), ("staff", f"/subjects/{S}/history"),
    ("staff", "/subjects"), ("monitor", "/queries"), ("staff", "/trial/summary"),
    ("auditor", "/audit"), ("auditor", f"/subjects/{S}/audit-trail"),
    ("auditor", "/audit/verify"), ("auditor", "/export/csv"), ("auditor", "/export/odm"),
    ("auditor", "/security/events"),
]


def fill(value, ids: dict[str, str]):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    return value


@pytest.fixture
def users(as_user) -> dict:
    return {name: as_user(name) for name in ("staff", "investigator", "monitor", "dm",
                                             "auditor")}


@pytest.fixture
def world(users, subject) -> dict[str, str]:
    staff, monitor = users["staff"], users["monitor"]
    entry = staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count()).json
    ids = {"subject": subject, "entry": entry["entry_id"]}
    for name in ("open_query", "answered_query"):
        reply = monitor.post(f"/subjects/{subject}/queries", {
            "entry_id": ids["entry"], "field": "platelets", "text": "check"})
        assert reply.status_code == 201, reply.json
        ids[name] = reply.json.get("query_id") or reply.json["entry_id"]
    answered = staff.post(f"/subjects/{subject}/queries/{ids['answered_query']}/answer",
                          {"text": "as per source"})
    assert answered.status_code == 201, answered.json
    other = staff.post("/subjects", registration("ITP-002"))
    assert other.status_code == 201, other.json
    return ids


def _refused(reply, code: str, store, before: int) -> None:
    assert reply.status_code == 409, reply.json
    assert reply.json["error"]["code"] == code, reply.json
    assert store.count() == before


@pytest.mark.parametrize(("who", "path", "body"), SUBJECT_WRITES + TRIAL_ONLY_WRITES,
                         ids=[p for _, p, _ in SUBJECT_WRITES + TRIAL_ONLY_WRITES])
def test_a_trial_lock_refuses_every_write(users, world, store, who, path, body):
    assert users["dm"].post("/trial/lock", {"reason": "database lock"}).status_code == 201
    before = store.count()
    _refused(users[who].post(fill(path, world), fill(body, world)), "trial_locked", store,
             before)


@pytest.mark.parametrize(("who", "path", "body"), SUBJECT_WRITES,
                         ids=[p for _, p, _ in SUBJECT_WRITES])
def test_a_casebook_lock_refuses_every_write_to_that_casebook(users, world, store, who, path,
                                                              body):
    assert users["dm"].post(f"/subjects/{world['subject']}/lock",
                            {"reason": "interim analysis"}).status_code == 201
    before = store.count()
    _refused(users[who].post(fill(path, world), fill(body, world)), "casebook_locked", store,
             before)


@pytest.mark.parametrize(("who", "path", "body"), SUBJECT_WRITES,
                         ids=[p for _, p, _ in SUBJECT_WRITES])
def test_each_write_is_accepted_again_after_the_unlock(users, world, store, who, path, body):
    dm = users["dm"]
    assert dm.post("/trial/lock", {"reason": "database lock"}).status_code == 201
    assert dm.post("/trial/unlock", {"reason": "late data"}).status_code == 201
    subject = world["subject"]
    assert dm.post(f"/subjects/{subject}/lock", {"reason": "review"}).status_code == 201
    assert dm.post(f"/subjects/{subject}/unlock", {"reason": "late data"}).status_code == 201
    reply = users[who].post(fill(path, world), fill(body, world))
    assert reply.status_code == 201, reply.json


def test_a_casebook_lock_leaves_other_casebooks_writable(users, world, store):
    assert users["dm"].post(f"/subjects/{world['subject']}/lock",
                            {"reason": "interim"}).status_code == 201
    reply = users["staff"].post("/subjects/ITP-002/forms/platelet_count", platelet_count())
    assert reply.status_code == 201, reply.json


@pytest.mark.parametrize("lock", ["trial", "casebook"])
def test_reads_logins_audit_views_and_exports_still_work_under_a_lock(users, world, store,
                                                                      as_user, lock):
    path = "/trial/lock" if lock == "trial" else f"/subjects/{world['subject']}/lock"
    assert users["dm"].post(path, {"reason": "database lock"}).status_code == 201
    for who, read in READS:
        reply = users[who].get(fill(read, world))
        assert reply.status_code == 200, (read, reply.json)
    before = {e.type for e in store.iter_all()}
    assert as_user("monitor").token  # a login is still accepted (and recorded)
    assert "AuditViewed" in before and "ExportGenerated" in before


def test_the_trial_unlock_is_the_write_a_trial_lock_lets_through(users, world, store):
    dm = users["dm"]
    assert dm.post("/trial/lock", {"reason": "database lock"}).status_code == 201
    _refused(dm.post("/trial/lock", {"reason": "again"}), "trial_lock_unchanged", store,
             store.count())
    assert dm.post("/trial/unlock", {"reason": "late data"}).status_code == 201
    assert users["staff"].post(f"/subjects/{world['subject']}/forms/platelet_count",
                               platelet_count(visit="D14")).status_code == 201
