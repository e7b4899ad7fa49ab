"""Inputs an adversarial review found: each is refused with a field message, appends nothing,
and leaves every view working (no 500)."""

from __future__ import annotations

import pytest

from tests.api.conftest import platelet_count


@pytest.mark.parametrize("offset", ["+01:00:30", "+23:59", "-14:01", "+05:30:00.5"])
def test_an_offset_that_is_not_whole_minutes_within_14_hours_is_refused(staff, subject, store,
                                                                       offset):
    before = store.count()
    reply = staff.post(f"/subjects/{subject}/forms/platelet_count",
                       platelet_count(collected_at=f"2026-02-10T08:00:00{offset}"))
    assert reply.status_code == 422
    assert "whole minutes" in reply.json["error"]["fields"]["collected_at"][0]
    assert store.count() == before


def test_the_widest_real_offsets_are_accepted(staff, subject):
    for offset in ("+14:00", "-12:00", "+05:45"):
        reply = staff.post(f"/subjects/{subject}/forms/platelet_count",
                           platelet_count(collected_at=f"2026-02-10T08:00:00{offset}"))
        assert reply.status_code == 201, reply.json
    for view in ("efficacy", "schedule", "safety"):
        assert staff.get(f"/subjects/{subject}/{view}").status_code == 200


@pytest.mark.parametrize("field,value", [("fludarabine_mg", 1e30), ("cyclophosphamide_mg", 1e300),
                                         ("fludarabine_mg", 501)])
def test_an_implausible_dose_is_refused_not_a_500(staff, subject, store, field, value):
    before = store.count()
    payload = {"visit": "LD", "administered_on": "2026-01-29", "height_cm": 165,
               "weight_kg": 60, "fludarabine_mg": 50, "cyclophosphamide_mg": 500, field: value}
    reply = staff.post(f"/subjects/{subject}/forms/lymphodepletion", payload)
    assert reply.status_code == 422 and field in reply.json["error"]["fields"]
    assert store.count() == before


def test_indication_other_is_refused_unless_the_indication_is_other(staff, subject, store):
    before = store.count()
    reply = staff.post(f"/subjects/{subject}/forms/concomitant_medication", {
        "drug": "prednisone", "category": "corticosteroid", "start_date": "2026-01-01",
        "indication": "itp", "indication_other": "surgery"})
    assert reply.status_code == 422 and "indication_other" in reply.json["error"]["fields"]
    assert store.count() == before


@pytest.mark.parametrize("name,value", [("subject", "A" * 100_000), ("user", "\u202eevil\x1b[31m"),
                                        ("subject", "ITP 001")])
def test_audit_filters_that_match_nothing_are_refused_before_they_are_recorded(as_user, store,
                                                                              name, value):
    auditor = as_user("auditor")
    before = store.count()
    reply = auditor.get("/audit", query_string={name: value})
    assert reply.status_code == 422 and name in reply.json["error"]["fields"]
    assert store.count() == before  # no AuditViewed event carries the value


def test_audit_filters_of_real_shapes_still_work(as_user, subject):
    auditor = as_user("auditor")
    for args in ({"subject": subject}, {"user": "staff"}, {"user": "cli:root"}):
        assert auditor.get("/audit", query_string=args).status_code == 200
