"""Every (role, endpoint) pair: allowed roles get through, the others get 403 and append nothing."""

from __future__ import annotations

import pytest

from ecrf.permissions import PERMISSIONS, ROLES
from tests.api.conftest import PASSWORD, platelet_count, registration
from tests.api.examples import valid

USER_OF_ROLE = {"site_staff": "staff", "investigator": "investigator", "monitor": "monitor",
                "data_manager": "dm", "auditor": "auditor"}
S, E, Q = "{subject}", "{entry}", "{query}"
ENDPOINTS = [
    ("POST", "/subjects", registration("ITP-777"), "subject.register"),
    ("GET", "/subjects", None, "subject.list"),
    ("GET", f"/subjects/{S}", None, "subject.read"),
    ("GET", f"/subjects/{S}/history", None, "subject.read"),
    ("GET", f"/subjects/{S}/eligibility", None, "subject.read"),
    ("GET", f"/subjects/{S}/safety", None, "subject.read"),
    ("GET", f"/subjects/{S}/efficacy", None, "subject.read"),
    ("GET", f"/subjects/{S}/schedule", None, "subject.read"),
    ("GET", f"/subjects/{S}/verification", None, "subject.read"),
    ("POST", f"/subjects/{S}/forms/platelet_count", platelet_count(), "form.submit"),
    ("POST", f"/subjects/{S}/forms/ie_checklist", valid("ie_checklist"), "eligibility.attest"),
    ("POST", f"/subjects/{S}/entries/{E}/corrections",
     {"changes": {"platelets": 41}, "reason": "re-read"}, "entry.correct"),
    ("POST", f"/subjects/{S}/entries/{E}/void", {"reason": "duplicate"}, "entry.void"),
    ("GET", "/forms", None, "forms.describe"),
    ("GET", "/trial/summary", None, "trial.summary"),
    ("POST", f"/subjects/{S}/queries", {"entry_id": E, "field": "platelets", "text": "?"},
     "query.open"),
    ("GET", f"/subjects/{S}/queries", None, "query.list"),
    ("GET", "/queries", None, "query.list"),
    ("POST", f"/subjects/{S}/queries/{Q}/answer", {"text": "as per source"}, "query.answer"),
    ("POST", f"/subjects/{S}/queries/{Q}/close", {}, "query.close"),
    ("POST", f"/subjects/{S}/queries/{Q}/cancel", {"text": "in error"}, "query.cancel"),
    ("POST", f"/subjects/{S}/queries/{Q}/reopen", {"text": "again"}, "query.reopen"),
    ("POST", f"/subjects/{S}/entries/{E}/verify", None, "entry.verify"),
    ("POST", f"/subjects/{S}/signatures", {"password": PASSWORD, "meaning": "review"},
     "casebook.sign"),
    ("POST", f"/subjects/{S}/lock", {"reason": "review"}, "casebook.lock"),
    ("POST", f"/subjects/{S}/unlock", {"reason": "review"}, "casebook.unlock"),
    ("POST", "/trial/lock", {"reason": "database lock"}, "trial.lock"),
    ("POST", "/trial/unlock", {"reason": "reopen"}, "trial.unlock"),
    ("GET", "/audit/verify", None, "audit.verify"),
    ("POST", "/audit/verify", {"checkpoints": [{"position": 1}]}, "audit.verify"),
    ("GET", "/audit/checkpoint", None, "audit.checkpoint"),
    ("GET", "/audit", None, "audit.read"),
    ("GET", f"/subjects/{S}/audit-trail", None, "audit.read"),
    ("GET", f"/subjects/{S}/replay?position=100000", None, "subject.read"),
    ("GET", f"/subjects/{S}/diff?from=0&to=100000", None, "subject.read"),
    ("GET", "/security/events", None, "security.read"),
    ("GET", "/export/csv", None, "export.csv"),
    ("GET", "/export/odm", None, "export.odm"),
    ("GET", "/export/sdtm", None, "export.sdtm"),
    ("GET", f"/subjects/{S}/platelets.svg", None, "subject.read"),
    ("GET", f"/subjects/{S}/casebook.pdf", None, "subject.read"),
]


def fill(value, ids: dict[str, str]):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    return value


@pytest.fixture
def world(staff, as_user, subject) -> dict[str, str]:
    entry = staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count()).json[
        "entry_id"]
    query = as_user("monitor").post(f"/subjects/{subject}/queries", {
        "entry_id": entry, "field": "platelets", "text": "check"}).json["query_id"]
    return {"subject": subject, "entry": entry, "query": query}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "body", "action"), ENDPOINTS,
                         ids=[f"{m} {p} {a}" for m, p, _, a in ENDPOINTS])
def test_role_may_or_may_not_call_endpoint(as_user, store, world, role, method, path, body,
                                           action):
    api = as_user(USER_OF_ROLE[role])
    before = store.count()
    url = fill(path, world)
    reply = api.get(url) if method == "GET" else api.post(url, fill(body, world))
    if role in PERMISSIONS[action]:
        assert reply.status_code not in (401, 403), reply.json
        assert reply.status_code < 400 or reply.status_code == 409, reply.json
    else:
        assert reply.status_code == 403, reply.json
        assert reply.json["error"]["code"] == "forbidden"
        assert store.count() == before


def test_the_matrix_covers_every_api_route(app):
    covered = {(m, p.split("?")[0].replace(S, "<subject_id>").replace(E, "<entry_id>")
                .replace(Q, "<query_id>")) for m, p, _, _ in ENDPOINTS}
    routes = {(method, str(rule).removeprefix("/api/v1"))
              for rule in app.url_map.iter_rules() if str(rule).startswith("/api/v1/")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    exempt = {"/auth/token", "/auth/logout", "/auth/password", "/openapi.json", "/docs",
              "/subjects/<subject_id>/forms/<form>",
              "/subjects/<subject_id>/queries/<query_id>/<action>"}
    forms = {r for r in routes if "/forms/" in r[1] and r[1] != "/forms"}
    missing = {r for r in routes - covered - forms if r[1] not in exempt}
    assert not missing, f"routes missing from the permission matrix: {sorted(missing)}"


def test_every_action_is_named_in_words_for_refusals():
    from ecrf.permissions import ACTION_WORDS, PERMISSIONS, refusal

    assert set(ACTION_WORDS) == set(PERMISSIONS)
    assert refusal("monitor", "form.submit") == "a monitor cannot submit forms"
    assert refusal("auditor", "casebook.sign") == "an auditor cannot sign casebooks"
