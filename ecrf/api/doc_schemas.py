"""The shapes of the API's read responses, for the OpenAPI document only.

The views build their answers from the projections; these schemas describe those answers so a
client (and the fuzzer, which checks every response against them) knows each key and its type.
They never serialise anything, so a key the projections add is not silently dropped; a test
checks the documented keys against real answers (tests/api/test_openapi_document.py).
"""

from __future__ import annotations

from marshmallow import Schema, fields


def _s(description: str, **kw) -> fields.String:
    return fields.String(allow_none=kw.pop("allow_none", False), metadata={
        "description": description, **kw})


def _i(description: str, **kw) -> fields.Integer:
    return fields.Integer(allow_none=kw.pop("allow_none", False), metadata={
        "description": description, **kw})


def _n(description: str, **kw) -> fields.Float:
    return fields.Float(allow_none=kw.pop("allow_none", False), metadata={
        "description": description, **kw})


def _b(description: str) -> fields.Boolean:
    return fields.Boolean(metadata={"description": description})


def _list(schema, description: str) -> fields.List:
    inner = fields.Nested(schema) if isinstance(schema, type) else schema
    return fields.List(inner, metadata={"description": description})


def _obj(description: str, allow_none: bool = False) -> fields.Dict:
    return fields.Dict(allow_none=allow_none, metadata={"description": description})


MOMENT = "ISO 8601 date-time of the log (UTC)"
POSITION = "log position: the number of an event in the whole trial's log"


class SubjectRow(Schema):
    subject_id = _s("subject id")
    site_id = _s("site id")
    status = _s("screening, enrolled, infused, in_follow_up or ended")
    stream_version = _i("the casebook's version (send it as If-Match)")


class SubjectList(Schema):
    subjects = _list(SubjectRow, "the subjects of the caller's sites")


class EntryVersion(Schema):
    kind = _s("original, correction or void")
    position = _i(POSITION)
    changes = _obj("field -> value entered or changed in this step")
    reason = _s("why (corrections and voids)", allow_none=True)
    actor = _s("username", allow_none=True)
    role = _s("role of the actor", allow_none=True)
    recorded_at = _s(MOMENT)


class EntryView(Schema):
    entry_id = _s("entry id")
    form = _s("form name (GET /forms)")
    visit = _s("visit code", allow_none=True)
    values = _obj("current values, corrections applied, as entered")
    derived = _obj("values the server derived and stored (BSA, dose per m2, flags)")
    voided = _b("the entry was voided and counts for nothing")
    void_reason = _s("why it was voided", allow_none=True)
    position = _i(POSITION + " of the original submission")
    recorded_at = _s(MOMENT)
    versions = _list(EntryVersion, "every step of the entry's history")
    verification = _obj("source data verification state")
    open_queries = fields.List(fields.String(), metadata={"description": "open query ids"})


class QueryStep(Schema):
    action = _s("QueryOpened, QueryAnswered, QueryClosed, QueryReopened or QueryCancelled")
    by = _s("username")
    role = _s("role", allow_none=True)
    at = _s(MOMENT)
    text = _s("text of the step", allow_none=True)
    position = _i(POSITION)


class QueryView(Schema):
    query_id = _s("query id")
    entry_id = _s("the entry queried")
    field = _s("the field queried", allow_none=True)
    text = _s("the question")
    state = _s("open, answered, closed or cancelled")
    opened_by = _s("username")
    opened_at = _s(MOMENT)
    opened_position = _i(POSITION)
    automatic = _s("the edit check that opened it (system queries), else null", allow_none=True)
    history = _list(QueryStep, "every step")
    subject_id = _s("subject id (in lists)")
    age_days = _n("days since it was opened (in lists)", unit="days")


class SignatureView(Schema):
    signer = _s("username of the signer")
    printed_name = _s("the signer's printed name (21 CFR 11.50)")
    meaning = _s("authorship, review or approval")
    signed_at = _s("when it was signed (UTC)")
    position = _i(POSITION + " of the signature event")
    covers_position = _i("the last position the signature covers")
    covers_hash = _s("the hash of the event at covers_position")
    valid = _b("false once any later event touched the casebook")
    invalidated_by_position = _i("the first later event", allow_none=True)


class Casebook(Schema):
    subject_id = _s("subject id")
    site_id = _s("site id")
    status = _s("screening, enrolled, infused, in_follow_up or ended")
    stream_version = _i("the casebook's version (send it as If-Match)")
    position = _i("the log position this view is as of")
    locked = _b("the casebook is locked")
    lock_reason = _s("why", allow_none=True)
    entries = _list(EntryView, "every entry, voided ones included")
    queries = _list(QueryView, "every query")
    signatures = _list(SignatureView, "every signature")


class EventView(Schema):
    position = _i(POSITION)
    stream_version = _i("version within the subject's stream")
    type = _s("event type, past tense (PlateletCountRecorded)")
    schema_version = _i("payload schema version")
    data = _obj("the payload")
    metadata = _obj("actor, role, request id, client, reason")
    recorded_at = _s(MOMENT)
    hash = _s("SHA-256 link of the chain (docs/hash-chain.md)")


class History(Schema):
    subject_id = _s("subject id")
    events = _list(EventView, "the subject's events in order, as recorded")


class Criterion(Schema):
    code = _s("IN01..IN08, EX01..EX19")
    label = _s("the criterion in words")
    status = _s("met, not_met or unknown")
    source = _s("computed or attested")
    detail = _s("why", allow_none=True)
    entries = fields.List(fields.String(), metadata={"description": "entries it was read from"})


class Eligibility(Schema):
    subject_id = _s("subject id")
    as_of_position = _i("the log position this view is as of")
    status = _s("eligible, ineligible or incomplete")
    criteria = _list(Criterion, "every criterion")
    failing = fields.List(fields.String(), metadata={"description": "codes that exclude"})
    discrepancies = _list(fields.Dict(), "checklist answers contradicting computed results")


class Syndrome(Schema):
    max_grade = _i("ASTCT grade, 5 when a reported event was fatal")
    computed_max_grade = _i("the worst grade computed from the data")
    reported_max_grade = _i("the worst grade the investigator reported")
    by_day = _list(fields.Dict(), "{date, grade} per clinical date")
    reported_entries = fields.List(fields.String(), metadata={"description": "AE entries"})
    differences = _list(fields.Dict(), "computed vs reported grade")
    ich_exclusions = _list(fields.Dict(), "ICANS only: assessments whose raised-ICP domain was "
                                          "set aside because of an intracranial haemorrhage, "
                                          "with the reason")


class LabToxicity(Schema):
    test = _s("platelets, neutrophils, leukocytes, lymphocytes, hemoglobin, alt, ast, bilirubin "
              "or creatinine")
    value = _n("the value, in the test's unit (GET /forms)")
    grade = _i("CTCAE v5.0 grade")
    collected_at = _s("when the sample was taken, as entered", allow_none=True)
    entry_id = _s("entry id")
    form = _s("form it came from")
    baseline = _obj("the baseline used: {value, collected_at, date, entry_id, form}",
                    allow_none=True)


class FeverDay(Schema):
    date = _s("clinical date (in the offset entered)")
    max_temperature_c = _n("highest temperature that day", unit="°C")
    grade = _i("CTCAE v5.0 fever grade")
    hours_above_40 = _n("hours above 40.0 °C (the longest run, or the site's record)",
                        allow_none=True, unit="h")
    entry_ids = fields.List(fields.String(), metadata={"description": "vital signs entries"})


class Safety(Schema):
    subject_id = _s("subject id")
    as_of_position = _i("the log position this view is as of")
    adverse_events = _list(fields.Dict(), "current adverse events with their values")
    max_grade = _i("worst AE grade", allow_none=True)
    serious_count = _i("serious AEs")
    crs = fields.Nested(Syndrome, metadata={"description": "cytokine release syndrome"})
    icans = fields.Nested(Syndrome, metadata={"description": "ICANS"})
    lab_toxicities = _list(LabToxicity, "graded lab values (grade >= 1)")
    late_sae_reports = _list(fields.Dict(), "SAEs first recorded > 24 h after awareness")
    unreported_lab_toxicities = _list(LabToxicity, "grade >= 3 with no matching AE")
    fever = _list(FeverDay, "one row per day with a temperature >= 38.0 °C")
    unreported_ich = _list(fields.Dict(), "intracranial haemorrhages with no matching AE "
                                          "(to report as an adverse event)")


class CountView(Schema):
    entry_id = _s("entry id", allow_none=True)
    collected_at = _s("when the count was taken")
    date = _s("its clinical date")
    day = _i("study day (day 0 = infusion)", unit="days")
    platelets = _n("platelet count", unit="10^9/L")
    level = _s("CR, R or NR")
    bleeding = _b("bleeding (WHO grade >= 2) that day")
    evaluable = _b("used for the response")
    excluded_reason = _s("before_day0, after_rescue or transfused", allow_none=True)
    confirmation = _s("confirmed or unconfirmed", allow_none=True)
    confirmed_level = _s("the confirmed response period it belongs to", allow_none=True)


class Efficacy(Schema):
    subject_id = _s("subject id")
    as_of_position = _i("the log position this view is as of")
    status = _s("not_infused or assessed")
    baseline_platelets = _n("baseline count", unit="10^9/L", allow_none=True)
    baseline = _obj("the count used as baseline", allow_none=True)
    best_response = _s("CR, R, NR, or null before any assessable count", allow_none=True)
    response_at_w12 = _s("response still held on day 84", allow_none=True)
    time_to_response_days = _i("days from day 0 to CR or R", allow_none=True, unit="days")
    time_to_cr_days = _i("days from day 0 to CR", allow_none=True, unit="days")
    duration_of_response_days = _i("days from response to its loss (or the last count)",
                                   allow_none=True, unit="days")
    duration_censored = fields.Boolean(allow_none=True, metadata={
        "description": "true while the first response is ongoing (the duration runs to the "
                       "last evaluable count), false once lost, null without a response"})
    corticosteroid_courses = _list(fields.Dict(), "corticosteroid courses counted toward "
                                                  "dependence (ITP courses, rescue therapy)")
    corticosteroid_courses_not_counted = _list(fields.Dict(), "courses given for another "
                                                              "indication")
    loss_of_response = _b("the response was lost")
    loss_of_cr = _b("the CR was lost")
    loss_date = _s("first of the two failing counts", allow_none=True)
    loss_of_cr_date = _s("first of the two counts that lost the CR", allow_none=True)
    corticosteroid_dependent = _b("corticosteroid dependence (a non-responder)")
    corticosteroid_days = _i("days of corticosteroids counted toward dependence",
                             unit="days")
    responses = _list(fields.Dict(), "confirmed response periods")
    counts = _list(CountView, "the series used, each evaluable or excluded with the reason")


class VisitRow(Schema):
    visit = _s("visit code")
    label = _s("label")
    day = _i("study day", allow_none=True, unit="days")
    target_date = _s("target date", allow_none=True)
    window_start = _s("first day of the window", allow_none=True)
    window_end = _s("last day of the window", allow_none=True)
    status = _s("done, due, overdue, missed or not_applicable")
    in_window = _b("the window is open today")
    entries = fields.List(fields.String(), metadata={"description": "entries of the visit"})


class Schedule(Schema):
    subject_id = _s("subject id")
    as_of_position = _i("the log position this view is as of")
    day0 = _s("infusion date", allow_none=True)
    as_of_date = _s("the date statuses are computed for")
    visits = _list(VisitRow, "every visit of the schedule")


class Summary(Schema):
    subjects = _i("subjects of the caller's sites")
    subjects_by_status = _obj("status -> count")
    eligibility = _obj("eligibility status -> count")
    response_at_w12 = _obj("W12 response -> count of infused subjects")
    adverse_events_by_term = _list(fields.Dict(), "{term, events, subjects, worst_grade}")
    crs_by_grade = _obj("grade -> subjects")
    icans_by_grade = _obj("grade -> subjects")
    open_saes = _list(fields.Dict(), "serious AEs not yet recovered")
    overdue_visits = _list(fields.Dict(), "{subject_id, visit, window_end}")
    read_model = _obj("checkpoint, head, lag, last error of the read models")


class QueryList(Schema):
    queries = _list(QueryView, "queries")


class Verification(Schema):
    subject_id = _s("subject id")
    entries = _i("current entries")
    verified = _i("verified and unchanged since")
    percent = _n("verified share", unit="%")
    per_form = _obj("form -> {entries, verified}")


class SecurityEvent(Schema):
    position = _i(POSITION)
    stream_id = _s("user:<name> or security")
    type = _s("UserCreated, LoginFailed, AccountLocked ...")
    data = _obj("payload (password hashes never shown)")
    metadata = _obj("actor, role, request id, client")
    recorded_at = _s(MOMENT)


class SecurityEvents(Schema):
    events = _list(SecurityEvent, "account and login events")


class ChainReport(Schema):
    ok = _b("every check holds")
    events_checked = _i("events checked")
    head_position = _i("last position checked")
    head_hash = _s("its hash")
    first_broken_position = _i("where the first check failed", allow_none=True)
    problem = _s("what failed", allow_none=True)
    signatures_checked = _b("event signatures were checked (a public key was given)")
    trusted_key_ids = fields.List(fields.String(), metadata={
        "description": "key_ids of the public keys the signatures were checked against"})
    checkpoints_checked = _i("checkpoints checked (witness file and posted receipts)")
    checks = fields.List(fields.String(), metadata={"description": "the checks that ran"})


class SignedHead(Schema):
    position = _i(POSITION + " of the head")
    hash = _s("the hash of the event there")
    recorded_at = _s("when that event was recorded (UTC)")
    signed_at = _s("when this checkpoint was signed (UTC)")
    key_id = _s("first 16 hex digits of SHA-256 over the raw public key")
    signature = _s("base64 Ed25519 over the canonical JSON of the five fields above")
    public_key = _s("the server's public key (PEM) to check it with")


class AuditRow(Schema):
    position = _i(POSITION)
    recorded_at = _s(MOMENT)
    subject_id = _s("subject id")
    site_id = _s("site id")
    entry_id = _s("entry id", allow_none=True)
    form = _s("form", allow_none=True)
    visit = _s("visit", allow_none=True)
    field = _s("field", allow_none=True)
    old_value = fields.Raw(allow_none=True, metadata={"description": "value before"})
    new_value = fields.Raw(allow_none=True, metadata={"description": "value after"})
    action = _s("entered, corrected, cleared, voided, query_opened, verified, signed ...")
    event_type = _s("event type")
    actor = _s("username", allow_none=True)
    role = _s("role", allow_none=True)
    reason = _s("reason", allow_none=True)


class AuditRows(Schema):
    rows = _list(AuditRow, "audit rows in log order")
    count = _i("rows in this answer")
    next_after = _i("give as ?after= for the next page (null on the last)", allow_none=True)


class Replay(Schema):
    subject_id = _s("subject id")
    as_of_position = _i("the log position this view is as of")
    casebook = fields.Nested(Casebook)
    eligibility = _obj("as GET /eligibility")
    safety = _obj("as GET /safety")
    efficacy = _obj("as GET /efficacy")
    schedule = _obj("as GET /schedule")
    verification = _obj("as GET /verification")


class Diff(Schema):
    subject_id = _s("subject id")
    from_position = _i("from this position")
    to_position = _i("to this position")
    entries = _list(fields.Dict(), "{entry_id, form, visit, field, from, to} per changed value")
    derived = _list(fields.Dict(), "{projection, key, from, to} per changed derived value")


class FormsDescription(Schema):
    forms = _list(fields.Dict(), "each form: fields, types, units, ranges, choices, rules")
