"""The trial summary lists every overdue visit of every subject, as of the request (#11 item 8).

It used to answer ``"overdue_visits": []`` always, while each subject's schedule showed its
overdue visits: the read model was built "as of" date.max and the summary asked for "due".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ecrf.accounts.model import User
from ecrf.builder import SubjectBuilder

STAFF = User("overdue.staff", "site_staff", ("SITE-01", "SITE-02"), "Overdue Staff")


def _treated(store, subject_id: str, days_ago: int, site: str = "SITE-01") -> SubjectBuilder:
    today = datetime.now(UTC).date()
    subject = SubjectBuilder(store, subject_id, user=STAFF, day0=today - timedelta(days=days_ago),
                             site_id=site)
    subject.full_screening()
    subject.treat()
    return subject


def _overdue_in_schedules(api, subject_ids: list[str]) -> list[tuple[str, str]]:
    found = []
    for subject_id in subject_ids:
        reply = api.get(f"/subjects/{subject_id}/schedule")
        assert reply.status_code == 200, reply.json
        found += [(subject_id, v["visit"]) for v in reply.json["visits"]
                  if v["status"] == "overdue"]
    return found


def test_the_summary_lists_each_overdue_visit_of_each_subject(as_user, store):
    _treated(store, "ITP-001", 100)
    recent = _treated(store, "ITP-002", 30)
    recent.platelets(7, 40, visit="D7")
    _treated(store, "ITP-003", 2)  # nothing overdue yet
    dm = as_user("dm")
    reply = dm.get("/trial/summary")
    assert reply.status_code == 200, reply.json
    listed = [(v["subject_id"], v["visit"]) for v in reply.json["overdue_visits"]]
    expected = _overdue_in_schedules(dm, ["ITP-001", "ITP-002", "ITP-003"])
    assert len(expected) > 5
    assert sorted(listed) == sorted(expected)
    assert ("ITP-002", "D7") not in listed and ("ITP-002", "D14") in listed
    assert not [s for s, _ in listed if s == "ITP-003"]
    today = datetime.now(UTC).date().isoformat()
    assert all(v["window_end"] < today for v in reply.json["overdue_visits"])


def test_the_summary_shows_only_the_callers_sites(as_user, store):
    _treated(store, "ITP-001", 100)
    _treated(store, "ITP-002", 100, site="SITE-02")
    listed = {v["subject_id"] for v in as_user("staff").get("/trial/summary")
              .json["overdue_visits"]}
    assert listed == {"ITP-001"}
    everyone = {v["subject_id"] for v in as_user("dm").get("/trial/summary")
                .json["overdue_visits"]}
    assert everyone == {"ITP-001", "ITP-002"}


def test_a_visit_entered_late_leaves_the_list(as_user, store):
    subject = _treated(store, "ITP-001", 100)
    dm = as_user("dm")
    assert ("ITP-001", "D7") in {(v["subject_id"], v["visit"]) for v in
                                 dm.get("/trial/summary").json["overdue_visits"]}
    subject.platelets(7, 40, visit="D7")
    assert ("ITP-001", "D7") not in {(v["subject_id"], v["visit"]) for v in
                                     dm.get("/trial/summary").json["overdue_visits"]}
