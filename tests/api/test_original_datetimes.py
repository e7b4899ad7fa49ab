"""Date-times kept as entered, offset included, and no clinical date in the future (#11 items 3-4).

The value the site typed is the original record (ALCOA+): it stays as entered in the event, the
casebook, the audit trail and the CSV export, while the rules compute with its UTC moment and date
it by the calendar of the offset it was entered with.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile

import pytest

from tests.api.conftest import platelet_count
from tests.api.examples import valid

ENTERED = "2026-02-10T01:30:00+02:00"  # 2026-02-09T23:30 in UTC: the UTC date is a day earlier


def _submit(api, subject, form, payload):
    reply = api.post(f"/subjects/{subject}/forms/{form}", payload)
    assert reply.status_code == 201, reply.json
    return reply.json["entry_id"]


@pytest.fixture
def infused(staff, subject):
    _submit(staff, subject, "lymphodepletion", valid("lymphodepletion"))
    _submit(staff, subject, "car_t_infusion", valid("car_t_infusion"))  # 2026-02-03 +08:00
    return subject


def test_a_datetime_is_kept_as_entered_everywhere(as_user, staff, infused, store):
    entry_id = _submit(staff, infused, "platelet_count", platelet_count(collected_at=ENTERED))
    [event] = [e for e in store.read_stream(infused) if e.data.get("entry_id") == entry_id]
    assert event.data["values"]["collected_at"] == ENTERED
    book = staff.get(f"/subjects/{infused}").json
    [entry] = [e for e in book["entries"] if e["entry_id"] == entry_id]
    assert entry["values"]["collected_at"] == ENTERED
    trail = as_user("auditor").get(f"/subjects/{infused}/audit-trail").json
    rows = trail["rows"] if isinstance(trail, dict) else trail
    assert {r["new_value"] for r in rows
            if r["entry_id"] == entry_id and r["field"] == "collected_at"} == {ENTERED}
    archive = zipfile.ZipFile(io.BytesIO(as_user("dm").get("/export/csv").data))
    counts = list(csv.DictReader(io.StringIO(archive.read("platelet_count.csv").decode())))
    assert [r["collected_at"] for r in counts if r["entry_id"] == entry_id] == [ENTERED]
    assert "date-times ISO 8601 as entered, with the offset" in archive.read(
        "README.txt").decode()


def test_the_clinical_date_of_a_count_is_its_date_in_the_entered_offset(staff, infused):
    entry_id = _submit(staff, infused, "platelet_count", platelet_count(collected_at=ENTERED))
    efficacy = staff.get(f"/subjects/{infused}/efficacy").json
    [count] = [c for c in efficacy["counts"] if c["entry_id"] == entry_id]
    assert count["date"] == "2026-02-10"  # not 2026-02-09, its UTC date
    assert count["day"] == 7  # day 0 is 2026-02-03 (10:00 +08:00)
    assert count["collected_at"] == ENTERED
    schedule = staff.get(f"/subjects/{infused}/schedule").json
    assert schedule["day0"] == "2026-02-03"


def test_visit_windows_and_daily_grades_use_the_entered_date(staff, infused):
    # D1's window is day 0-2. 01:00+08:00 on 2026-02-06 is day 3 for the site (2026-02-05 in UTC,
    # day 2): outside the window, and its CRS grade belongs to 2026-02-06.
    entry_id = _submit(staff, infused, "vital_signs", valid(
        "vital_signs", visit="D1", measured_at="2026-02-06T01:00:00+08:00"))
    book = staff.get(f"/subjects/{infused}").json
    [entry] = [e for e in book["entries"] if e["entry_id"] == entry_id]
    assert "outside_visit_window" in entry["derived"]["flags"]
    crs = staff.get(f"/subjects/{infused}/safety").json["crs"]
    assert [d["date"] for d in crs["by_day"]] == ["2026-02-06"]


def test_a_day0_entered_just_after_local_midnight_keeps_the_sites_date(staff, subject):
    _submit(staff, subject, "lymphodepletion", valid("lymphodepletion"))
    _submit(staff, subject, "car_t_infusion",
            valid("car_t_infusion", infused_at="2026-02-03T00:30:00+08:00"))  # UTC: the 2nd
    assert staff.get(f"/subjects/{subject}/schedule").json["day0"] == "2026-02-03"


def test_lab_toxicities_are_ordered_by_instant_not_by_text(staff, infused):
    # 09:00+08:00 (01:00 UTC) happened before 03:00+00:00, although its text sorts after it.
    late = _submit(staff, infused, "chemistry",
                   valid("chemistry", collected_at="2026-02-10T03:00:00+00:00", alt=400))
    early = _submit(staff, infused, "chemistry",
                    valid("chemistry", collected_at="2026-02-10T09:00:00+08:00", alt=400))
    rows = staff.get(f"/subjects/{infused}/safety").json["lab_toxicities"]
    alt = [r["entry_id"] for r in rows if r["test"] == "alt"]
    assert alt.index(early) < alt.index(late)


def test_a_naive_datetime_is_still_refused(staff, subject, store):
    before = store.count()
    reply = staff.post(f"/subjects/{subject}/forms/platelet_count",
                       platelet_count(collected_at="2026-02-10T01:30:00"))
    assert reply.status_code == 422
    assert "collected_at" in reply.json["error"]["fields"]
    assert store.count() == before


# -- no clinical date in the future ------------------------------------------------------------


def _in(hours: float, minutes: float = 0) -> str:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours, minutes=minutes)
    return moment.replace(microsecond=0).isoformat()


def test_a_datetime_up_to_now_plus_24_hours_is_accepted(staff, subject):
    # 24 h less a minute: a site east of the server may be a day ahead
    reply = staff.post(f"/subjects/{subject}/forms/platelet_count",
                       platelet_count(visit="UNSCHEDULED", collected_at=_in(24, -1)))
    assert reply.status_code == 201, reply.json


@pytest.mark.parametrize("when", [
    "now+24h2m", "2030-11-04T08:00:00+00:00", "2999-12-30T08:00:00-12:00"])
def test_a_datetime_later_than_now_plus_24_hours_is_refused(staff, subject, store, when):
    when = _in(24, 2) if when == "now+24h2m" else when  # computed when the test runs
    before = store.count()
    reply = staff.post(f"/subjects/{subject}/forms/platelet_count",
                       platelet_count(visit="UNSCHEDULED", collected_at=when))
    assert reply.status_code == 422, reply.json
    error = reply.json["error"]
    assert error["code"] == "validation_failed"
    [message] = error["fields"]["collected_at"]
    assert "Must not be in the future" in message and "24 hours" in message
    assert store.count() == before


def test_a_date_after_tomorrow_is_refused_tomorrow_is_not(staff, subject, store):
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=24)).date()
    ok = staff.post(f"/subjects/{subject}/forms/bleeding_assessment",
                    valid("bleeding_assessment", visit="UNSCHEDULED",
                          assessed_on=tomorrow.isoformat()))
    assert ok.status_code == 201, ok.json
    before = store.count()
    for day in (tomorrow + dt.timedelta(days=1), dt.date(2030, 11, 4)):
        reply = staff.post(f"/subjects/{subject}/forms/bleeding_assessment",
                           valid("bleeding_assessment", visit="UNSCHEDULED",
                                 assessed_on=day.isoformat()))
        assert reply.status_code == 422, reply.json
        [message] = reply.json["error"]["fields"]["assessed_on"]
        assert message.startswith("Must not be in the future")
    assert store.count() == before


def test_a_correction_into_the_future_is_refused(staff, subject, store):
    entry_id = _submit(staff, subject, "platelet_count", platelet_count())
    before = store.count()
    reply = staff.post(f"/subjects/{subject}/entries/{entry_id}/corrections",
                       {"changes": {"collected_at": "2030-01-01T00:00:00+00:00"},
                        "reason": "typo"})
    assert reply.status_code == 422, reply.json
    assert store.count() == before
