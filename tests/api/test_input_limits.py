"""Input limits with clear errors, never a 500, and nothing appended: free-text lengths and
characters, identifiers matched in full, NUL bytes, request ids, date-times beyond range."""

from __future__ import annotations

import unicodedata

import pytest

from ecrf.accounts.service import create_user
from ecrf.errors import Invalid
from tests.api.conftest import PASSWORD, platelet_count, registration
from tests.api.examples import valid

AE = "/subjects/ITP-001/forms/adverse_event"
HIDDEN = {"bell": "\x07", "escape": "\x1b", "carriage return": "\r", "C1 control": "\x85",
          "right-to-left override": "\u202e", "left-to-right embedding": "\u202a",
          "first strong isolate": "\u2068", "pop directional isolate": "\u2069"}


@pytest.fixture
def entry(staff, subject) -> str:
    reply = staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count())
    assert reply.status_code == 201
    return reply.json["entry_id"]


def refused(reply, field: str, words: str) -> None:
    assert reply.status_code == 422, reply.json
    messages = " ".join(reply.json["error"]["fields"][field])
    assert words in messages, messages


# --- free text -----------------------------------------------------------------------------


def test_a_term_over_200_characters_is_refused_and_200_accepted(staff, subject, store):
    before = store.count()
    refused(staff.post(AE, valid("adverse_event", term="x" * 201)), "term",
            "at most 200 characters")
    assert store.count() == before
    assert staff.post(AE, valid("adverse_event", term="x" * 200)).status_code == 201


def test_a_long_text_takes_2000_characters_not_more(staff, subject, store):
    before = store.count()
    path = f"/subjects/{subject}/forms/end_of_study"
    refused(staff.post(path, valid("end_of_study", details="d" * 2001)), "details",
            "at most 2000 characters")
    assert store.count() == before
    assert staff.post(path, valid("end_of_study", details="d" * 2000)).status_code == 201


def test_the_maximum_lengths_are_documented_in_forms_and_openapi(app, staff):
    forms = {f["name"]: f for f in staff.get("/forms").json["forms"]}
    fields = {f["name"]: f for f in forms["adverse_event"]["fields"]}
    assert fields["term"]["max_length"] == 200
    sites = {f["name"]: f for f in forms["bleeding_assessment"]["fields"]}["sites"]
    assert sites["max_length"] == 50 and sites["item_max_length"] == 200
    details = {f["name"]: f for f in forms["end_of_study"]["fields"]}["details"]
    assert details["max_length"] == 2000
    for form in forms.values():
        for field in form["fields"]:
            if field["type"] == "string":
                assert field["max_length"], (form["name"], field["name"])
    spec = app.test_client().get("/api/v1/openapi.json").get_data(as_text=True)
    assert '"maxLength": 200' in spec or '"maxLength":200' in spec


@pytest.mark.parametrize("name", sorted(HIDDEN))
def test_hidden_characters_in_a_form_text_are_refused(staff, subject, store, name):
    before = store.count()
    reply = staff.post(AE, valid("adverse_event", term=f"Headache{HIDDEN[name]}grade 1"))
    refused(reply, "term", f"U+{ord(HIDDEN[name]):04X}")
    assert store.count() == before


def test_tab_and_newline_are_kept_and_text_is_stored_in_nfc(staff, subject):
    decomposed = "Ce\u0301phale\u0301e\tle matin\nsuite"
    reply = staff.post(AE, valid("adverse_event", term=decomposed, action="line 1\r\nline 2"))
    assert reply.status_code == 201, reply.json
    book = staff.get(f"/subjects/{subject}").json
    values = next(e for e in book["entries"] if e["form"] == "adverse_event")["values"]
    assert values["term"] == unicodedata.normalize("NFC", decomposed) != decomposed
    assert values["action"] == "line 1\nline 2"


def test_a_list_of_texts_has_a_bounded_size_and_bounded_items(staff, subject, store):
    path = f"/subjects/{subject}/forms/bleeding_assessment"
    before = store.count()
    refused(staff.post(path, valid("bleeding_assessment", sites=["skin"] * 51)), "sites",
            "at most 50")
    reply = staff.post(path, valid("bleeding_assessment", sites=["s" * 201]))
    assert reply.status_code == 422
    reply = staff.post(path, valid("bleeding_assessment", sites=["gums\u202e"]))
    assert reply.status_code == 422
    assert store.count() == before


def test_workflow_texts_and_reasons_obey_the_same_rules(as_user, staff, subject, entry, store):
    monitor, dm = as_user("monitor"), as_user("dm")
    before = store.count()
    refused(monitor.post(f"/subjects/{subject}/queries", {
        "entry_id": entry, "field": "platelets", "text": "Check \u202eevil"}), "text", "U+202E")
    refused(monitor.post(f"/subjects/{subject}/queries", {
        "entry_id": entry, "field": "platelets", "text": "q" * 4001}), "text", "at most 4000")
    refused(staff.post(f"/subjects/{subject}/entries/{entry}/corrections", {
        "changes": {"platelets": 24}, "reason": "typo\x07"}), "reason", "U+0007")
    refused(staff.post(f"/subjects/{subject}/entries/{entry}/void", {
        "reason": "r" * 2001}), "reason", "at most 2000")
    refused(dm.post(f"/subjects/{subject}/lock", {"reason": "done\u2066"}), "reason", "U+2066")
    assert store.count() == before
    ok = monitor.post(f"/subjects/{subject}/queries", {
        "entry_id": entry, "field": "platelets", "text": "Source says 24?"})
    assert ok.status_code == 201


@pytest.mark.parametrize("full_name", ["A" * 201, "Dr \u202eX", "Name\x00"])
def test_an_account_full_name_obeys_the_text_rules(store, full_name):
    before = store.count()
    with pytest.raises(Invalid) as problem:
        create_user(store, "new.user", PASSWORD, "monitor", ["*"], full_name)
    assert "full_name" in problem.value.fields
    assert store.count() == before


# --- identifiers ---------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [
    ("subject_id", "ITP-002\n"), ("subject_id", "ITP-002\r\n"), ("subject_id", "itp-002"),
    ("site_id", "SITE-01\n"), ("site_id", "SITE 01"), ("site_id", ""),
])
def test_identifiers_match_their_pattern_in_full(staff, store, field, value):
    before = store.count()
    reply = staff.post("/subjects", {**registration("ITP-002"), field: value})
    assert reply.status_code == 422, reply.json
    assert field in reply.json["error"]["fields"]
    assert store.count() == before


def test_a_look_alike_subject_cannot_be_registered(staff, subject, store):
    before = store.count()
    assert staff.post("/subjects", registration("ITP-001\n")).status_code == 422
    assert store.count() == before


def test_nul_bytes_in_paths_query_parameters_and_headers_are_404_or_400(as_user, staff, subject,
                                                               store):
    dm = as_user("dm")
    before = store.count()
    assert dm.get("/subjects/ITP%00001").status_code == 404
    assert dm.get("/subjects/%00/audit-trail").status_code == 404
    reply = staff.post("/subjects/ITP-001%00/forms/platelet_count", platelet_count())
    assert reply.status_code == 404 and reply.json["error"]["code"] == "not_found"
    reply = dm.get("/export/odm?subject_id=ITP%00")
    assert reply.status_code == 400 and "subject_id" in reply.json["error"]["fields"]
    assert dm.get("/audit?subject=%00").status_code == 400
    for header in ("Idempotency-Key", "If-Match", "X-Request-Id", "User-Agent", "Content-Type",
                   "X-Anything"):
        reply = staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count(),
                           headers={header: "key\x00"})
        assert reply.status_code == 400, (header, reply.json)
        assert reply.json["error"]["fields"] == {header: ["contains a NUL character"]}
    assert store.count() == before


# --- request ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(("offered", "kept"), [
    ("req-123", True), ("A.b_c-9", True), ("x" * 64, True), ("x" * 65, False),
    ("x" * 60_000, False), ("has space", False), ("", False),
    ("caf\u00e9", False),
])
def test_a_client_request_id_is_kept_only_when_it_matches_the_pattern(
        staff, subject, store, offered, kept):
    reply = staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count(),
                       headers={"X-Request-Id": offered})
    assert reply.status_code == 201
    stamped = store.read_stream(subject)[-1].metadata["request_id"]
    assert (stamped == offered) is kept
    assert reply.headers["X-Request-Id"] == stamped
    assert len(stamped) <= 64


def test_a_user_agent_with_control_characters_is_stored_printable(staff, subject, store):
    reply = staff.post(f"/subjects/{subject}/forms/platelet_count", platelet_count(),
                       headers={"User-Agent": "curl/8\x07\x1b[31m" + "z" * 500})
    assert reply.status_code == 201
    client = store.read_stream(subject)[-1].metadata["client"]
    assert client.isprintable() and len(client) <= 200 and client.startswith("curl/8")


# --- date-times beyond range ----------------------------------------------------------------

FAR = "9999-12-31T23:59:59-14:00"
EARLY = "0001-01-01T00:00:00%2B14:00"


@pytest.mark.parametrize("query", [
    f"/subjects/ITP-001?as_of={FAR}", f"/subjects/ITP-001/replay?as_of={FAR}",
    f"/subjects/ITP-001/schedule?as_of={FAR}", f"/subjects/ITP-001/eligibility?as_of={FAR}",
    f"/subjects/ITP-001/diff?from=1&to={FAR}", f"/subjects/ITP-001/diff?from={EARLY}&to=2",
    f"/audit?from={FAR}", f"/audit?to={EARLY}", f"/export/csv?as_of={FAR}",
    f"/export/odm?as_of={FAR}", f"/subjects/ITP-001/platelets.svg?as_of={EARLY}",
])
def test_a_date_time_beyond_the_representable_range_is_422_naming_it(as_user, subject, store,
                                                                     query):
    dm = as_user("dm")
    before = store.count()
    reply = dm.get(query)
    assert reply.status_code == 422, reply.get_data(as_text=True)
    assert reply.json["error"]["code"] == "out_of_range"
    name = query.split("?")[1].split("=")[0] if "diff" not in query else (
        "to" if FAR in query else "from")
    assert name in reply.json["error"]["fields"]
    assert store.count() == before


@pytest.mark.parametrize("query", [
    "/subjects/ITP-001?position=\u00b2", "/subjects/ITP-001/diff?from=\u0661&to=2",
    "/audit?after=\u00b2", "/subjects/ITP-001/queries?older_than_days=99999999999",
    "/subjects/ITP-001/queries?older_than_days=\u00b3",
])
def test_non_ascii_digits_and_huge_numbers_are_400_not_500(as_user, subject, query):
    reply = as_user("dm").get(query)
    assert reply.status_code == 400, reply.get_data(as_text=True)
