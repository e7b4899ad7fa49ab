"""GET /audit and GET /queries from their read models answer what the fold of the log answers.

Every request is sent twice: to the endpoint, served from ``rm_audit_events`` / ``rm_queries``,
and to the reference (tests/reference_views.py: the old fold of the whole log), on a trial of
three sites with corrections (one clearing a field), voids, queries in every state, automatic
queries, verifications, signatures and locks. The bodies must be the same bytes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from ecrf.accounts.model import User
from ecrf.accounts.service import create_user
from ecrf.builder import SubjectBuilder
from projections.audit_trail import audit_rows as audit_rows_of
from projections.readmodel.reads import TrailQuery, query_list, trail_rows, trail_texts
from projections.readmodel.runner import ProjectionRunner
from projections.readmodel.tables import audit_events, checkpoints, queries
from tests.api.conftest import PASSWORD
from tests.reference_views import install, reference_query_rows
from tests.scenario import DAY0, Subject

SITE3_STAFF = User("site3.staff", "site_staff", ("SITE-03",), "Site Three Staff")


@pytest.fixture
def reference(app):
    """The reference views, mounted before the first request; a monitor of sites 2 and 3."""
    install(app)
    create_user(app.extensions["ecrf"].store, "monitor23", PASSWORD, "monitor",
                ["SITE-02", "SITE-03"], "Monitor Two Three")
    return app


@pytest.fixture
def trial(reference, as_user, store) -> dict:
    """Three sites; every kind of audit row; queries open, answered, closed, cancelled,
    re-opened and automatic; a signature later invalidated; a lock and an unlock."""
    monitor, dm, investigator = as_user("monitor"), as_user("dm"), as_user("investigator")
    staff = as_user("staff")
    one = Subject(store, "ITP-001")
    one.full_screening(platelets=12)
    one.treat()
    count = one.platelets(7, 42, visit="D7")
    wrong = one.platelets(8, 1200)  # trips the range check: an automatic query (system)
    one.correct(wrong, reason="Plättchen: Komma vergessen, ≥ 100", platelets=120)
    one.void(one.platelets(9, 50), reason="=HYPERLINK(\"x\") entered twice")
    one.correct(one.vitals(1, temperature_c=38.2, heart_rate=90), reason="cleared",
                heart_rate=None)
    two = Subject(store, "ITP-002", site_id="SITE-02")
    two.screening_labs(platelets=20)
    two_count = two.platelets(3, 30)
    three = SubjectBuilder(store, "ITP-003", user=SITE3_STAFF, day0=DAY0, site_id="SITE-03",
                           consent_date="2026-01-05", screening_date="2026-01-06")
    three_count = three.platelets(2, 25)

    def query(api, subject, entry, field="platelets", text="Source says otherwise?") -> str:
        reply = api.post(f"/subjects/{subject}/queries",
                         {"entry_id": entry, "field": field, "text": text})
        assert reply.status_code == 201, reply.json
        return reply.json["query_id"]

    def step(api, path, body) -> None:
        reply = api.post(path, body)
        assert reply.status_code == 201, (path, reply.json)

    query(monitor, "ITP-001", count)  # stays open
    q_answered = query(monitor, "ITP-001", count, text="Und die Einheit?")
    step(staff, f"/subjects/ITP-001/queries/{q_answered}/answer",
         {"text": "corrected", "changes": {"platelets": 44}})
    q_closed = query(monitor, "ITP-001", count, text="Date?")
    step(staff, f"/subjects/ITP-001/queries/{q_closed}/answer", {"text": "as on the source"})
    step(monitor, f"/subjects/ITP-001/queries/{q_closed}/close", {})
    q_reopened = query(dm, "ITP-002", two_count)
    step(dm, f"/subjects/ITP-002/queries/{q_reopened}/close", {})
    step(dm, f"/subjects/ITP-002/queries/{q_reopened}/reopen", {"text": "and the lot?"})
    q_cancelled = query(dm, "ITP-003", three_count)
    step(dm, f"/subjects/ITP-003/queries/{q_cancelled}/cancel", {"text": "raised in error"})
    step(monitor, f"/subjects/ITP-001/entries/{count}/verify", {})
    step(investigator, "/subjects/ITP-001/signatures",
         {"password": PASSWORD, "meaning": "approval"})
    step(dm, "/subjects/ITP-002/lock", {"reason": "interim analysis"})
    step(dm, "/subjects/ITP-002/unlock", {"reason": "late lab result"})
    one.platelets(30, 140)  # after the signature: invalidates it
    states = {row["state"] for row in reference_query_rows(
        store, User("x", "auditor", ("*",), "X"), None, None, datetime.now(UTC))}
    assert states == {"open", "answered", "closed", "cancelled"}
    return {"count": count, "wrong": wrong}


def same(api, path: str) -> tuple:
    """Send ``path`` to the endpoint and to the reference; assert the same answer."""
    new = api.get(path)
    old = api.get(path.replace("/audit", "/reference/audit", 1)
                  .replace("/queries", "/reference/queries", 1))
    assert new.status_code == old.status_code == 200, (path, new.data[:300])
    assert new.get_data() == old.get_data(), path
    assert new.mimetype == old.mimetype
    assert new.headers.get("Content-Disposition") == old.headers.get("Content-Disposition")
    link = old.headers.get("Link")
    assert new.headers.get("Link") == (link.replace("/reference/audit", "/audit")
                                       if link else None)
    return new


AUDIT_FILTERS = [
    {}, {"subject": "ITP-001"}, {"subject": "ITP-003"}, {"subject": "ITP-999"},
    {"user": "scenario.staff"}, {"user": "system"}, {"user": "monitor"},
    {"role": "data_manager"}, {"role": "system"}, {"role": "investigator"},
    {"type": "EntryCorrected"}, {"type": "EntryVoided"}, {"type": "QueryOpened"},
    {"type": "CasebookSigned"}, {"type": "CasebookLocked"}, {"type": "PlateletCountRecorded"},
    {"subject": "ITP-001", "type": "EntryCorrected"},
    {"subject": "ITP-002", "role": "data_manager", "type": "QueryReopened"},
    {"user": "dm", "type": "QueryOpened"},
]


@pytest.mark.parametrize("fmt", ["json", "csv"])
@pytest.mark.parametrize("filters", AUDIT_FILTERS, ids=lambda f: urlencode(f) or "all")
def test_the_audit_trail_equals_the_fold(as_user, trial, filters, fmt):
    auditor = as_user("auditor")
    for extra in ({}, {"limit": "1"}, {"limit": "7"}, {"limit": "100000"}, {"after": "40"},
                  {"after": "40", "limit": "5"}):
        same(auditor, "/audit?" + urlencode({**filters, **extra, "format": fmt}))


def test_every_page_and_time_window_equals_the_fold(as_user, store, trial):
    """Follow the pages from after=0 at several sizes; windows by recorded_at."""
    auditor = as_user("auditor")
    for limit in (1, 3, 10, 50):
        after, pages = 0, 0
        while after is not None:
            body = same(auditor, f"/audit?limit={limit}&after={after}").json
            after, pages = body["next_after"], pages + 1
        assert pages > 1
    moments = [e.recorded_at for e in store.iter_all()]
    middle = moments[len(moments) // 2]
    for start, end in ((middle, None), (None, middle), (moments[3], middle),
                       (middle + timedelta(microseconds=1), None), (moments[-1], None)):
        args = {"from": start.isoformat()} if start else {}
        if end:
            args["to"] = end.isoformat()
        for extra in ({}, {"limit": "4"}, {"format": "csv"}):
            same(auditor, "/audit?" + urlencode({**args, **extra}))
    offset = middle.astimezone(datetime.now().astimezone().tzinfo).isoformat()
    same(auditor, "/audit?" + urlencode({"from": offset, "role": "site_staff"}))


@pytest.mark.parametrize("who", ["monitor", "monitor23", "dm", "auditor"])
def test_each_caller_sees_the_same_sites_as_the_fold(as_user, trial, who):
    api = as_user(who)
    for path in ("/audit", "/audit?limit=5", "/audit?format=csv", "/audit?type=QueryOpened",
                 "/queries", "/queries?state=open", "/queries?state=closed"):
        same(api, path)
    sites = {r["site_id"] for r in api.get("/audit").json["rows"]}
    assert sites == {"monitor": {"SITE-01"}, "monitor23": {"SITE-02", "SITE-03"}}.get(
        who, {"SITE-01", "SITE-02", "SITE-03"})


@pytest.mark.parametrize("state", [None, "open", "answered", "closed", "cancelled"])
def test_the_query_list_equals_the_fold(as_user, trial, state):
    auditor = as_user("auditor")
    for days in (None, "0", "1", "999999"):
        args = {k: v for k, v in (("state", state), ("older_than_days", days)) if v}
        body = same(auditor, "/queries?" + urlencode(args)).json
        if state and days in (None, "0"):
            assert body["queries"], state


def test_older_than_days_is_decided_at_the_moment_of_the_request(app, store, trial):
    """age_days and older_than_days at the edge: the same as the fold for any 'now'."""
    app.extensions["ecrf"].runner.catch_up()  # what the endpoint does first
    auditor = User("auditor", "auditor", ("*",), "Auditor")
    opened = [datetime.fromisoformat(q["opened_at"]) for q in reference_query_rows(
        store, auditor, None, None, datetime.now(UTC))]
    for now in (opened[0] + timedelta(days=2), opened[0] + timedelta(days=2, microseconds=-1),
                opened[-1] + timedelta(days=3, hours=5), opened[2] + timedelta(days=2)):
        for older in (None, timedelta(days=2), timedelta(days=3)):
            for state in (None, "open"):
                expected = reference_query_rows(store, auditor, state, older, now)
                assert query_list(store.engine, sites=None, state=state, older_than=older,
                                  now=now) == expected
    edge = query_list(store.engine, sites=None, state=None, older_than=timedelta(days=2),
                      now=opened[0] + timedelta(days=2))
    assert edge and edge[0]["age_days"] == 2.0


def test_a_request_right_after_a_write_sees_it(as_user, store, trial):
    auditor, monitor = as_user("auditor"), as_user("monitor")
    before = auditor.get("/audit?type=QueryOpened").json["count"]
    opened = monitor.post("/subjects/ITP-001/queries", {
        "entry_id": trial["count"], "field": "platelets", "text": "one more"})
    query_id = opened.json["query_id"]
    after = auditor.get("/audit?type=QueryOpened").json
    assert after["count"] == before + 1 and after["rows"][-1]["new_value"] == "one more"
    listed = auditor.get("/queries?state=open").json["queries"]
    assert query_id in {q["query_id"] for q in listed}
    Subject(store, "ITP-004", site_id="SITE-02")  # through the command layer, no request
    assert same(auditor, "/audit?subject=ITP-004").json["count"] > 0


def test_a_rebuild_gives_the_rows_that_catching_up_gave(app, store, trial):
    runner: ProjectionRunner = app.extensions["ecrf"].runner
    runner.catch_up()

    def rows() -> tuple[list, list]:
        with store.engine.connect() as conn:
            return (conn.execute(sa.select(audit_events).order_by(
                        audit_events.c.position)).all(),
                    conn.execute(sa.select(queries).order_by(
                        queries.c.subject_id, queries.c.query_id)).all())

    caught_up = rows()
    assert len(caught_up[0]) > 30 and len(caught_up[1]) == 6
    assert runner.rebuild() == store.count()
    assert rows() == caught_up
    assert runner.catch_up() == 0 and rows() == caught_up


def test_the_views_are_recorded_as_before(as_user, store, trial):
    auditor = as_user("auditor")
    for query in ("type=EntryVoided&limit=3", "format=csv", ""):
        auditor.get(f"/audit?{query}")
        view = store.read_stream("audit-log")[-1]
        given = dict(arg.split("=") for arg in query.split("&") if arg)
        assert view.data == {"view": "trial_audit_trail", "filters": given}
        assert view.metadata["actor"] == "auditor"
    count = len(store.read_stream("audit-log"))
    auditor.get("/queries")
    assert len(store.read_stream("audit-log")) == count  # the query list was never recorded


def test_a_failed_read_model_is_not_served_the_log_is_folded(app, as_user, store, trial,
                                                             monkeypatch):
    """A projection that fails leaves the tables behind the head: the endpoints fold the log
    (the same answer, including the events the read model missed)."""
    runner: ProjectionRunner = app.extensions["ecrf"].runner
    auditor = as_user("auditor")
    auditor.get("/audit")  # caught up

    def broken(*args, **kwargs):
        raise ValueError("a bug in a projection")

    monkeypatch.setattr("projections.readmodel.runner.subject_rows", broken)
    Subject(store, "ITP-005", site_id="SITE-02").platelets(1, 33)
    for path in ("/audit", "/audit?subject=ITP-005", "/audit?limit=4&after=60",
                 "/audit?format=csv", "/queries"):
        same(auditor, path)
        assert runner.status()["failed_position"] is not None
    assert auditor.get("/audit?subject=ITP-005").json["count"] > 0
    with store.engine.connect() as conn:  # the table itself misses them
        assert not conn.execute(sa.select(audit_events).where(
            audit_events.c.subject_id == "ITP-005")).first()
    monkeypatch.undo()
    same(auditor, "/audit?subject=ITP-005")
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(checkpoints.c.failed_position)).scalar() is None
        assert conn.execute(sa.select(audit_events).where(
            audit_events.c.subject_id == "ITP-005")).first()


@pytest.mark.parametrize("chunk", [1, 5, 13])
def test_the_streamed_trail_reads_every_chunk(app, store, trial, chunk):
    """The whole trail is read in keyset chunks of events: none lost or repeated, each
    event's rows whole, as text and as rows."""
    app.extensions["ecrf"].runner.catch_up()
    expected = [row for row in audit_rows_of(store.iter_all()) if row["site_id"] != "SITE-01"]
    query = TrailQuery(sites=("SITE-02", "SITE-03"))
    pieces = list(trail_texts(store.engine, query, chunk=chunk))
    assert sum(count for count, _ in pieces) == len(expected)
    assert ",".join(text for _, text in pieces) == ",".join(
        json.dumps(row, ensure_ascii=False) for row in expected)
    assert list(trail_rows(store.engine, query, chunk=chunk)) == expected


def test_the_query_list_follows_the_apps_json_provider(app, as_user, trial):
    """The stored rows are the provider's compact text; an indenting provider still gets the
    same bytes as the fold (the rows are decoded and written by the provider)."""
    auditor = as_user("auditor")
    assert b'"age_days":' in same(auditor, "/queries").get_data()
    app.json.compact = False
    body = same(auditor, "/queries?state=open").get_data()
    assert b'\n  "queries": [' in body


def test_a_rebuild_that_fails_leaves_the_read_models_as_they_were(app, store, trial,
                                                                  monkeypatch):
    """One transaction: the audit rows written before the failure are rolled back with it."""
    runner: ProjectionRunner = app.extensions["ecrf"].runner
    runner.catch_up()
    Subject(store, "ITP-006", site_id="SITE-02")  # not caught up yet

    def snapshot() -> tuple:
        with store.engine.connect() as conn:
            return (conn.execute(sa.select(audit_events).order_by(
                        audit_events.c.position)).all(),
                    conn.execute(sa.select(queries).order_by(queries.c.query_id)).all(),
                    conn.execute(sa.select(checkpoints.c.position)).scalar())

    before = snapshot()

    def broken(*args, **kwargs):
        raise ValueError("a bug in a projection")

    monkeypatch.setattr("projections.readmodel.runner.subject_rows", broken)
    with pytest.raises(ValueError, match="a bug in a projection"):
        runner.rebuild()
    assert snapshot() == before
    assert before[2] < store.count()
