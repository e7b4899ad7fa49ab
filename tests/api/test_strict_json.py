"""Every endpoint parses its body strictly: duplicate keys, depth, UTF-8, surrogates, size."""

from __future__ import annotations

import re

import pytest

from tests.api.conftest import platelet_count

DUPLICATE = b'{"visit": "D7", "collected_at": "2026-02-10T09:30:00+08:00", ' \
            b'"platelets": 64, "platelets": 640}'


def every_endpoint(app) -> list[tuple[str, str]]:
    """(method, path) of every rule of the app, path parameters filled in."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: {
            "subject_id": "ITP-001", "form": "platelet_count"}.get(m.group(1), "x"), rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, path))
    return routes


def _send(client, token, method, path, data, content_type="application/json"):
    return client.open(path, method=method, data=data, content_type=content_type,
                       headers={"Authorization": f"Bearer {token}"})


def test_the_endpoint_list_covers_the_openapi_document(app):
    rules = {(m, re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", r.rule))
             for r in app.url_map.iter_rules() for m in r.methods}
    spec = app.test_client().get("/api/v1/openapi.json").json
    documented = {(m.upper(), p) for p, item in spec["paths"].items()
                  for m in item if m in ("get", "post")}
    assert len(documented) > 30
    assert documented <= rules
    assert len(every_endpoint(app)) >= len(documented)


@pytest.mark.parametrize(("body", "says"), [
    (DUPLICATE, "'platelets' appears twice"),
    (b"[" * 1000 + b"]" * 1000, "nested deeper than 32"),
    (b"[" * 33 + b"]" * 33, "nested deeper than 32"),
    (b'{"visit": "D7\xff"}', "not valid UTF-8"),
    (b'{"visit": "\\ud800"}', "lone surrogate"),
    (b'{"visit": "D7\\u0000"}', "NUL"),
    (b'{"visit": ', "not valid JSON"),
    (b"   ", "not valid JSON"),
    (b'\xef\xbb\xbf{"visit": "D7"}', "not valid JSON"),
    (b'{"platelets": NaN}', "not a JSON number"),
    (b'{"platelets": -Infinity}', "not a JSON number"),
])
def test_every_endpoint_refuses_bad_json_with_400_and_appends_nothing(
        app, as_user, subject, store, body, says):
    token = as_user("dm").token
    client = app.test_client()
    before = store.count()
    for method, path in every_endpoint(app):
        reply = _send(client, token, method, path, body)
        assert reply.status_code == 400, (method, path, reply.status_code, reply.get_data())
        error = reply.json["error"]
        assert error["code"] == "invalid_json", (method, path)
        assert says in error["message"], (method, path, error)
    assert store.count() == before


def test_a_duplicate_key_names_the_key_and_the_form_value_is_not_stored(app, staff, subject,
                                                                        store):
    before = store.count()
    reply = _send(staff.client, staff.token, "POST",
                  f"/api/v1/subjects/{subject}/forms/platelet_count", DUPLICATE)
    assert reply.status_code == 400
    assert reply.json["error"]["fields"] == {"platelets": ["given twice"]}
    assert store.count() == before


def test_duplicate_keys_are_refused_in_nested_objects_and_on_the_token_endpoint(app, store):
    client = app.test_client()
    before = store.count()
    reply = client.post("/api/v1/auth/token", data=b'{"username": "dm", "username": "x", '
                        b'"password": "correct-horse-1"}', content_type="application/json")
    assert reply.status_code == 400 and reply.json["error"]["code"] == "invalid_json"
    reply = client.post("/api/v1/auth/token", data=b'{"a": {"b": 1, "b": 2}}',
                        content_type="application/json")
    assert reply.json["error"]["fields"] == {"b": ["given twice"]}
    assert store.count() == before


def test_thirty_two_levels_are_still_accepted_as_json(app, staff, subject):
    nested = b"[" * 32 + b"]" * 32
    reply = _send(staff.client, staff.token, "POST",
                  f"/api/v1/subjects/{subject}/forms/platelet_count", nested)
    assert reply.status_code == 422  # valid JSON, but not a form: a field error, not a 400


def test_a_body_over_one_mebibyte_is_413_in_the_error_shape(app, staff, subject, store):
    before = store.count()
    body = platelet_count(comment="x")
    big = ('{"visit": "D7", "padding": "' + "x" * (1024 * 1024) + '"}').encode()
    for path in ("/api/v1/auth/token", f"/api/v1/subjects/{subject}/forms/platelet_count",
                 "/api/v1/subjects"):
        reply = _send(staff.client, staff.token, "POST", path, big)
        assert reply.status_code == 413, path
        assert reply.json["error"]["code"] == "body_too_large"
    # a read with no declared type skips the body checks only when it carries no body
    reply = staff.client.open(f"/api/v1/subjects/{subject}/efficacy", method="GET", data=big,
                              headers={"Authorization": f"Bearer {staff.token}"})
    assert reply.status_code == 413 and reply.json["error"]["code"] == "body_too_large"
    assert store.count() == before
    assert body  # the normal-size body still goes through below
    ok = staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count())
    assert ok.status_code == 201


def test_a_body_that_is_not_declared_json_is_refused_where_json_is_needed(app, staff, subject,
                                                                       store):
    before = store.count()
    reply = _send(staff.client, staff.token, "POST",
                  f"/api/v1/subjects/{subject}/forms/platelet_count",
                  b'{"visit": "D7"}', content_type="text/plain")
    assert reply.status_code == 400 and reply.json["error"]["code"] == "invalid_json"
    assert store.count() == before
