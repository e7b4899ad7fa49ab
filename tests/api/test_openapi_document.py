"""The OpenAPI document is complete: ids, bodies, shapes, parameters, headers, errors, examples
(issue 14, item 2)."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from ecrf.api.openapi import OPERATIONS, UNDOCUMENTED
from ecrf.forms.registry import FORMS, load_form
from tests.scenario import Subject


@pytest.fixture
def document(app):
    return app.test_client().get("/api/v1/openapi.json").json


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                yield method, path, operation


def test_the_document_is_valid_openapi(document):
    validate(document)


def test_every_route_is_described_and_every_description_has_a_route(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} - UNDOCUMENTED
    assert endpoints == set(OPERATIONS)


def test_every_operation_has_a_unique_id(document):
    ids = [op.get("operationId") for _, _, op in _operations(document)]
    assert None not in ids and len(ids) == len(set(ids))
    assert len(ids) == sum(1 if isinstance(op.operation_id, str) else len(op.operation_id)
                           for op in OPERATIONS.values())


def test_every_post_documents_its_body_with_an_example(document):
    for method, path, op in _operations(document):
        if method == "post" and op["operationId"] != "logout":
            content = op["requestBody"]["content"]["application/json"]
            assert "schema" in content and "example" in content, path


def test_no_json_answer_is_a_bare_object(document):
    for method, path, op in _operations(document):
        for status, response in op["responses"].items():
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            assert schema != {"type": "object"}, f"{method} {path} {status}"


def test_every_operation_names_its_error_codes_and_has_an_example(document):
    for _method, path, op in _operations(document):
        errors = {s: r for s, r in op["responses"].items() if s[0] == "4"}
        assert errors, path
        for response in errors.values():
            assert "error code `" in response["description"], path
            assert "example" in response["content"]["application/json"], path


def test_writes_document_the_idempotency_if_match_and_request_id_headers(document):
    submit = document["paths"]["/api/v1/subjects/{subject_id}/forms/platelet_count"]["post"]
    headers = {p["name"] for p in submit["parameters"] if p["in"] == "header"}
    assert headers == {"Idempotency-Key", "If-Match", "X-Request-Id"}
    assert "Idempotent-Replayed" in submit["responses"]["201"]["headers"]


def test_the_audit_trail_declares_every_filter(document):
    audit = document["paths"]["/api/v1/audit"]["get"]
    names = {p["name"] for p in audit["parameters"] if p["in"] == "query"}
    assert names >= {"subject", "user", "role", "type", "from", "to", "after", "limit", "format"}


def test_as_of_and_position_are_explained_as_moments_of_the_log(document):
    safety = document["paths"]["/api/v1/subjects/{subject_id}/safety"]["get"]
    described = {p["name"]: p["description"] for p in safety["parameters"]}
    assert "log position" in described["position"] and "not an entry number" in \
        described["position"]
    assert "moment of the log" in described["as_of"]


def test_units_are_in_field_descriptions(document):
    platelets = document["components"]["schemas"]["PlateletCount"]["properties"]["platelets"]
    assert platelets["x-unit"] == "10^9/L" and "10^9/L" in platelets["description"]


@pytest.mark.parametrize("form", [f for f in FORMS if f != "registration"] + ["registration"])
def test_each_form_example_is_a_valid_submission(document, form):
    path = ("/api/v1/subjects" if form == "registration"
            else f"/api/v1/subjects/{{subject_id}}/forms/{form}")
    example = document["paths"][path]["post"]["requestBody"]["content"]["application/json"][
        "example"]
    load_form(form, example)


READ_VIEWS = {
    "/subjects/ITP-001": "Casebook", "/subjects/ITP-001/history": "History",
    "/subjects/ITP-001/eligibility": "Eligibility", "/subjects/ITP-001/safety": "Safety",
    "/subjects/ITP-001/efficacy": "Efficacy", "/subjects/ITP-001/schedule": "Schedule",
    "/trial/summary": "Summary", "/queries": "QueryList",
    "/subjects/ITP-001/verification": "Verification", "/security/events": "SecurityEvents",
    "/audit/verify": "ChainReport", "/audit/checkpoint": "SignedHead", "/audit": "AuditRows",
    "/subjects": "SubjectList",
    "/subjects/ITP-001/replay": "Replay",
}


def test_documented_shapes_name_exactly_the_keys_the_views_answer(document, as_user, store):
    subject = Subject(store, "ITP-001")
    subject.screening_labs()
    subject.treat()
    subject.platelets(7, 40)
    auditor = as_user("auditor")
    schemas = document["components"]["schemas"]
    for path, name in READ_VIEWS.items():
        answer = auditor.get(path)
        assert answer.status_code == 200, path
        assert set(answer.json) == set(schemas[name]["properties"]), path
