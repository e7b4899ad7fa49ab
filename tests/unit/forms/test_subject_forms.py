"""Subject and enrollment forms: a valid entry is accepted in canonical form; each rule refuses."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from marshmallow import ValidationError

from ecrf.forms import load_form

ABSENT = object()

VALID: dict[str, dict[str, Any]] = {
    "registration": {
        "subject_id": "CN01-001",
        "site_id": "CN01",
        "sex": "F",
        "birth_date": "1990-04-12",
        "consent_date": "2026-01-05",
        "screening_date": "2026-01-06",
    },
    "itp_history": {
        "visit": "SCR",
        "diagnosis_date": "2020-03-01",
        "primary_itp": True,
        "secondary_cause_excluded": True,
        "refractory": True,
        "prior_therapies": [
            {
                "agent": "prednisone",
                "line": 1,
                "start_date": "2020-03-02",
                "end_date": "2020-05-01",
                "best_response": "R",
                "intolerance": False,
            },
            {
                "agent": "eltrombopag",
                "line": 2,
                "start_date": "2021-01-10",
                "best_response": "NR",
                "intolerance": True,
            },
        ],
        "splenectomy": False,
    },
    "medical_history": {
        "visit": "SCR",
        "hemostatic_disorder_other": False,
        "platelet_agglutination_abnormality": False,
        "malignancy_or_cytotoxic_treatment_history": False,
        "heart_disease_within_1y": False,
        "thrombosis_history_or_risk": False,
        "gi_bleeding_risk_or_acute_infection_or_respiratory_disease": False,
        "decompensated_disease": False,
        "severe_allergy": False,
        "mental_illness_or_addiction": False,
        "poor_compliance_expected": False,
        "pregnant_or_lactating": False,
        "exam_abnormality_clinically_significant": False,
        "contraception_agreed": True,
        "last_other_trial_date": None,
    },
    "screening_labs": {
        "visit": "SCR",
        "collected_at": "2026-01-06T09:30:00+08:00",
        "platelets": 18,
        "hemoglobin": 112.5,
        "hemoglobin_lln": 115,
        "alt": 30,
        "alt_uln": 40,
        "ast": 25,
        "ast_uln": 40,
        "creatinine": 60,
        "creatinine_uln": 84,
        "hiv_antibody": "negative",
        "hbsag": "negative",
        "hbcab": "positive",
        "hcv_antibody": "negative",
        "hbv_dna": "negative",
        "pregnancy_test": "negative",
    },
    "concomitant_medication": {
        "drug": "prednisone",
        "category": "corticosteroid",
        "dose": 10,
        "dose_unit": "mg",
        "frequency": "once daily",
        "start_date": "2025-12-01",
        "end_date": None,
        "indication": "itp",
    },
    "ie_checklist": {
        "visit": "SCR",
        "answers": {"IN01": "yes", "IN08": "yes", "EX01": "no", "EX19": "no"},
        "investigator_confirms_eligible": True,
    },
}

REQUIRED: dict[str, tuple[str, ...]] = {
    "registration": (
        "subject_id",
        "site_id",
        "sex",
        "birth_date",
        "consent_date",
        "screening_date",
    ),
    "itp_history": (
        "visit",
        "diagnosis_date",
        "primary_itp",
        "secondary_cause_excluded",
        "refractory",
        "splenectomy",
    ),
    "medical_history": (
        "visit",
        "hemostatic_disorder_other",
        "platelet_agglutination_abnormality",
        "malignancy_or_cytotoxic_treatment_history",
        "heart_disease_within_1y",
        "thrombosis_history_or_risk",
        "gi_bleeding_risk_or_acute_infection_or_respiratory_disease",
        "decompensated_disease",
        "severe_allergy",
        "mental_illness_or_addiction",
        "poor_compliance_expected",
        "pregnant_or_lactating",
        "exam_abnormality_clinically_significant",
        "contraception_agreed",
    ),
    "screening_labs": (
        "visit",
        "collected_at",
        "platelets",
        "alt",
        "alt_uln",
        "ast",
        "ast_uln",
        "creatinine",
        "creatinine_uln",
        "hiv_antibody",
        "hbsag",
        "hbcab",
        "hcv_antibody",
        "pregnancy_test",
    ),
    "concomitant_medication": ("drug", "category", "start_date"),
    "ie_checklist": ("visit", "investigator_confirms_eligible"),
}


def mutated(form: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Return the valid example of a form with some values changed (ABSENT removes a key)."""
    payload = copy.deepcopy(VALID[form])
    for key, value in changes.items():
        if value is ABSENT:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


def errors_of(form: str, payload: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ValidationError) as refused:
        load_form(form, payload)
    return refused.value.messages


def has_error(errors: Any, path: str) -> bool:
    """Tell whether the messages name a field, by a dotted path (prior_therapies.0.end_date)."""
    node = errors
    for part in path.split("."):
        key: Any = int(part) if part.isdigit() else part
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return bool(node)


@pytest.mark.parametrize("form", VALID)
def test_a_valid_entry_is_accepted(form: str) -> None:
    assert load_form(form, VALID[form])


def test_registration_canonical_values_are_iso_dates() -> None:
    assert load_form("registration", VALID["registration"]) == VALID["registration"]


def test_screening_labs_datetime_is_returned_as_entered_and_numbers_as_floats() -> None:
    values = load_form("screening_labs", VALID["screening_labs"])
    assert values["collected_at"] == VALID["screening_labs"]["collected_at"]
    assert values["platelets"] == 18.0
    assert isinstance(values["platelets"], float)


def test_absent_optional_fields_stay_absent_and_null_stays_null() -> None:
    labs = load_form("screening_labs", VALID["screening_labs"])
    assert "bilirubin" not in labs
    assert "hcv_rna" not in labs
    history = load_form("medical_history", VALID["medical_history"])
    assert history["last_other_trial_date"] is None


def test_itp_history_prior_therapies_keep_their_items() -> None:
    values = load_form("itp_history", VALID["itp_history"])
    assert values["prior_therapies"][1] == VALID["itp_history"]["prior_therapies"][1]


def test_itp_history_prior_therapies_may_be_empty() -> None:
    assert load_form("itp_history", mutated("itp_history", {"prior_therapies": []}))


def test_minor_with_assent_is_registered() -> None:
    payload = mutated(
        "registration",
        {"birth_date": "2012-03-01", "consent_date": "2026-01-05", "assent_date": "2026-01-05"},
    )
    assert load_form("registration", payload)["assent_date"] == "2026-01-05"


def test_assent_not_needed_from_the_18th_birthday() -> None:
    payload = mutated("registration", {"birth_date": "2008-01-05", "consent_date": "2026-01-05"})
    assert "assent_date" not in load_form("registration", payload)


def test_consent_dated_today_is_not_in_the_future() -> None:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    payload = mutated("registration", {"consent_date": today, "screening_date": today})
    assert load_form("registration", payload)["consent_date"] == today


def test_hbv_dna_may_be_absent_when_hbcab_negative() -> None:
    payload = mutated("screening_labs", {"hbcab": "negative", "hbv_dna": ABSENT})
    assert "hbv_dna" not in load_form("screening_labs", payload)


def test_concomitant_medication_ongoing_has_null_end_date() -> None:
    values = load_form("concomitant_medication", VALID["concomitant_medication"])
    assert values["end_date"] is None


BROKEN_RULES = [
    # registration
    ("registration", {"subject_id": "cn01-001"}, "subject_id", "subject_id_pattern_uppercase"),
    ("registration", {"subject_id": "AB"}, "subject_id", "subject_id_at_least_3_chars"),
    ("registration", {"subject_id": "A" * 21}, "subject_id", "subject_id_at_most_20_chars"),
    ("registration", {"site_id": " "}, "site_id", "site_id_not_blank"),
    ("registration", {"sex": "X"}, "sex", "sex_is_f_or_m"),
    ("registration", {"birth_date": "2999-01-01"}, "birth_date", "birth_date_not_in_future"),
    ("registration", {"birth_date": "1990-02-30"}, "birth_date", "birth_date_is_a_date"),
    (
        "registration",
        {"consent_date": "2999-01-01", "screening_date": "2999-01-02"},
        "consent_date",
        "consent_date_not_in_future",
    ),
    (
        "registration",
        {"birth_date": "2026-01-06", "consent_date": "2026-01-05"},
        "consent_date",
        "consent_not_before_birth",
    ),
    (
        "registration",
        {"birth_date": "2012-03-01", "consent_date": "2026-01-05"},
        "assent_date",
        "assent_required_under_18_at_consent",
    ),
    (
        "registration",
        {"birth_date": "2008-01-06", "consent_date": "2026-01-05"},
        "assent_date",
        "assent_required_the_day_before_18th_birthday",
    ),
    (
        "registration",
        {"screening_date": "2026-01-04"},
        "screening_date",
        "screening_on_or_after_consent",
    ),
    ("registration", {"visit": "SCR"}, "visit", "registration_carries_no_visit"),
    # itp_history
    (
        "itp_history",
        {"splenectomy": True},
        "splenectomy_preventive",
        "splenectomy_preventive_required_when_splenectomy",
    ),
    ("itp_history", {"primary_itp": "yes"}, "primary_itp", "booleans_are_json_booleans"),
    (
        "itp_history",
        {"prior_therapies": [{**VALID["itp_history"]["prior_therapies"][0], "line": 0}]},
        "prior_therapies.0.line",
        "prior_therapy_line_at_least_1",
    ),
    (
        "itp_history",
        {"prior_therapies": [{**VALID["itp_history"]["prior_therapies"][0], "line": 10}]},
        "prior_therapies.0.line",
        "prior_therapy_line_at_most_9",
    ),
    (
        "itp_history",
        {"prior_therapies": [{**VALID["itp_history"]["prior_therapies"][0], "line": 1.5}]},
        "prior_therapies.0.line",
        "prior_therapy_line_is_an_integer",
    ),
    (
        "itp_history",
        {
            "prior_therapies": [
                {**VALID["itp_history"]["prior_therapies"][0], "best_response": "PR"}
            ]
        },
        "prior_therapies.0.best_response",
        "prior_therapy_best_response_choices",
    ),
    (
        "itp_history",
        {
            "prior_therapies": [
                {**VALID["itp_history"]["prior_therapies"][0], "end_date": "2020-03-01"}
            ]
        },
        "prior_therapies.0.end_date",
        "prior_therapy_end_not_before_start",
    ),
    (
        "itp_history",
        {"prior_therapies": [{"agent": "rituximab", "line": 2}]},
        "prior_therapies.0.start_date",
        "prior_therapy_start_date_required",
    ),
    (
        "itp_history",
        {"prior_therapies": [{**VALID["itp_history"]["prior_therapies"][0], "dose": 1}]},
        "prior_therapies.0.dose",
        "prior_therapy_unknown_field",
    ),
    # medical_history
    (
        "medical_history",
        {"last_other_trial_date": "yesterday"},
        "last_other_trial_date",
        "last_other_trial_date_is_a_date",
    ),
    # screening_labs
    ("screening_labs", {"platelets": -1}, "platelets", "platelets_at_least_0"),
    ("screening_labs", {"platelets": 2001}, "platelets", "platelets_at_most_2000"),
    ("screening_labs", {"platelets": "18"}, "platelets", "numbers_are_json_numbers"),
    ("screening_labs", {"platelets": True}, "platelets", "a_boolean_is_not_a_number"),
    ("screening_labs", {"hemoglobin": 251}, "hemoglobin", "hemoglobin_at_most_250"),
    (
        "screening_labs",
        {"hemoglobin_lln": ABSENT},
        "hemoglobin_lln",
        "hemoglobin_travels_with_its_lln",
    ),
    ("screening_labs", {"neutrophils": 101}, "neutrophils", "neutrophils_at_most_100"),
    (
        "screening_labs",
        {"neutrophils": 2.1},
        "neutrophils_lln",
        "neutrophils_travel_with_their_lln",
    ),
    ("screening_labs", {"bilirubin": 10}, "bilirubin_uln", "bilirubin_travels_with_its_uln"),
    ("screening_labs", {"alt": 10001}, "alt", "alt_at_most_10000"),
    ("screening_labs", {"alt_uln": 0}, "alt_uln", "alt_uln_above_0"),
    ("screening_labs", {"ast_uln": 0}, "ast_uln", "ast_uln_above_0"),
    ("screening_labs", {"creatinine_uln": 0}, "creatinine_uln", "creatinine_uln_above_0"),
    (
        "screening_labs",
        {"collected_at": "2026-01-06T09:30:00"},
        "collected_at",
        "collected_at_needs_an_offset",
    ),
    ("screening_labs", {"hiv_antibody": "unknown"}, "hiv_antibody", "serology_choices"),
    (
        "screening_labs",
        {"hbv_dna": ABSENT},
        "hbv_dna",
        "hbv_dna_required_when_hbcab_positive",
    ),
    (
        "screening_labs",
        {"hcv_antibody": "positive"},
        "hcv_rna",
        "hcv_rna_required_when_hcv_antibody_positive",
    ),
    ("screening_labs", {"hbv_dna": "pending"}, "hbv_dna", "hbv_dna_choices"),
    ("screening_labs", {"pregnancy_test": "maybe"}, "pregnancy_test", "pregnancy_test_choices"),
    # concomitant_medication
    ("concomitant_medication", {"dose": 0}, "dose", "dose_above_0"),
    ("concomitant_medication", {"dose_unit": None}, "dose_unit", "dose_needs_its_unit"),
    ("concomitant_medication", {"category": "steroid"}, "category", "medication_category_choices"),
    (
        "concomitant_medication",
        {"end_date": "2025-11-30"},
        "end_date",
        "medication_end_not_before_start",
    ),
    ("concomitant_medication", {"drug": ""}, "drug", "drug_not_blank"),
    ("concomitant_medication", {"visit": "SCR"}, "visit", "concomitant_medication_has_no_visit"),
    # ie_checklist
    ("ie_checklist", {"answers": {"IN09": "yes"}}, "answers", "criterion_codes_in01_to_in08"),
    ("ie_checklist", {"answers": {"EX20": "no"}}, "answers", "criterion_codes_ex01_to_ex19"),
    ("ie_checklist", {"answers": {"IN01": "maybe"}}, "answers", "criterion_answers_yes_or_no"),
]


@pytest.mark.parametrize(
    ("form", "changes", "field"),
    [pytest.param(form, changes, field, id=rule) for form, changes, field, rule in BROKEN_RULES],
)
def test_broken_rule_is_refused_on_its_field(form: str, changes: dict, field: str) -> None:
    errors = errors_of(form, mutated(form, changes))
    assert has_error(errors, field), errors
    assert "_schema" not in errors


@pytest.mark.parametrize(
    ("form", "field"), [(form, field) for form, names in REQUIRED.items() for field in names]
)
def test_required_field_missing_is_refused(form: str, field: str) -> None:
    assert has_error(errors_of(form, mutated(form, {field: ABSENT})), field)


@pytest.mark.parametrize(
    ("form", "field"), [(form, field) for form, names in REQUIRED.items() for field in names]
)
def test_required_field_null_is_refused(form: str, field: str) -> None:
    assert has_error(errors_of(form, mutated(form, {field: None})), field)


@pytest.mark.parametrize("form", VALID)
def test_unknown_field_is_refused(form: str) -> None:
    errors = errors_of(form, mutated(form, {"comment": "free text"}))
    assert errors == {"comment": ["Unknown field."]}


def test_all_messages_come_at_once() -> None:
    errors = errors_of(
        "registration",
        mutated("registration", {"sex": "X", "screening_date": "2026-01-01"}),
    )
    assert set(errors) == {"sex", "screening_date"}
