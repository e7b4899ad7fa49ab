"""Refusals in words a site coordinator understands: formats, ranges with units, who cannot do what
(issue 14, item 4)."""

from __future__ import annotations

from tests.api.conftest import platelet_count


def test_a_wrong_date_says_the_expected_format(staff, subject, store):
    before = store.count()
    reply = staff.post(f"/subjects/{subject}/forms/bleeding_assessment",
                       {"visit": "D7", "assessed_on": "04/11/2026", "who_grade": 1})
    assert reply.status_code == 422
    assert reply.json["error"]["fields"]["assessed_on"] == [
        "Not a valid date: use YYYY-MM-DD, e.g. 2026-11-04."]
    assert store.count() == before


def test_a_date_time_without_offset_says_how_to_write_one(staff, subject):
    reply = staff.post(f"/subjects/{subject}/forms/platelet_count",
                       platelet_count(collected_at="2026-02-10T09:30:00"))
    message = reply.json["error"]["fields"]["collected_at"][0]
    assert "e.g. 2026-11-04T08:30:00+01:00" in message and "offset" in message


def test_a_value_out_of_range_gives_the_range_with_its_unit(staff, subject):
    reply = staff.post(f"/subjects/{subject}/forms/platelet_count",
                       platelet_count(platelets=5000))
    assert reply.json["error"]["fields"]["platelets"] == ["Must be between 0 and 2000 x10^9/L."]
    vitals = staff.post(f"/subjects/{subject}/forms/vital_signs", {
        "visit": "D1", "measured_at": "2026-02-04T06:00:00Z", "temperature_c": 50})
    assert vitals.json["error"]["fields"]["temperature_c"] == ["Must be between 30 and 45 °C."]


def test_a_permission_refusal_names_the_role_and_the_action_in_words(as_user, subject, store):
    monitor = as_user("monitor")
    before = store.count()
    reply = monitor.post(f"/subjects/{subject}/forms/platelet_count",
                                    platelet_count())
    assert reply.status_code == 403
    assert reply.json["error"]["message"] == "a monitor cannot submit forms"
    assert store.count() == before
