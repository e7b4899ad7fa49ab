"""The describer reads the schemas: every field of crf-spec.md, with type, unit, range, choices."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ecrf.forms import FORMS, describe_all, describe_form

MEDICAL_HISTORY_FLAGS = (
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
)

# The field names of crf-spec.md, in its order ("visit" first where the form carries one).
SPEC_FIELDS: dict[str, tuple[str, ...]] = {
    "registration": (
        "subject_id",
        "site_id",
        "sex",
        "birth_date",
        "consent_date",
        "assent_date",
        "screening_date",
    ),
    "itp_history": (
        "visit",
        "diagnosis_date",
        "primary_itp",
        "secondary_cause_excluded",
        "refractory",
        "prior_therapies",
        "splenectomy",
        "splenectomy_preventive",
    ),
    "medical_history": (
        "visit",
        *MEDICAL_HISTORY_FLAGS,
        "contraception_agreed",
        "last_other_trial_date",
    ),
    "screening_labs": (
        "visit",
        "collected_at",
        "platelets",
        "hemoglobin",
        "hemoglobin_lln",
        "neutrophils",
        "neutrophils_lln",
        "alt",
        "alt_uln",
        "ast",
        "ast_uln",
        "bilirubin",
        "bilirubin_uln",
        "creatinine",
        "creatinine_uln",
        "hiv_antibody",
        "hbsag",
        "hbcab",
        "hcv_antibody",
        "hbv_dna",
        "hcv_rna",
        "pregnancy_test",
    ),
    "concomitant_medication": (
        "drug",
        "category",
        "dose",
        "dose_unit",
        "frequency",
        "start_date",
        "end_date",
        "indication",
        "indication_other",
    ),
    "ie_checklist": ("visit", "answers", "investigator_confirms_eligible"),
    "leukapheresis": ("visit", "procedure_date", "blood_volume_processed_l", "complications"),
    "lymphodepletion": (
        "visit",
        "administered_on",
        "height_cm",
        "weight_kg",
        "fludarabine_mg",
        "cyclophosphamide_mg",
    ),
    "car_t_infusion": (
        "visit",
        "infused_at",
        "product_lot",
        "dose_cells_per_kg",
        "weight_kg",
        "infusion_reaction",
    ),
    "platelet_count": (
        "visit",
        "collected_at",
        "platelets",
        "hemoglobin",
        "hemoglobin_lln",
        "leukocytes",
        "leukocytes_lln",
        "neutrophils",
        "neutrophils_lln",
        "lymphocytes",
        "lymphocytes_lln",
        "platelets_lln",
        "transfused_within_72h",
    ),
    "chemistry": (
        "visit",
        "collected_at",
        "alt",
        "alt_uln",
        "ast",
        "ast_uln",
        "bilirubin",
        "bilirubin_uln",
        "creatinine",
        "creatinine_uln",
    ),
    "bleeding_assessment": ("visit", "assessed_on", "who_grade", "sites"),
    "rescue_therapy": ("agent", "category", "start_date", "end_date", "reason"),
    "vital_signs": (
        "visit",
        "measured_at",
        "temperature_c",
        "hours_above_40",
        "systolic_bp",
        "diastolic_bp",
        "heart_rate",
        "spo2",
        "oxygen",
        "oxygen_flow_l_min",
        "vasopressors",
        "vasopressin",
        "hypotension",
        "fever_other_cause",
        "anticytokine_or_steroid_given",
    ),
    "neuro_assessment": (
        "visit",
        "assessed_at",
        "ice_score",
        "capd_score",
        "consciousness",
        "seizure",
        "motor_weakness",
        "raised_icp",
        "global_aphasia",
        "intracranial_hemorrhage",
        "tremor_or_myoclonus",
        "capd_unable",
    ),
    "adverse_event": (
        "term",
        "category",
        "onset_date",
        "end_date",
        "ctcae_grade",
        "serious",
        "seriousness",
        "aware_at",
        "relatedness_car_t",
        "relatedness_lymphodepletion",
        "outcome",
        "action",
    ),
    "visit": ("visit", "visit_date", "missed", "reason"),
    "end_of_study": ("ended_on", "reason", "details"),
}

TYPES = {"string", "number", "integer", "boolean", "date", "datetime", "enum", "list", "object"}


def field(form: str, name: str) -> dict[str, Any]:
    described = describe_form(FORMS[form])
    return next(f for f in described["fields"] if f["name"] == name)


def test_describe_all_lists_every_form_in_spec_order() -> None:
    assert [form["name"] for form in describe_all()] == list(SPEC_FIELDS)


@pytest.mark.parametrize("form", SPEC_FIELDS)
def test_describe_lists_every_spec_field_in_order(form: str) -> None:
    names = [f["name"] for f in describe_form(FORMS[form])["fields"]]
    assert names == list(SPEC_FIELDS[form])


@pytest.mark.parametrize("form", SPEC_FIELDS)
def test_describe_lists_every_schema_field(form: str) -> None:
    names = [f["name"] for f in describe_form(FORMS[form])["fields"]]
    assert names == list(FORMS[form].schema.fields)


def test_every_field_has_a_known_type_and_a_description() -> None:
    for form in describe_all():
        for described in form["fields"]:
            assert described["type"] in TYPES, (form["name"], described)
            assert described["description"], (form["name"], described["name"])


def test_description_is_json_ready() -> None:
    assert json.loads(json.dumps(describe_all()))[0]["name"] == "registration"


def test_describe_form_carries_the_form_identity() -> None:
    described = describe_form(FORMS["platelet_count"])
    assert {k: described[k] for k in ("name", "event_type", "family", "has_visit")} == {
        "name": "platelet_count",
        "event_type": "PlateletCountRecorded",
        "family": "followup",
        "has_visit": True,
    }


EXPECTED: list[tuple[str, str, dict[str, Any]]] = [
    ("registration", "subject_id", {"type": "string", "required": True}),
    ("registration", "sex", {"type": "enum", "choices": ["F", "M"], "required": True}),
    ("registration", "birth_date", {"type": "date", "required": True}),
    (
        "registration",
        "assent_date",
        {"type": "date", "required": False, "required_when": "the age at consent is under 18"},
    ),
    ("itp_history", "splenectomy", {"type": "boolean", "required": True}),
    (
        "itp_history",
        "splenectomy_preventive",
        {"type": "boolean", "required": False, "required_when": "splenectomy is true"},
    ),
    ("itp_history", "prior_therapies", {"type": "list", "items": "object", "required": False}),
    ("medical_history", "last_other_trial_date", {"type": "date", "required": False}),
    ("screening_labs", "collected_at", {"type": "datetime", "required": True}),
    (
        "screening_labs",
        "platelets",
        {"type": "number", "unit": "10^9/L", "minimum": 0, "maximum": 2000, "required": True},
    ),
    (
        "screening_labs",
        "hemoglobin",
        {"type": "number", "unit": "g/L", "minimum": 0, "maximum": 250, "required": False},
    ),
    (
        "screening_labs",
        "hemoglobin_lln",
        {"unit": "g/L", "minimum": 0, "maximum": 250, "required_when": "hemoglobin is given"},
    ),
    ("screening_labs", "neutrophils", {"unit": "10^9/L", "minimum": 0, "maximum": 100}),
    (
        "screening_labs",
        "alt",
        {"unit": "U/L", "minimum": 0, "maximum": 10000, "required": True},
    ),
    (
        "screening_labs",
        "alt_uln",
        {"unit": "U/L", "minimum": 0, "exclusive_minimum": True, "required": True},
    ),
    ("screening_labs", "ast_uln", {"unit": "U/L", "exclusive_minimum": True}),
    ("screening_labs", "bilirubin", {"unit": "umol/L", "required": False}),
    ("screening_labs", "creatinine_uln", {"unit": "umol/L", "required": True}),
    (
        "screening_labs",
        "hbcab",
        {"type": "enum", "choices": ["positive", "negative"], "required": True},
    ),
    (
        "screening_labs",
        "hbv_dna",
        {
            "type": "enum",
            "choices": ["positive", "negative", "not_done"],
            "required": False,
            "required_when": "hbcab is positive",
        },
    ),
    ("screening_labs", "hcv_rna", {"required_when": "hcv_antibody is positive"}),
    (
        "screening_labs",
        "pregnancy_test",
        {"type": "enum", "choices": ["positive", "negative", "not_applicable"]},
    ),
    (
        "concomitant_medication",
        "category",
        {
            "type": "enum",
            "choices": [
                "corticosteroid",
                "antiplatelet",
                "nsaid",
                "anticoagulant",
                "tpo_receptor_agonist",
                "immunoglobulin",
                "other",
            ],
        },
    ),
    (
        "concomitant_medication",
        "dose",
        {"type": "number", "minimum": 0, "exclusive_minimum": True, "maximum": 1e6},
    ),
    ("concomitant_medication", "end_date", {"type": "date", "required": False}),
    ("ie_checklist", "answers", {"type": "object", "choices": ["yes", "no"]}),
    (
        "leukapheresis",
        "blood_volume_processed_l",
        {"type": "number", "unit": "L", "minimum": 0, "maximum": 50},
    ),
    (
        "lymphodepletion",
        "height_cm",
        {"unit": "cm", "minimum": 50, "maximum": 230, "required": True},
    ),
    (
        "lymphodepletion",
        "weight_kg",
        {"unit": "kg", "minimum": 10, "maximum": 250, "required": True},
    ),
    ("lymphodepletion", "fludarabine_mg", {"unit": "mg", "minimum": 0, "maximum": 500,
                                           "required": True}),
    ("lymphodepletion", "cyclophosphamide_mg", {"unit": "mg", "minimum": 0, "maximum": 20000}),
    ("car_t_infusion", "infused_at", {"type": "datetime", "required": True}),
    (
        "car_t_infusion",
        "dose_cells_per_kg",
        {"type": "number", "minimum": 0, "exclusive_minimum": True, "required": True},
    ),
    ("car_t_infusion", "infusion_reaction", {"type": "boolean", "required": False}),
    (
        "platelet_count",
        "platelets_lln",
        {"unit": "10^9/L", "default": 150.0, "required": False, "required_when": None},
    ),
    ("platelet_count", "leukocytes", {"unit": "10^9/L", "type": "number"}),
    ("platelet_count", "lymphocytes_lln", {"required_when": "lymphocytes is given"}),
    ("chemistry", "bilirubin_uln", {"unit": "umol/L", "required_when": "bilirubin is given"}),
    (
        "bleeding_assessment",
        "who_grade",
        {"type": "integer", "minimum": 0, "maximum": 4, "required": True},
    ),
    ("bleeding_assessment", "sites", {"type": "list", "items": "string", "choices": None}),
    (
        "rescue_therapy",
        "category",
        {
            "choices": [
                "immunoglobulin",
                "corticosteroid",
                "platelet_transfusion",
                "tpo_receptor_agonist",
                "other",
            ]
        },
    ),
    ("vital_signs", "temperature_c", {"unit": "°C", "minimum": 30, "maximum": 45}),
    ("vital_signs", "spo2", {"unit": "%", "minimum": 0, "maximum": 100}),
    ("vital_signs", "vasopressors", {"type": "integer", "minimum": 0, "maximum": 5}),
    ("vital_signs", "oxygen_flow_l_min", {"type": "number", "unit": "L/min"}),
    (
        "vital_signs",
        "oxygen",
        {
            "type": "enum",
            "choices": [
                "none",
                "low_flow_nasal_cannula",
                "high_flow_nasal_cannula",
                "facemask",
                "non_rebreather",
                "venturi",
                "positive_pressure",
                "mechanical_ventilation",
            ],
        },
    ),
    ("neuro_assessment", "ice_score", {"type": "integer", "minimum": 0, "maximum": 10}),
    ("neuro_assessment", "capd_score", {"type": "integer", "minimum": 0, "maximum": 32}),
    ("neuro_assessment", "motor_weakness", {"choices": ["none", "deep_focal"]}),
    (
        "adverse_event",
        "ctcae_grade",
        {"type": "integer", "minimum": 1, "maximum": 5, "required": True},
    ),
    (
        "adverse_event",
        "seriousness",
        {
            "type": "list",
            "items": "enum",
            "required_when": "serious is true",
            "choices": [
                "death",
                "life_threatening",
                "hospitalization",
                "disability",
                "congenital_anomaly",
                "important_medical_event",
            ],
        },
    ),
    ("adverse_event", "aware_at", {"type": "datetime", "required_when": "serious is true"}),
    (
        "adverse_event",
        "outcome",
        {
            "choices": [
                "recovered",
                "recovering",
                "not_recovered",
                "recovered_with_sequelae",
                "fatal",
                "unknown",
            ]
        },
    ),
    ("visit", "visit", {"type": "string", "required": True}),
    ("visit", "visit_date", {"type": "date", "required_when": "missed is not true"}),
    ("visit", "reason", {"type": "string", "required_when": "missed is true"}),
    (
        "end_of_study",
        "reason",
        {
            "choices": [
                "completed",
                "withdrew_consent",
                "lost_to_follow_up",
                "death",
                "investigator_decision",
                "progression_needing_other_therapy",
                "other",
            ],
            "required": True,
        },
    ),
]


@pytest.mark.parametrize(
    ("form", "name", "expected"),
    [pytest.param(form, name, exp, id=f"{form}.{name}") for form, name, exp in EXPECTED],
)
def test_describe_gives_type_unit_range_and_choices(
    form: str, name: str, expected: dict[str, Any]
) -> None:
    described = field(form, name)
    assert {key: described[key] for key in expected} == expected


def test_describe_gives_the_subject_id_pattern() -> None:
    assert field("registration", "subject_id")["pattern"] == "^[A-Z0-9-]{3,20}$"


def test_describe_gives_the_criterion_codes_of_the_checklist() -> None:
    keys = field("ie_checklist", "answers")["keys"]
    assert keys == [f"IN{n:02d}" for n in range(1, 9)] + [f"EX{n:02d}" for n in range(1, 20)]


def test_describe_nests_the_fields_of_prior_therapies() -> None:
    nested = {f["name"]: f for f in field("itp_history", "prior_therapies")["fields"]}
    assert list(nested) == [
        "agent",
        "line",
        "start_date",
        "end_date",
        "best_response",
        "intolerance",
    ]
    assert nested["line"]["type"] == "integer"
    assert (nested["line"]["minimum"], nested["line"]["maximum"]) == (1, 9)
    assert nested["best_response"]["choices"] == ["CR", "R", "NR", "unknown"]
    assert nested["end_date"]["required"] is False
    assert nested["intolerance"]["required"] is True


@pytest.mark.parametrize(
    "name",
    ["platelets", "hemoglobin", "leukocytes", "neutrophils", "lymphocytes"],
)
def test_blood_count_values_and_limits_share_a_unit(name: str) -> None:
    value, limit = field("platelet_count", name), field("platelet_count", f"{name}_lln")
    assert value["unit"] == limit["unit"] == ("g/L" if name == "hemoglobin" else "10^9/L")
