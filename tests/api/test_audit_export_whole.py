"""Audit exports are whole, or say plainly that they are not (#11 item 2, and item 9's filters).

Without ``limit`` the JSON and CSV trails hold every row (streamed); with ``limit`` each page
names the next one in ``Link: <...>; rel="next"`` and ``next_after``, and the last page names
none. Filters with a value that cannot occur are refused with 422 naming the allowed values.
"""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import urlsplit

import pytest

from projections.audit_trail import audit_rows
from tests.scenario import Subject, at

LINK = re.compile(r'^<([^>]+)>; rel="next"$')


@pytest.fixture
def big_trail(store) -> int:
    """More than 1,000 audit rows at two sites, entered through the command layer."""
    for n, site in ((1, "SITE-01"), (2, "SITE-01"), (3, "SITE-02"), (4, "SITE-01")):
        subject = Subject(store, f"ITP-{n:03d}", site_id=site)
        for day in range(20):
            subject.screening_labs(platelets=10 + day, collected_at=at(-40 + day))
    rows = sum(1 for _ in audit_rows(store.iter_all()))
    assert rows > 1000
    return rows


def _csv_rows(reply) -> list[dict]:
    return list(csv.DictReader(io.StringIO(reply.get_data(as_text=True))))


def test_the_json_trail_is_whole_without_limit(as_user, store, big_trail):
    reply = as_user("auditor").get("/audit")
    assert reply.status_code == 200
    assert reply.is_streamed
    assert "Link" not in reply.headers
    body = reply.get_json()
    assert body["count"] == len(body["rows"]) == big_trail
    assert body["next_after"] is None
    positions = [r["position"] for r in body["rows"]]
    assert positions == sorted(positions)


def test_the_csv_trail_is_whole_without_limit(as_user, store, big_trail):
    reply = as_user("auditor").get("/audit?format=csv")
    assert reply.status_code == 200 and reply.mimetype == "text/csv"
    assert reply.is_streamed
    rows = _csv_rows(reply)
    assert len(rows) == big_trail
    assert {r["subject_id"] for r in rows} == {"ITP-001", "ITP-002", "ITP-003", "ITP-004"}


def test_a_site_user_sees_the_whole_trail_of_their_sites_only(as_user, store, big_trail):
    monitor = as_user("monitor")  # SITE-01 only; audit.read allows monitors
    rows = monitor.get("/audit").get_json()["rows"]
    expected = sum(1 for r in audit_rows(store.iter_all()) if r["site_id"] == "SITE-01")
    assert len(rows) == expected > 1000 * 3 // 4 - 1
    assert {r["site_id"] for r in rows} == {"SITE-01"}


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_pages_name_the_next_one_until_the_trail_is_whole(as_user, store, big_trail, fmt):
    auditor = as_user("auditor")
    url, seen, pages = f"/api/v1/audit?limit=300&format={fmt}", [], 0
    while url:
        reply = auditor.client.get(url, headers=auditor._headers(None))
        assert reply.status_code == 200, reply.data
        pages += 1
        rows = _csv_rows(reply) if fmt == "csv" else reply.get_json()["rows"]
        assert rows
        seen += [int(r["position"]) for r in rows]
        link = reply.headers.get("Link")
        if fmt == "json":
            assert (reply.get_json()["next_after"] is None) == (link is None)
        if link is None:
            break
        match = LINK.match(link)
        assert match, link
        parts = urlsplit(match.group(1))
        url = f"{parts.path}?{parts.query}"
        assert f"after={rows[-1]['position']}" in parts.query
    whole = [r["position"] for r in audit_rows(store.iter_all())]
    assert pages >= 4
    assert seen == whole


def test_a_page_never_splits_one_events_rows(as_user, store, big_trail):
    page = as_user("auditor").get("/audit?limit=5").get_json()
    positions = {r["position"] for r in page["rows"]}
    assert len(positions) == 1 and len(page["rows"]) > 5  # one screening_labs: ~14 rows
    assert page["next_after"] == page["rows"][-1]["position"]


def test_a_limit_above_the_old_cap_is_honoured(as_user, store, big_trail):
    body = as_user("auditor").get("/audit?limit=100000").get_json()
    assert body["count"] == big_trail and body["next_after"] is None


@pytest.mark.parametrize("name", ["from", "to"])
def test_time_filters_answer_and_are_recorded(as_user, store, big_trail, name):
    auditor = as_user("auditor")
    moment = "2000-01-01T00:00:00+00:00" if name == "from" else "2999-01-01T00:00:00Z"
    reply = auditor.get("/audit", query_string={name: moment, "limit": "10"})
    assert reply.status_code == 200, reply.json
    assert reply.json["rows"]
    view = store.read_stream("audit-log")[-1]
    assert view.data == {"view": "trial_audit_trail",
                         "filters": {name: moment, "limit": "10"}}


@pytest.mark.parametrize(("query", "field", "allowed"), [
    ("type=Nope", "type", "EntryCorrected"),
    ("role=bogus", "role", "site_staff"),
    ("format=xlsx", "format", "csv"),
])
def test_unknown_filter_values_are_refused_naming_the_allowed_ones(as_user, store, query,
                                                                   field, allowed):
    auditor = as_user("auditor")
    before = store.count()
    reply = auditor.get(f"/audit?{query}")
    assert reply.status_code == 422, reply.json
    assert reply.json["error"]["code"] == "invalid_filter"
    assert allowed in reply.json["error"]["fields"][field][0]
    assert store.count() == before


def test_an_unknown_argument_is_refused_not_ignored(as_user, store):
    auditor = as_user("auditor")
    before = store.count()
    reply = auditor.get("/audit?subjekt=ITP-001")
    assert reply.status_code == 400, reply.json
    assert "subjekt" in reply.json["error"]["fields"]
    assert store.count() == before


def test_the_other_lists_return_every_item(as_user, store, big_trail):
    auditor = as_user("auditor")
    subjects = auditor.get("/subjects").get_json()["subjects"]
    assert [s["subject_id"] for s in subjects] == ["ITP-001", "ITP-002", "ITP-003", "ITP-004"]
    security = auditor.get("/security/events").get_json()["events"]
    expected = [e.position for e in store.iter_all()
                if e.stream_id.startswith("user:") or e.stream_id == "security"]
    assert [e["position"] for e in security] == expected
    history = auditor.get("/subjects/ITP-001/history").get_json()["events"]
    assert len(history) == len(store.read_stream("ITP-001")) > 20
