"""The demo trial shows real content in every projection (what `ecrf demo` seeds)."""

from __future__ import annotations

import pytest

from ecrf.accounts.service import create_user, load_user
from ecrf.demo import seed_demo
from events import verify_chain
from tests.api.conftest import PASSWORD


@pytest.fixture
def demo(app, store, as_user):
    users = {name: load_user(store, name) for name in ("staff", "investigator", "monitor")}
    site2 = create_user(store, "staff.two", PASSWORD, "site_staff", ["SITE-02"])
    investigator2 = create_user(store, "investigator.two", PASSWORD, "investigator",
                                ["SITE-02"])
    seed_demo(store, users["staff"], users["investigator"], users["monitor"], site2, PASSWORD,
              investigator_site2=investigator2)
    return as_user("auditor")


def test_demo_covers_every_projection(demo, store):
    def get(subject, view):
        reply = demo.get(f"/subjects/{subject}/{view}")
        assert reply.status_code == 200, reply.json
        return reply.json

    assert get("ITP-001", "efficacy")["best_response"] == "CR"
    assert get("ITP-001", "efficacy")["response_at_w12"] == "CR"
    assert get("ITP-002", "efficacy")["best_response"] == "R"
    assert get("ITP-003", "efficacy")["best_response"] == "NR"
    assert get("ITP-004", "efficacy")["loss_of_response"] is True
    excluded = {c["excluded_reason"] for c in get("ITP-005", "efficacy")["counts"]}
    assert "after_rescue" in excluded
    assert get("ITP-006", "safety")["crs"]["max_grade"] == 2
    assert get("ITP-007", "safety")["icans"]["max_grade"] == 2
    assert [r["term"] for r in get("ITP-008", "safety")["late_sae_reports"]] == ["Pneumonia"]
    assert get("ITP-009", "eligibility")["status"] == "ineligible"
    assert get("ITP-001", "eligibility")["status"] == "eligible"
    book = demo.get("/subjects/ITP-010").json
    assert any(q["state"] == "open" and not q["automatic"] for q in book["queries"])
    assert any(len(e["versions"]) > 1 for e in book["entries"])
    assert any(e["voided"] for e in book["entries"])
    signed = demo.get("/subjects/ITP-001").json["signatures"]
    assert signed and signed[0]["valid"]
    assert get("ITP-001", "verification")["verified"] == 6
    assert verify_chain(store.engine).ok


def test_demo_trial_summary(demo):
    summary = demo.get("/trial/summary").json
    assert summary["subjects"] == 12
    assert summary["subjects_by_status"]["ended"] == 1
    assert summary["response_at_w12"]["CR"] >= 2
    assert summary["crs_by_grade"] == {"2": 1}
    assert summary["open_saes"]
