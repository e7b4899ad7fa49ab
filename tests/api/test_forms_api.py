"""Every form of crf-spec.md through POST /subjects/{id}/forms/{form}: accepted, refused, derived.

(a) the valid example of each form is stored as its event type and shown by the casebook;
(b) every schema rule of every form, broken once, is refused with 422 naming the field;
(c) the rules against the subject's state and facts, and the flags the server derives.
Every refusal leaves the event count unchanged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from marshmallow import fields, validate

from ecrf.forms.describe import field_type
from ecrf.forms.fields import NotBlank
from ecrf.forms.registry import FORMS
from tests.api.conftest import Api, registration
from tests.api.examples import INFUSION_DAY, VALID, valid, without

SUBMITTABLE = [name for name in FORMS if name != "registration"]
WITH_VISIT = [name for name in SUBMITTABLE if FORMS[name].has_visit]
SUBJECT_RULE_FIELDS = {"capd_score"}  # a CAPD score is refused for an adult (see (c))
#: What a boundary value needs beside it to be valid (grade 5 is fatal by definition).
ALONG_WITH = {("adverse_event", "ctcae_grade", 5): {"outcome": "fatal"}}


class SiteApi(Api):
    """Site staff, except that the investigator sends the I/E checklist (their form)."""

    def __init__(self, staff: Api, investigator: Api) -> None:
        super().__init__(staff.client, staff.token)
        self.investigator = investigator

    def post(self, path: str, json: Any = None, **kw: Any):
        if path.endswith("/forms/ie_checklist"):
            return self.investigator.post(path, json, **kw)
        return super().post(path, json, **kw)


@pytest.fixture
def staff(as_user) -> SiteApi:
    return SiteApi(as_user("staff"), as_user("investigator"))


def submit(api, subject_id: str, form: str, payload: Any):
    if form == "registration":
        return api.post("/subjects", payload)
    return api.post(f"/subjects/{subject_id}/forms/{form}", payload)


def casebook_entry(api, subject_id: str, entry_id: str, **query: Any) -> dict:
    reply = api.get(f"/subjects/{subject_id}", query_string=query)
    assert reply.status_code == 200, reply.json
    return next(e for e in reply.json["entries"] if e["entry_id"] == entry_id)


def assert_field_named(reply, path: str) -> None:
    """Assert the error names ``path`` (dotted into nested messages: prior_therapies.0.line)."""
    node: Any = reply.json["error"].get("fields") or {}
    for part in path.split("."):
        assert isinstance(node, dict) and part in node, (path, reply.json)
        node = node[part]
    assert node, (path, reply.json)


def assert_refused(reply, store, before: int, status: int, code: str,
                   field: str | None = None) -> None:
    assert reply.status_code == status, reply.json
    assert reply.json["error"]["code"] == code, reply.json
    if field is not None:
        assert_field_named(reply, field)
    assert store.count() == before


def event_of(store, reply):
    """The event a successful submission appended (the system may append queries after it)."""
    assert reply.status_code == 201, reply.json
    [event] = [e for e in store.read_stream(reply.json["subject_id"])
               if e.position == reply.json["position"]]
    return event


def flags_of(store, reply) -> list[str]:
    return event_of(store, reply).data.get("derived", {}).get("flags", [])


def test_there_is_one_valid_example_per_form():
    assert list(VALID) == list(FORMS)


# -- (a) the valid example of every form is accepted and stored as its event type ---------


@pytest.mark.parametrize("form", SUBMITTABLE)
def test_valid_example_is_stored_as_its_event_type_and_shown_in_the_casebook(
        staff, subject, store, form):
    payload = valid(form)
    before = store.count()
    reply = submit(staff, subject, form, payload)
    assert reply.status_code == 201, reply.json
    event = event_of(store, reply)
    assert event.type == FORMS[form].event_type
    # one entry event by the user; anything after it is the system's automatic queries
    appended = store.read_all(after=reply.json["position"] - 1)
    assert store.count() == before + len(appended)
    assert all(e.metadata["actor"] == "system" for e in appended[1:])
    assert event.data["form"] == form
    assert event.data["entry_id"] == reply.json["entry_id"]
    assert event.position == reply.json["position"]
    entry = casebook_entry(staff, subject, reply.json["entry_id"])
    assert entry["form"] == form
    assert entry["visit"] == payload.get("visit")
    assert entry["voided"] is False
    assert entry["values"] == event.data["values"]
    assert [v["kind"] for v in entry["versions"]] == ["original"]
    schema = FORMS[form].schema
    for name, value in payload.items():
        if isinstance(schema.fields[name], fields.DateTime):
            # kept as entered, offset included (issue #11 item 3); "Z" is spelt "+00:00"
            assert entry["values"][name] == value.replace("Z", "+00:00")
        else:
            assert entry["values"].get(name) == value, name


def test_valid_registration_is_stored_as_subject_registered(staff, store):
    reply = staff.post("/subjects", valid("registration"))
    assert reply.status_code == 201, reply.json
    event = store.read_stream("ITP-001")[-1]
    assert event.type == FORMS["registration"].event_type
    book = staff.get("/subjects/ITP-001").json
    assert book["status"] == "screening"
    [entry] = book["entries"]
    assert entry["form"] == "registration"
    assert entry["values"] == VALID["registration"]


def _minimal(form: str) -> dict[str, Any]:
    """The valid example cut to its required fields and those its own values make required."""
    schema, example = FORMS[form].schema, VALID[form]
    payload = {k: v for k, v in example.items() if schema.fields[k].required}
    for name, field in schema.fields.items():
        condition = field.metadata.get("condition")
        if condition is not None and condition.holds(payload):
            payload[name] = example[name]
    return payload


@pytest.mark.parametrize("form", SUBMITTABLE)
def test_a_form_with_only_its_required_fields_is_accepted(staff, subject, store, form):
    reply = submit(staff, subject, form, _minimal(form))
    assert event_of(store, reply).type == FORMS[form].event_type


def _boundaries() -> Iterator[Any]:
    for form in SUBMITTABLE:
        for name, field in FORMS[form].schema.fields.items():
            if name in SUBJECT_RULE_FIELDS:
                continue
            for rule in field.validators:
                if not isinstance(rule, validate.Range):
                    continue
                if rule.min is not None and rule.min_inclusive:
                    yield pytest.param(form, name, rule.min, id=f"{form}:{name}={rule.min}")
                if rule.max is not None and rule.max_inclusive:
                    yield pytest.param(form, name, rule.max, id=f"{form}:{name}={rule.max}")


@pytest.mark.parametrize(("form", "name", "value"), list(_boundaries()))
def test_range_limits_themselves_are_accepted(staff, subject, form, name, value):
    payload = valid(form, **{name: value}, **ALONG_WITH.get((form, name, value), {}))
    reply = submit(staff, subject, form, payload)
    assert reply.status_code == 201, reply.json


# -- (b) every schema rule broken once: 422 with the field named, nothing appended --------


@dataclass(frozen=True)
class Case:
    """A valid example broken in one way, and the field the refusal must name."""

    form: str
    rule: str
    payload: Any
    field: str

    def param(self) -> Any:
        return pytest.param(self, id=f"{self.form}:{self.field}:{self.rule}")


WRONG_TYPE = {
    "number": "12",
    "integer": 1.5,
    "boolean": "yes",
    "date": "05/01/2026",
    "datetime": "2026-01-06T08:15:00",  # no offset: ambiguous across sites
    "string": 12,
    "enum": 12,
    "list": "not a list",
    "object": ["not", "an", "object"],
}


def _schema_cases(form: str) -> Iterator[Case]:
    """Derive from the schema: required, blank, type, range, choice and pattern rules."""
    for name, field in FORMS[form].schema.fields.items():
        if field.required:
            yield Case(form, "missing", without(form, name), name)
            yield Case(form, "null", valid(form, **{name: None}), name)
        yield Case(form, "wrong_type", valid(form, **{name: WRONG_TYPE[field_type(field)]}), name)
        step = 1 if isinstance(field, fields.Integer) else 0.5
        for rule in field.validators:
            if isinstance(rule, NotBlank):
                yield Case(form, "blank", valid(form, **{name: "   "}), name)
            if isinstance(rule, validate.Range) and rule.min is not None:
                low = rule.min - step if rule.min_inclusive else rule.min
                yield Case(form, f"below_min={low}", valid(form, **{name: low}), name)
            if isinstance(rule, validate.Range) and rule.max is not None:
                yield Case(form, f"above_max={rule.max + step}",
                           valid(form, **{name: rule.max + step}), name)
            if isinstance(rule, validate.OneOf):
                yield Case(form, "not_a_choice", valid(form, **{name: "bogus"}), name)
            if isinstance(rule, validate.Regexp):
                yield Case(form, "pattern", valid(form, **{name: "bad id!"}), name)
        inner = getattr(field, "inner", None)
        if inner is not None and any(isinstance(r, validate.OneOf) for r in inner.validators):
            yield Case(form, "item_not_a_choice", valid(form, **{name: ["bogus"]}), f"{name}.0")
    yield Case(form, "unknown_field", valid(form, surprise=1), "surprise")


def _future() -> str:
    return (dt.date.today() + dt.timedelta(days=3)).isoformat()


def _therapy(**changes: Any) -> dict[str, Any]:
    return {**VALID["itp_history"]["prior_therapies"][0], **changes}


def _therapy_without(name: str) -> dict[str, Any]:
    item = _therapy()
    item.pop(name)
    return item


# Rules across fields and inside nested values, written by hand.
CROSS_FIELD = [
    # registration
    Case("registration", "lowercase", valid("registration", subject_id="itp-001"), "subject_id"),
    Case("registration", "too_short", valid("registration", subject_id="IT"), "subject_id"),
    Case("registration", "too_long", valid("registration", subject_id="I" * 21), "subject_id"),
    Case("registration", "in_future", valid("registration", birth_date=_future()),
         "birth_date"),
    Case("registration", "in_future",
         valid("registration", consent_date=_future(), screening_date=_future()),
         "consent_date"),
    Case("registration", "before_birth",
         valid("registration", consent_date="1979-12-31", screening_date="2026-01-06"),
         "consent_date"),
    Case("registration", "before_consent", valid("registration", screening_date="2026-01-04"),
         "screening_date"),
    Case("registration", "minor_without_assent", valid("registration", birth_date="2012-01-01"),
         "assent_date"),
    # itp_history: the conditional field and each rule of a prior therapy
    Case("itp_history", "splenectomy_without_preventive", without("itp_history",
         "splenectomy_preventive"), "splenectomy_preventive"),
    Case("itp_history", "splenectomy_preventive_null",
         valid("itp_history", splenectomy_preventive=None), "splenectomy_preventive"),
    *[Case("itp_history", f"therapy_without_{name}",
           valid("itp_history", prior_therapies=[_therapy_without(name)]),
           f"prior_therapies.0.{name}")
      for name in ("agent", "line", "start_date", "best_response", "intolerance")],
    Case("itp_history", "therapy_blank_agent",
         valid("itp_history", prior_therapies=[_therapy(agent=" ")]), "prior_therapies.0.agent"),
    Case("itp_history", "therapy_line_0",
         valid("itp_history", prior_therapies=[_therapy(line=0)]), "prior_therapies.0.line"),
    Case("itp_history", "therapy_line_10",
         valid("itp_history", prior_therapies=[_therapy(line=10)]), "prior_therapies.0.line"),
    Case("itp_history", "therapy_line_not_integer",
         valid("itp_history", prior_therapies=[_therapy(line=1.5)]), "prior_therapies.0.line"),
    Case("itp_history", "therapy_response_not_a_choice",
         valid("itp_history", prior_therapies=[_therapy(best_response="PR")]),
         "prior_therapies.0.best_response"),
    Case("itp_history", "therapy_intolerance_not_bool",
         valid("itp_history", prior_therapies=[_therapy(intolerance="no")]),
         "prior_therapies.0.intolerance"),
    Case("itp_history", "therapy_end_before_start",
         valid("itp_history", prior_therapies=[_therapy(end_date="2023-03-19")]),
         "prior_therapies.0.end_date"),
    Case("itp_history", "therapy_unknown_field",
         valid("itp_history", prior_therapies=[_therapy(dose="1 mg")]),
         "prior_therapies.0.dose"),
    Case("itp_history", "second_therapy_invalid",
         valid("itp_history", prior_therapies=[_therapy(), _therapy(line=12)]),
         "prior_therapies.1.line"),
    Case("itp_history", "on_screening_day", valid("itp_history", diagnosis_date="2026-01-06"),
         "diagnosis_date"),
    # screening_labs: conditional nucleic acid tests and limits travelling with their values
    Case("screening_labs", "hbcab_positive_without_dna", without("screening_labs", "hbv_dna"),
         "hbv_dna"),
    Case("screening_labs", "hcv_positive_without_rna", without("screening_labs", "hcv_rna"),
         "hcv_rna"),
    *[Case("screening_labs", f"{value}_without_limit", without("screening_labs", limit), limit)
      for value, limit in (("hemoglobin", "hemoglobin_lln"), ("neutrophils", "neutrophils_lln"),
                           ("bilirubin", "bilirubin_uln"))],
    # concomitant_medication
    Case("concomitant_medication", "end_before_start",
         valid("concomitant_medication", end_date="2025-10-31"), "end_date"),
    Case("concomitant_medication", "dose_without_unit",
         without("concomitant_medication", "dose_unit"), "dose_unit"),
    Case("concomitant_medication", "corticosteroid_without_indication",
         without("concomitant_medication", "indication"), "indication"),
    Case("concomitant_medication", "other_without_words",
         valid("concomitant_medication", indication="other"), "indication_other"),
    # ie_checklist: criterion codes and answers
    Case("ie_checklist", "unknown_criterion",
         valid("ie_checklist", answers={"IN99": "yes"}), "answers.IN99"),
    Case("ie_checklist", "answer_not_yes_no",
         valid("ie_checklist", answers={"IN01": "maybe"}), "answers.IN01"),
    # platelet_count and chemistry: each optional value needs its limit
    *[Case("platelet_count", f"{value}_without_limit", without("platelet_count", f"{value}_lln"),
           f"{value}_lln")
      for value in ("hemoglobin", "leukocytes", "neutrophils", "lymphocytes")],
    *[Case("chemistry", f"{value}_without_limit", without("chemistry", f"{value}_uln"),
           f"{value}_uln")
      for value in ("alt", "ast", "bilirubin", "creatinine")],
    # bleeding_assessment
    Case("bleeding_assessment", "site_not_text", valid("bleeding_assessment", sites=[3]),
         "sites.0"),
    # rescue_therapy
    Case("rescue_therapy", "end_before_start", valid("rescue_therapy", end_date="2026-02-11"),
         "end_date"),
    # adverse_event: dates, seriousness, grade 5 and fatal outcome
    Case("adverse_event", "end_before_onset", valid("adverse_event", end_date="2026-02-03"),
         "end_date"),
    Case("adverse_event", "serious_without_criteria", without("adverse_event", "seriousness"),
         "seriousness"),
    Case("adverse_event", "serious_with_no_criteria", valid("adverse_event", seriousness=[]),
         "seriousness"),
    Case("adverse_event", "serious_without_aware_at", without("adverse_event", "aware_at"),
         "aware_at"),
    Case("adverse_event", "grade_5_not_fatal",
         valid("adverse_event", ctcae_grade=5, outcome="recovered"), "outcome"),
    Case("adverse_event", "fatal_not_grade_5", valid("adverse_event", outcome="fatal"),
         "ctcae_grade"),
    # visit: a date unless missed, a reason when missed
    Case("visit", "attended_without_date", without("visit", "visit_date"), "visit_date"),
    Case("visit", "missed_false_null_date", valid("visit", visit_date=None), "visit_date"),
    Case("visit", "missed_without_reason", valid("visit", missed=True, visit_date=None),
         "reason"),
    Case("visit", "missed_with_blank_reason",
         valid("visit", missed=True, visit_date=None, reason="  "), "reason"),
]

CASES = [case for form in FORMS for case in _schema_cases(form)] + CROSS_FIELD


def test_every_conditional_requirement_has_a_case():
    conditional = {(form, name) for form in FORMS
                   for name, field in FORMS[form].schema.fields.items()
                   if "condition" in field.metadata}
    covered = {(case.form, case.field) for case in CROSS_FIELD}
    assert conditional <= covered, conditional - covered


@pytest.mark.parametrize("case", [case.param() for case in CASES])
def test_broken_rule_is_refused_with_the_field_named_and_nothing_appended(
        staff, subject, store, case):
    before = store.count()
    reply = submit(staff, subject, case.form, case.payload)
    assert_refused(reply, store, before, 422, "validation_failed", case.field)


@pytest.mark.parametrize("body", [[1, 2], "text", 3], ids=["list", "string", "number"])
def test_a_body_that_is_not_an_object_is_refused(staff, subject, store, body):
    before = store.count()
    reply = submit(staff, subject, "platelet_count", body)
    assert_refused(reply, store, before, 422, "validation_failed", "_body")


# -- (c) rules against the subject's state --------------------------------------------------


@pytest.mark.parametrize("form", SUBMITTABLE)
def test_no_form_for_an_unregistered_subject(staff, store, form):
    before = store.count()
    reply = submit(staff, "ITP-404", form, valid(form))
    assert_refused(reply, store, before, 404, "subject_not_found")


def test_a_second_infusion_is_refused(staff, subject, store):
    assert submit(staff, subject, "car_t_infusion", valid("car_t_infusion")).status_code == 201
    before = store.count()
    reply = submit(staff, subject, "car_t_infusion",
                   valid("car_t_infusion", infused_at="2026-02-20T10:00:00+08:00",
                         product_lot="LOT-2026-0043"))
    assert_refused(reply, store, before, 409, "already_infused")


@pytest.mark.parametrize("form", SUBMITTABLE)
def test_no_new_form_after_end_of_study(staff, subject, store, form):
    assert submit(staff, subject, "end_of_study", valid("end_of_study")).status_code == 201
    before = store.count()
    reply = submit(staff, subject, form, valid(form))
    assert_refused(reply, store, before, 409, "subject_ended")


@pytest.mark.parametrize("form", WITH_VISIT)
@pytest.mark.parametrize("code", ["D99", "d7", "SCREENING", " D7"])
def test_a_visit_outside_the_schedule_is_refused(staff, subject, store, form, code):
    before = store.count()
    reply = submit(staff, subject, form, valid(form, visit=code))
    assert_refused(reply, store, before, 422, "unknown_visit", "visit")


@pytest.mark.parametrize("form", WITH_VISIT)
def test_an_unscheduled_visit_is_accepted(staff, subject, form):
    reply = submit(staff, subject, form, valid(form, visit="UNSCHEDULED"))
    assert reply.status_code == 201, reply.json
    assert casebook_entry(staff, subject, reply.json["entry_id"])["visit"] == "UNSCHEDULED"


@pytest.mark.parametrize("code", ["SCR", "LEUK", "LD", "D0", "D1", "D28", "W12", "M12"])
def test_every_kind_of_scheduled_visit_code_is_accepted(staff, subject, code):
    reply = submit(staff, subject, "visit", valid("visit", visit=code))
    assert reply.status_code == 201, reply.json


# -- (c) rules against the subject's facts --------------------------------------------------


def test_pregnancy_test_not_applicable_is_refused_for_a_woman_of_45(staff, subject, store):
    before = store.count()
    reply = submit(staff, subject, "screening_labs",
                   valid("screening_labs", pregnancy_test="not_applicable"))
    assert_refused(reply, store, before, 422, "validation_failed", "pregnancy_test")


def test_pregnancy_test_not_applicable_is_accepted_for_a_man(staff, store):
    assert staff.post("/subjects", registration("ITP-002", sex="M")).status_code == 201
    reply = submit(staff, "ITP-002", "screening_labs",
                   valid("screening_labs", pregnancy_test="not_applicable"))
    assert reply.status_code == 201, reply.json


def test_diagnosis_on_or_after_screening_is_refused(staff, subject, store):
    before = store.count()
    reply = submit(staff, subject, "itp_history", valid("itp_history", diagnosis_date="2026-01-07"))
    assert_refused(reply, store, before, 422, "validation_failed", "diagnosis_date")


@pytest.fixture
def child(staff) -> str:
    """A subject aged 10 (born 2015-06-01, consent 2026-01-05, with assent)."""
    reply = staff.post("/subjects", registration("ITP-010", birth_date="2015-06-01",
                                                 assent_date="2026-01-05"))
    assert reply.status_code == 201, reply.json
    return "ITP-010"


def test_ice_score_is_refused_for_a_subject_aged_10(staff, child, store):
    before = store.count()
    reply = submit(staff, child, "neuro_assessment", valid("neuro_assessment"))
    assert_refused(reply, store, before, 422, "validation_failed", "ice_score")


@pytest.mark.parametrize("capd", [0, 9, 32])
def test_capd_score_is_accepted_for_a_subject_aged_10(staff, child, capd):
    payload = without("neuro_assessment", "ice_score")
    reply = submit(staff, child, "neuro_assessment", {**payload, "capd_score": capd})
    assert reply.status_code == 201, reply.json


def test_capd_score_is_refused_for_an_adult(staff, subject, store):
    before = store.count()
    reply = submit(staff, subject, "neuro_assessment", valid("neuro_assessment", capd_score=4))
    assert_refused(reply, store, before, 422, "validation_failed", "capd_score")


# -- (c) derived values and flags: marked, never refused ------------------------------------


def test_lymphodepletion_stores_bsa_and_doses_per_m2_without_flags(staff, subject, store):
    reply = submit(staff, subject, "lymphodepletion", valid("lymphodepletion"))
    derived = event_of(store, reply).data["derived"]
    assert derived == {"bsa_m2": 1.66, "fludarabine_mg_m2": 30.12,
                       "cyclophosphamide_mg_m2": 301.2}


def test_fludarabine_dose_off_protocol_is_accepted_and_flagged(staff, subject, store):
    before = store.count()
    reply = submit(staff, subject, "lymphodepletion", valid("lymphodepletion", fludarabine_mg=60))
    derived = event_of(store, reply).data["derived"]
    assert store.count() > before
    assert derived["bsa_m2"] == 1.66
    assert derived["fludarabine_mg_m2"] == 36.14
    assert derived["cyclophosphamide_mg_m2"] == 301.2
    assert derived["flags"] == ["fludarabine_dose_deviation"]
    assert casebook_entry(staff, subject, reply.json["entry_id"])["derived"] == derived


@pytest.mark.parametrize(("changes", "flags"), [
    ({"cyclophosphamide_mg": 400}, ["cyclophosphamide_dose_deviation"]),
    ({"fludarabine_mg": 40, "cyclophosphamide_mg": 600},
     ["fludarabine_dose_deviation", "cyclophosphamide_dose_deviation"]),
    ({"fludarabine_mg": 54.78}, []),  # 33.00 mg/m2: exactly 10% off is within tolerance
    ({"fludarabine_mg": 54.8}, ["fludarabine_dose_deviation"]),  # 33.01 mg/m2
    ({"fludarabine_mg": 44.82}, []),  # 27.00 mg/m2
    ({"fludarabine_mg": 0}, []),  # that drug not given that day
], ids=["cyclophosphamide", "both", "plus_10_percent", "over_10_percent", "minus_10_percent",
        "not_given"])
def test_dose_deviation_flags(staff, subject, store, changes, flags):
    reply = submit(staff, subject, "lymphodepletion", valid("lymphodepletion", **changes))
    assert reply.status_code == 201, reply.json
    assert flags_of(store, reply) == flags


LD_DAYS = [f"2026-01-{day}" for day in (28, 29, 30, 31)] + ["2026-02-01", "2026-02-02"]


def test_a_sixth_distinct_lymphodepletion_day_is_flagged_course_too_long(staff, subject, store):
    for day in LD_DAYS[:5]:
        reply = submit(staff, subject, "lymphodepletion", valid("lymphodepletion",
                                                                administered_on=day))
        assert reply.status_code == 201, reply.json
        assert "course_too_long" not in flags_of(store, reply)
    reply = submit(staff, subject, "lymphodepletion", valid("lymphodepletion",
                                                            administered_on=LD_DAYS[5]))
    assert reply.status_code == 201, reply.json
    assert flags_of(store, reply) == ["course_too_long"]


def test_a_repeated_lymphodepletion_day_is_not_a_new_day(staff, subject, store):
    for day in [*LD_DAYS[:5], LD_DAYS[4]]:
        reply = submit(staff, subject, "lymphodepletion",
                       valid("lymphodepletion", administered_on=day))
        assert reply.status_code == 201, reply.json
    assert flags_of(store, reply) == []


@pytest.mark.parametrize(("ld_days", "flags"), [
    (0, ["course_too_short"]), (2, ["course_too_short"]), (3, []), (5, [])])
def test_an_infusion_after_fewer_than_3_lymphodepletion_days_is_flagged(
        staff, subject, store, ld_days, flags):
    for day in LD_DAYS[-ld_days:] if ld_days else []:
        assert submit(staff, subject, "lymphodepletion",
                      valid("lymphodepletion", administered_on=day)).status_code == 201
    reply = submit(staff, subject, "car_t_infusion", valid("car_t_infusion"))
    assert reply.status_code == 201, reply.json
    assert flags_of(store, reply) == flags


@pytest.mark.parametrize(("day", "flagged"), [(5, True), (6, False), (7, False), (8, False),
                                              (9, True)])
def test_a_d7_count_outside_its_window_is_flagged(staff, subject, store, day, flagged):
    assert submit(staff, subject, "car_t_infusion", valid("car_t_infusion")).status_code == 201
    collected = dt.date.fromisoformat(INFUSION_DAY) + dt.timedelta(days=day)
    reply = submit(staff, subject, "platelet_count",
                   valid("platelet_count", collected_at=f"{collected}T09:30:00+08:00"))
    assert reply.status_code == 201, reply.json
    assert ("outside_visit_window" in flags_of(store, reply)) is flagged


def test_no_window_flag_before_the_infusion_date_is_known(staff, subject, store):
    reply = submit(staff, subject, "platelet_count",
                   valid("platelet_count", collected_at="2026-01-20T09:30:00+08:00"))
    assert reply.status_code == 201, reply.json
    assert flags_of(store, reply) == []
