"""Request logs are structured, carry the request id stamped on events, and leak nothing."""

from __future__ import annotations

import json
import logging

from ecrf.request_log import JsonFormatter
from tests.api.conftest import PASSWORD, platelet_count


def test_request_id_is_logged_returned_and_stamped_on_the_event(staff, subject, store,
                                                                 caplog):
    caplog.set_level(logging.INFO, logger="ecrf.request")
    logger = logging.getLogger("ecrf.request")
    logger.addHandler(caplog.handler)
    try:
        reply = staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count(),
                           headers={"X-Request-Id": "req-123"})
    finally:
        logger.removeHandler(caplog.handler)
    assert reply.headers["X-Request-Id"] == "req-123"
    assert store.read_stream(subject)[-1].metadata["request_id"] == "req-123"
    record = next(r for r in caplog.records if r.fields["request_id"] == "req-123")
    line = json.loads(JsonFormatter().format(record))
    assert (line["method"], line["status"], line["role"]) == ("POST", 201, "site_staff")
    assert line["path"] == f"/api/v1/subjects/{subject}/forms/platelet_count"


def test_logs_hold_no_token_password_username_or_form_value(anonymous, caplog):
    caplog.set_level(logging.INFO, logger="ecrf.request")
    logger = logging.getLogger("ecrf.request")
    logger.addHandler(caplog.handler)
    try:
        token = anonymous.post("/auth/token", {"username": "staff", "password": PASSWORD}
                               ).json["access_token"]
        anonymous.client.post("/api/v1/subjects", json={"birth_date": "1980-04-02"},
                              headers={"Authorization": f"Bearer {token}"})
    finally:
        logger.removeHandler(caplog.handler)
    text = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    for secret in (token, PASSWORD, '"staff"', "1980-04-02"):
        assert secret not in text


def test_a_request_refused_by_an_early_check_is_timed_like_any_other(staff, subject, caplog):
    caplog.set_level(logging.INFO, logger="ecrf.request")
    logger = logging.getLogger("ecrf.request")
    logger.addHandler(caplog.handler)
    try:
        refused = staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count(),
                             headers={"X-Request-Id": "nul-1", "User-Agent": "x\x00"})
    finally:
        logger.removeHandler(caplog.handler)
    assert refused.status_code == 400
    record = next(r for r in caplog.records if r.fields["request_id"] == "nul-1")
    assert record.fields["duration_ms"] >= 0 and str(record.fields["duration_ms"]) != "-0.0"
    assert record.fields["status"] == 400
