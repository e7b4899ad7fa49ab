"""Follow-up forms: counts, chemistry, bleeding, rescue, vital signs, neuro, AEs, visits, end."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from marshmallow import ValidationError

from ecrf.forms import load_form

ABSENT = object()

VALID: dict[str, dict[str, Any]] = {
    "platelet_count": {
        "visit": "D7",
        "collected_at": "2026-03-04T08:00:00+08:00",
        "platelets": 45,
        "hemoglobin": 101,
        "hemoglobin_lln": 115,
        "leukocytes": 3.2,
        "leukocytes_lln": 3.5,
        "neutrophils": 1.2,
        "neutrophils_lln": 1.8,
        "lymphocytes": 0.4,
        "lymphocytes_lln": 1.0,
        "transfused_within_72h": False,
    },
    "chemistry": {
        "visit": "D7",
        "collected_at": "2026-03-04T08:00:00Z",
        "alt": 120,
        "alt_uln": 40,
        "creatinine": 70,
        "creatinine_uln": 84,
    },
    "bleeding_assessment": {
        "visit": "D7",
        "assessed_on": "2026-03-04",
        "who_grade": 1,
        "sites": ["skin", "gums"],
    },
    "rescue_therapy": {
        "agent": "IVIG",
        "category": "immunoglobulin",
        "start_date": "2026-03-05",
        "end_date": "2026-03-06",
        "reason": "platelets below 10 with bleeding",
    },
    "vital_signs": {
        "visit": "D1",
        "measured_at": "2026-02-26T14:00:00-05:00",
        "temperature_c": 38.6,
        "systolic_bp": 95,
        "diastolic_bp": 60,
        "heart_rate": 110,
        "spo2": 93,
        "oxygen": "low_flow_nasal_cannula",
        "oxygen_flow_l_min": 2,
        "vasopressors": 0,
        "vasopressin": False,
        "hypotension": False,
        "fever_other_cause": False,
        "anticytokine_or_steroid_given": False,
    },
    "neuro_assessment": {
        "visit": "D4",
        "assessed_at": "2026-03-01T09:00:00+08:00",
        "ice_score": 8,
        "consciousness": "awake",
        "seizure": "none",
        "motor_weakness": "none",
        "raised_icp": "none",
        "global_aphasia": False,
        "intracranial_hemorrhage": False,
        "tremor_or_myoclonus": False,
    },
    "adverse_event": {
        "term": "Cytokine release syndrome",
        "category": "crs",
        "onset_date": "2026-02-26",
        "end_date": "2026-03-01",
        "ctcae_grade": 2,
        "serious": True,
        "seriousness": ["hospitalization"],
        "aware_at": "2026-02-26T20:00:00+08:00",
        "relatedness_car_t": "definite",
        "relatedness_lymphodepletion": "unlikely",
        "outcome": "recovered",
        "action": "tocilizumab",
    },
    "visit": {"visit": "D14", "visit_date": "2026-03-11", "missed": False},
    "end_of_study": {"ended_on": "2026-06-25", "reason": "completed", "details": None},
}

REQUIRED: dict[str, tuple[str, ...]] = {
    "platelet_count": ("visit", "collected_at", "platelets"),
    "chemistry": ("visit", "collected_at"),
    "bleeding_assessment": ("visit", "assessed_on", "who_grade"),
    "rescue_therapy": ("agent", "category", "start_date"),
    "vital_signs": ("visit", "measured_at"),
    "neuro_assessment": ("visit", "assessed_at"),
    "adverse_event": (
        "term",
        "category",
        "onset_date",
        "ctcae_grade",
        "serious",
        "relatedness_car_t",
        "relatedness_lymphodepletion",
        "outcome",
    ),
    "visit": ("visit",),
    "end_of_study": ("ended_on", "reason"),
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


@pytest.mark.parametrize("form", VALID)
def test_a_valid_entry_is_accepted(form: str) -> None:
    assert load_form(form, VALID[form])


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ("platelet_count", "collected_at"),
        ("chemistry", "collected_at"),
        ("vital_signs", "measured_at"),
        ("neuro_assessment", "assessed_at"),
        ("adverse_event", "aware_at"),
    ],
)
def test_datetimes_are_stored_as_entered_with_their_offset(form: str, field: str) -> None:
    # ALCOA+ "original" (issue #11 item 3): the offset the site gave is kept, not turned to UTC.
    # Only the spelling is canonical: "Z" is written "+00:00" (same offset, same instant).
    assert load_form(form, VALID[form])[field] == VALID[form][field].replace("Z", "+00:00")


def test_platelet_count_lln_is_not_filled_in_when_absent() -> None:
    values = load_form("platelet_count", VALID["platelet_count"])
    assert "platelets_lln" not in values
    assert values["platelets"] == 45.0


def test_platelet_count_alone_is_enough() -> None:
    payload = {"visit": "W12", "collected_at": "2026-05-20T08:00:00+02:00", "platelets": 120}
    assert load_form("platelet_count", payload) == {
        "visit": "W12",
        "collected_at": "2026-05-20T08:00:00+02:00",
        "platelets": 120.0,
    }


def test_bleeding_sites_keep_their_order() -> None:
    assert load_form("bleeding_assessment", VALID["bleeding_assessment"])["sites"] == [
        "skin",
        "gums",
    ]


def test_missed_visit_needs_no_date() -> None:
    payload = {"visit": "D21", "missed": True, "reason": "subject hospitalised elsewhere"}
    assert load_form("visit", payload) == payload


def test_unscheduled_visit_code_is_left_to_the_command_layer() -> None:
    payload = mutated("platelet_count", {"visit": "UNSCHEDULED"})
    assert load_form("platelet_count", payload)["visit"] == "UNSCHEDULED"


def test_fatal_grade_5_event_is_accepted() -> None:
    payload = mutated(
        "adverse_event",
        {"ctcae_grade": 5, "outcome": "fatal", "seriousness": ["death"], "end_date": None},
    )
    assert load_form("adverse_event", payload)["outcome"] == "fatal"


def test_non_serious_event_needs_no_seriousness_or_awareness_time() -> None:
    payload = mutated(
        "adverse_event", {"serious": False, "seriousness": ABSENT, "aware_at": ABSENT}
    )
    assert "aware_at" not in load_form("adverse_event", payload)


def test_ice_and_capd_scores_both_fit_the_form() -> None:
    payload = mutated("neuro_assessment", {"ice_score": ABSENT, "capd_score": 32})
    assert load_form("neuro_assessment", payload)["capd_score"] == 32


BROKEN_RULES = [
    # platelet_count
    ("platelet_count", {"platelets": 2000.5}, "platelets", "platelets_at_most_2000"),
    ("platelet_count", {"platelets": -0.1}, "platelets", "platelets_at_least_0"),
    ("platelet_count", {"hemoglobin_lln": ABSENT}, "hemoglobin_lln", "hemoglobin_with_its_lln"),
    ("platelet_count", {"leukocytes_lln": None}, "leukocytes_lln", "leukocytes_with_their_lln"),
    ("platelet_count", {"neutrophils_lln": ABSENT}, "neutrophils_lln", "neutrophils_with_lln"),
    ("platelet_count", {"lymphocytes_lln": ABSENT}, "lymphocytes_lln", "lymphocytes_with_lln"),
    ("platelet_count", {"neutrophils": 100.1}, "neutrophils", "neutrophils_at_most_100"),
    (
        "platelet_count",
        {"collected_at": "2026-03-04 08:00"},
        "collected_at",
        "collected_at_needs_an_offset",
    ),
    (
        "platelet_count",
        {"transfused_within_72h": "no"},
        "transfused_within_72h",
        "transfused_is_a_boolean",
    ),
    # chemistry
    ("chemistry", {"alt_uln": ABSENT}, "alt_uln", "alt_with_its_uln"),
    ("chemistry", {"ast": 50}, "ast_uln", "ast_with_its_uln"),
    ("chemistry", {"bilirubin": 30}, "bilirubin_uln", "bilirubin_with_its_uln"),
    ("chemistry", {"creatinine_uln": ABSENT}, "creatinine_uln", "creatinine_with_its_uln"),
    ("chemistry", {"creatinine_uln": 0}, "creatinine_uln", "creatinine_uln_above_0"),
    ("chemistry", {"alt_uln": 0}, "alt_uln", "alt_uln_above_0"),
    ("chemistry", {"alt": 10000.1}, "alt", "alt_at_most_10000"),
    # bleeding_assessment
    ("bleeding_assessment", {"who_grade": 5}, "who_grade", "who_grade_at_most_4"),
    ("bleeding_assessment", {"who_grade": -1}, "who_grade", "who_grade_at_least_0"),
    ("bleeding_assessment", {"who_grade": 1.5}, "who_grade", "who_grade_is_an_integer"),
    ("bleeding_assessment", {"sites": "skin"}, "sites", "sites_is_a_list"),
    # rescue_therapy
    ("rescue_therapy", {"category": "steroid"}, "category", "rescue_category_choices"),
    ("rescue_therapy", {"end_date": "2026-03-04"}, "end_date", "rescue_end_not_before_start"),
    ("rescue_therapy", {"visit": "D7"}, "visit", "rescue_therapy_has_no_visit"),
    # vital_signs
    ("vital_signs", {"temperature_c": 29.9}, "temperature_c", "temperature_at_least_30"),
    ("vital_signs", {"temperature_c": 45.1}, "temperature_c", "temperature_at_most_45"),
    ("vital_signs", {"spo2": 100.5}, "spo2", "spo2_at_most_100"),
    ("vital_signs", {"oxygen": "cpap"}, "oxygen", "oxygen_choices"),
    ("vital_signs", {"vasopressors": 6}, "vasopressors", "vasopressors_at_most_5"),
    ("vital_signs", {"vasopressors": -1}, "vasopressors", "vasopressors_at_least_0"),
    ("vital_signs", {"hypotension": None, "measured_at": None}, "measured_at", "measured_at_set"),
    # neuro_assessment
    ("neuro_assessment", {"ice_score": 11}, "ice_score", "ice_score_at_most_10"),
    ("neuro_assessment", {"capd_score": 33}, "capd_score", "capd_score_at_most_32"),
    ("neuro_assessment", {"consciousness": "drowsy"}, "consciousness", "consciousness_choices"),
    ("neuro_assessment", {"seizure": "yes"}, "seizure", "seizure_choices"),
    ("neuro_assessment", {"motor_weakness": "mild"}, "motor_weakness", "motor_choices"),
    ("neuro_assessment", {"raised_icp": "edema"}, "raised_icp", "raised_icp_choices"),
    # adverse_event
    ("adverse_event", {"end_date": "2026-02-25"}, "end_date", "ae_end_not_before_onset"),
    ("adverse_event", {"ctcae_grade": 0}, "ctcae_grade", "grade_at_least_1"),
    ("adverse_event", {"ctcae_grade": 6}, "ctcae_grade", "grade_at_most_5"),
    (
        "adverse_event",
        {"ctcae_grade": 5, "seriousness": ["death"]},
        "outcome",
        "grade_5_requires_outcome_fatal",
    ),
    (
        "adverse_event",
        {"ctcae_grade": 4, "outcome": "fatal"},
        "ctcae_grade",
        "outcome_fatal_requires_grade_5",
    ),
    ("adverse_event", {"seriousness": ABSENT}, "seriousness", "serious_needs_seriousness"),
    ("adverse_event", {"seriousness": []}, "seriousness", "serious_needs_non_empty_seriousness"),
    ("adverse_event", {"aware_at": None}, "aware_at", "serious_needs_aware_at"),
    ("adverse_event", {"seriousness": ["fatal"]}, "seriousness", "seriousness_choices"),
    ("adverse_event", {"category": "neuro"}, "category", "ae_category_choices"),
    (
        "adverse_event",
        {"relatedness_car_t": "related"},
        "relatedness_car_t",
        "relatedness_choices",
    ),
    ("adverse_event", {"outcome": "resolved"}, "outcome", "outcome_choices"),
    ("adverse_event", {"visit": "D1"}, "visit", "adverse_event_has_no_visit"),
    # visit
    ("visit", {"visit_date": ABSENT}, "visit_date", "visit_date_required_unless_missed"),
    (
        "visit",
        {"visit_date": ABSENT, "missed": None},
        "visit_date",
        "visit_date_required_when_missed_is_null",
    ),
    ("visit", {"missed": True}, "reason", "reason_required_when_missed"),
    ("visit", {"missed": True, "reason": "  "}, "reason", "missed_reason_not_blank"),
    # end_of_study
    ("end_of_study", {"reason": "moved"}, "reason", "end_reason_choices"),
    ("end_of_study", {"visit": "M12"}, "visit", "end_of_study_has_no_visit"),
]


@pytest.mark.parametrize(
    ("form", "changes", "field"),
    [pytest.param(form, changes, field, id=rule) for form, changes, field, rule in BROKEN_RULES],
)
def test_broken_rule_is_refused_on_its_field(form: str, changes: dict, field: str) -> None:
    errors = errors_of(form, mutated(form, changes))
    assert field in errors, errors
    assert "_schema" not in errors


@pytest.mark.parametrize(
    ("form", "field"), [(form, field) for form, names in REQUIRED.items() for field in names]
)
def test_required_field_missing_is_refused(form: str, field: str) -> None:
    assert field in errors_of(form, mutated(form, {field: ABSENT}))


@pytest.mark.parametrize(
    ("form", "field"), [(form, field) for form, names in REQUIRED.items() for field in names]
)
def test_required_field_null_is_refused(form: str, field: str) -> None:
    assert field in errors_of(form, mutated(form, {field: None}))


@pytest.mark.parametrize("form", VALID)
def test_unknown_field_is_refused(form: str) -> None:
    assert errors_of(form, mutated(form, {"notes": "x"})) == {"notes": ["Unknown field."]}


def test_fatal_grade_rule_names_both_fields_only_when_each_is_wrong() -> None:
    errors = errors_of("adverse_event", mutated("adverse_event", {"ctcae_grade": 5}))
    assert errors == {"outcome": ["Grade 5 requires outcome fatal."]}


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_a_date_time_beyond_the_utc_range_is_a_field_error_not_a_crash(moment):
    with pytest.raises(ValidationError) as refused:
        load_form("vital_signs", {"visit": "D1", "measured_at": moment})
    assert "measured_at" in refused.value.messages
