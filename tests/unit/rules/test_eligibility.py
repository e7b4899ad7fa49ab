"""Eligibility criteria IN01-IN08 and EX01-EX19 (clinical-rules.md "Eligibility")."""

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from projections.rules.eligibility import (
    CRITERION_CODES,
    EligibilityInputs,
    EligibilityResult,
    add_months,
    completed_years,
    evaluate_eligibility,
)
from projections.trial_config import DEFAULT_TRIAL

SCREENING = date(2026, 3, 2)
CONSENT = date(2026, 3, 1)
CODES = [f"IN{n:02}" for n in range(1, 9)] + [f"EX{n:02}" for n in range(1, 20)]

MEDICAL_FLAGS = {
    "EX03": "hemostatic_disorder_other",
    "EX05": "platelet_agglutination_abnormality",
    "EX06": "malignancy_or_cytotoxic_treatment_history",
    "EX07": "heart_disease_within_1y",
    "EX08": "thrombosis_history_or_risk",
    "EX09": "gi_bleeding_risk_or_acute_infection_or_respiratory_disease",
    "EX12": "decompensated_disease",
    "EX14": "severe_allergy",
    "EX16": "mental_illness_or_addiction",
    "EX17": "poor_compliance_expected",
    "IN07": "exam_abnormality_clinically_significant",
}


def _registration(**changes: Any) -> dict[str, Any]:
    return {"entry_id": "reg", "subject_id": "S-001", "site_id": "SITE1", "sex": "F",
            "birth_date": date(1980, 5, 10), "consent_date": CONSENT, "assent_date": None,
            "screening_date": SCREENING, **changes}


def _itp(**changes: Any) -> dict[str, Any]:
    return {"entry_id": "itp", "diagnosis_date": date(2020, 1, 15), "primary_itp": True,
            "secondary_cause_excluded": True, "refractory": False, "prior_therapies": [],
            "splenectomy": False, "splenectomy_preventive": None, **changes}


def _history(**changes: Any) -> dict[str, Any]:
    flags = dict.fromkeys(MEDICAL_FLAGS.values(), False)
    return {"entry_id": "mh", **flags, "pregnant_or_lactating": False,
            "contraception_agreed": True, "last_other_trial_date": None, **changes}


def _labs(**changes: Any) -> dict[str, Any]:
    return {"entry_id": "lab", "collected_at": datetime(2026, 3, 2, 9, tzinfo=UTC),
            "platelets": 12, "alt": 30, "alt_uln": 40, "ast": 25, "ast_uln": 40,
            "creatinine": 70, "creatinine_uln": 90, "hiv_antibody": "negative",
            "hbsag": "negative", "hbcab": "negative", "hbv_dna": None,
            "hcv_antibody": "negative", "hcv_rna": None, "pregnancy_test": "negative", **changes}


def _checklist(confirms: bool = True, **answers: str) -> dict[str, Any]:
    base = {code: ("yes" if code.startswith("IN") else "no") for code in CODES}
    return {"entry_id": "iec", "answers": {**base, **answers},
            "investigator_confirms_eligible": confirms}


def _med(category: str, start: date, end: date | None, entry_id: str = "cm1",
         drug: str = "drug") -> dict[str, Any]:
    return {"entry_id": entry_id, "drug": drug, "category": category, "start_date": start,
            "end_date": end}


def _complete(**changes: Any) -> EligibilityInputs:
    base = EligibilityInputs(registration=_registration(), itp_history=_itp(),
                             medical_history=_history(), screening_labs=_labs(),
                             ie_checklist=_checklist(), concomitant_medications=[])
    return replace(base, **changes)


def _status(result: EligibilityResult, code: str) -> str:
    return next(c for c in result.criteria if c.code == code).status


def _criterion(inputs: EligibilityInputs, code: str, **kwargs: Any) -> tuple[str, str]:
    found = next(c for c in evaluate_eligibility(inputs, **kwargs).criteria if c.code == code)
    return found.status, found.detail


def _days_before(days: int) -> date:
    return SCREENING - timedelta(days=days)


# ------------------------------------------------------------------- overall status


def test_complete_clean_screening_is_eligible_with_every_criterion_in_protocol_order() -> None:
    result = evaluate_eligibility(_complete())
    assert result.status == "eligible"
    assert [c.code for c in result.criteria] == CODES == list(CRITERION_CODES)
    assert all(c.status == "met" for c in result.criteria)
    assert result.failing == ()
    assert result.discrepancies == ()


def test_nothing_entered_is_incomplete() -> None:
    result = evaluate_eligibility(EligibilityInputs())
    assert result.status == "incomplete"
    assert _status(result, "IN05") == "unknown"


def test_any_failing_criterion_makes_ineligible_and_lists_every_failing_code() -> None:
    result = evaluate_eligibility(_complete(
        screening_labs=_labs(platelets=45), medical_history=_history(severe_allergy=True),
        ie_checklist=None))
    assert result.status == "ineligible"
    assert result.failing == ("IN05", "EX14")


def test_unknown_criterion_without_failure_is_incomplete() -> None:
    result = evaluate_eligibility(_complete(screening_labs=None))
    assert result.status == "incomplete"
    assert {c.code for c in result.criteria if c.status == "unknown"} == {
        "IN05", "EX10", "EX11", "EX13", "EX15"}


def test_every_criterion_is_computed_except_ex19_which_is_attested() -> None:
    result = evaluate_eligibility(_complete())
    assert {c.code for c in result.criteria if c.source == "attested"} == {"EX19"}


def test_result_to_dict_is_json_ready_with_entries_used() -> None:
    data = evaluate_eligibility(_complete()).to_dict()
    json.dumps(data)
    assert set(data) == {"status", "failing", "criteria", "discrepancies"}
    in05 = next(c for c in data["criteria"] if c["code"] == "IN05")
    assert set(in05) == {"code", "label", "status", "source", "detail", "entries"}
    assert in05["entries"] == ["lab"]
    assert "12" in in05["detail"]


# ------------------------------------------------------------------- IN01 consent


def test_in01_adult_consent_is_met_without_assent() -> None:
    assert _criterion(_complete(), "IN01")[0] == "met"


def test_in01_minor_without_assent_is_not_met() -> None:
    minor = _registration(birth_date=date(2010, 1, 1))
    assert _criterion(_complete(registration=minor), "IN01")[0] == "not_met"


def test_in01_minor_with_assent_is_met() -> None:
    minor = _registration(birth_date=date(2010, 1, 1), assent_date=CONSENT)
    assert _criterion(_complete(registration=minor), "IN01")[0] == "met"


def test_in01_missing_consent_date_is_not_met() -> None:
    assert _criterion(_complete(registration=_registration(consent_date=None)), "IN01")[0] == (
        "not_met")


def test_in01_without_registration_is_unknown() -> None:
    assert _criterion(_complete(registration=None), "IN01")[0] == "unknown"


# ------------------------------------------------------------------- IN02 age


@pytest.mark.parametrize(("birth", "status"), [
    (date(2018, 3, 2), "not_met"),  # 7: turns 8 the day after consent
    (date(2018, 3, 1), "met"),  # 8 on the day of consent
    (date(1950, 3, 2), "met"),  # 75, one day short of 76
    (date(1950, 3, 1), "not_met"),  # 76 on the day of consent
])
def test_in02_age_8_to_75_inclusive_in_completed_years_at_consent(birth: date, status: str) -> None:
    reg = _registration(birth_date=birth, assent_date=CONSENT)
    assert _criterion(_complete(registration=reg), "IN02")[0] == status


def test_in02_without_birth_date_is_unknown() -> None:
    assert _criterion(_complete(registration=_registration(birth_date=None)), "IN02")[0] == (
        "unknown")


def test_completed_years_counts_a_29_february_birthday_from_1_march() -> None:
    assert completed_years(date(2008, 2, 29), date(2026, 2, 28)) == 17
    assert completed_years(date(2008, 2, 29), date(2026, 3, 1)) == 18


# ------------------------------------------------------------------- IN03 chronic or refractory


def test_in03_diagnosis_exactly_12_months_before_screening_is_not_chronic() -> None:
    itp = _itp(diagnosis_date=date(2025, 3, 2))
    assert _criterion(_complete(itp_history=itp), "IN03")[0] == "not_met"


def test_in03_diagnosis_12_months_and_1_day_before_screening_is_chronic() -> None:
    itp = _itp(diagnosis_date=date(2025, 3, 1))
    assert _criterion(_complete(itp_history=itp), "IN03")[0] == "met"


def test_in03_refractory_itp_is_met_whatever_the_diagnosis_date() -> None:
    itp = _itp(diagnosis_date=date(2025, 12, 1), refractory=True)
    assert _criterion(_complete(itp_history=itp), "IN03")[0] == "met"


def test_in03_missing_diagnosis_date_is_unknown() -> None:
    itp = _itp(diagnosis_date=None)
    assert _criterion(_complete(itp_history=itp), "IN03")[0] == "unknown"


def test_add_months_clamps_29_february_to_28_february() -> None:
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)


# ------------------------------------------------------------------- IN04, EX01 other causes


@pytest.mark.parametrize(("changes", "status"), [
    ({}, "met"),
    ({"primary_itp": False}, "not_met"),
    ({"secondary_cause_excluded": False}, "not_met"),
    ({"primary_itp": None}, "unknown"),
])
def test_in04_needs_primary_itp_and_secondary_cause_excluded(
    changes: dict[str, Any], status: str
) -> None:
    assert _criterion(_complete(itp_history=_itp(**changes)), "IN04")[0] == status


@pytest.mark.parametrize(("excluded", "status"), [
    (True, "met"), (False, "not_met"), (None, "unknown")])
def test_ex01_secondary_cause_not_excluded_excludes(excluded: bool | None, status: str) -> None:
    itp = _itp(secondary_cause_excluded=excluded)
    assert _criterion(_complete(itp_history=itp), "EX01")[0] == status


# ------------------------------------------------------------------- IN05 platelets


@pytest.mark.parametrize(("platelets", "status"), [
    (29, "met"), (29.9, "met"), (30, "not_met"), (None, "unknown")])
def test_in05_screening_platelets_below_30_29_eligible_30_not(
    platelets: float | None, status: str
) -> None:
    assert _criterion(_complete(screening_labs=_labs(platelets=platelets)), "IN05")[0] == status


# ------------------------------------------------------------------- IN06 corticosteroids


def test_in06_no_corticosteroid_is_met() -> None:
    meds = [_med("other", _days_before(3), None)]
    assert _criterion(_complete(concomitant_medications=meds), "IN06")[0] == "met"


def test_in06_dose_unchanged_exactly_14_days_before_screening_is_met() -> None:
    meds = [_med("corticosteroid", _days_before(14), None)]
    assert _criterion(_complete(concomitant_medications=meds), "IN06")[0] == "met"


def test_in06_dose_started_13_days_before_screening_is_not_met() -> None:
    meds = [_med("corticosteroid", _days_before(13), None)]
    assert _criterion(_complete(concomitant_medications=meds), "IN06")[0] == "not_met"


def test_in06_dose_change_recorded_as_end_and_new_start_within_14_days_is_not_met() -> None:
    meds = [_med("corticosteroid", _days_before(60), _days_before(6), "cm1"),
            _med("corticosteroid", _days_before(5), None, "cm2")]
    status, detail = _criterion(_complete(concomitant_medications=meds), "IN06")
    assert status == "not_met"
    assert "5 days" in detail


def test_in06_corticosteroid_stopped_before_screening_is_met() -> None:
    meds = [_med("corticosteroid", _days_before(30), _days_before(3))]
    assert _criterion(_complete(concomitant_medications=meds), "IN06")[0] == "met"


def test_in06_corticosteroid_without_screening_date_is_unknown() -> None:
    meds = [_med("corticosteroid", _days_before(30), None)]
    inputs = _complete(concomitant_medications=meds,
                       registration=_registration(screening_date=None))
    assert _criterion(inputs, "IN06")[0] == "unknown"


# ------------------------------------------------------------------- yes/no medical history


@pytest.mark.parametrize("code", sorted(MEDICAL_FLAGS))
@pytest.mark.parametrize(("present", "status"), [
    (False, "met"), (True, "not_met"), (None, "unknown")])
def test_medical_history_condition_present_fails_its_criterion(
    code: str, present: bool | None, status: str
) -> None:
    inputs = _complete(medical_history=_history(**{MEDICAL_FLAGS[code]: present}))
    assert _criterion(inputs, code)[0] == status


@pytest.mark.parametrize(("agreed", "status"), [
    (True, "met"), (False, "not_met"), (None, "unknown")])
def test_in08_contraception_must_be_agreed(agreed: bool | None, status: str) -> None:
    inputs = _complete(medical_history=_history(contraception_agreed=agreed))
    assert _criterion(inputs, "IN08")[0] == status


def test_medical_history_not_entered_leaves_its_criteria_unknown() -> None:
    result = evaluate_eligibility(_complete(medical_history=None))
    assert all(_status(result, code) == "unknown" for code in [*MEDICAL_FLAGS, "IN08", "EX18"])


# ------------------------------------------------------------------- EX02 splenectomy


@pytest.mark.parametrize(("mode", "splenectomy", "preventive", "status"), [
    ("any", False, None, "met"),
    ("any", True, False, "not_met"),
    ("any", True, True, "not_met"),
    ("preventive", True, False, "met"),
    ("preventive", True, True, "not_met"),
    ("preventive", True, None, "unknown"),
    ("any", None, None, "unknown"),
])
def test_ex02_splenectomy_excludes_any_or_only_preventive_per_trial_setting(
    mode: str, splenectomy: bool | None, preventive: bool | None, status: str
) -> None:
    itp = _itp(splenectomy=splenectomy, splenectomy_preventive=preventive)
    config = replace(DEFAULT_TRIAL, splenectomy_excludes=mode)
    assert _criterion(_complete(itp_history=itp), "EX02", config=config)[0] == status


def test_ex02_unknown_splenectomy_setting_is_refused() -> None:
    config = replace(DEFAULT_TRIAL, splenectomy_excludes="sometimes")
    with pytest.raises(ValueError, match="splenectomy_excludes"):
        evaluate_eligibility(_complete(), config=config)


# ------------------------------------------------------------------- EX04 antiplatelet


def test_ex04_antiplatelet_for_3_consecutive_days_before_screening_is_eligible() -> None:
    meds = [_med("antiplatelet", _days_before(3), _days_before(1))]
    assert _criterion(_complete(concomitant_medications=meds), "EX04")[0] == "met"


def test_ex04_nsaid_for_4_consecutive_days_before_screening_excludes() -> None:
    meds = [_med("nsaid", _days_before(4), _days_before(1))]
    status, detail = _criterion(_complete(concomitant_medications=meds), "EX04")
    assert status == "not_met"
    assert detail.startswith("4 consecutive days")


def test_ex04_window_is_the_14_days_before_screening_day_itself_not_counted() -> None:
    ongoing = [_med("anticoagulant", _days_before(3), None)]  # days -3, -2, -1 and screening day
    assert _criterion(_complete(concomitant_medications=ongoing), "EX04")[0] == "met"


def test_ex04_only_the_days_inside_the_14_day_window_count() -> None:
    ended = [_med("antiplatelet", _days_before(40), _days_before(12))]  # days -14..-12 inside
    assert _criterion(_complete(concomitant_medications=ended), "EX04")[0] == "met"
    longer = [_med("antiplatelet", _days_before(40), _days_before(11))]  # days -14..-11 inside
    assert _criterion(_complete(concomitant_medications=longer), "EX04")[0] == "not_met"


def test_ex04_adjacent_entries_of_these_drugs_join_into_one_run() -> None:
    meds = [_med("antiplatelet", _days_before(8), _days_before(7), "cm1"),
            _med("nsaid", _days_before(6), _days_before(5), "cm2")]
    assert _criterion(_complete(concomitant_medications=meds), "EX04")[0] == "not_met"


def test_ex04_runs_separated_by_a_free_day_do_not_join() -> None:
    meds = [_med("nsaid", _days_before(10), _days_before(8), "cm1"),
            _med("nsaid", _days_before(6), _days_before(4), "cm2")]
    assert _criterion(_complete(concomitant_medications=meds), "EX04")[0] == "met"


def test_ex04_other_drug_categories_do_not_count() -> None:
    meds = [_med("other", _days_before(10), None), _med("corticosteroid", _days_before(30), None)]
    assert _criterion(_complete(concomitant_medications=meds), "EX04")[0] == "met"


def test_ex04_antiplatelet_without_screening_date_is_unknown() -> None:
    meds = [_med("antiplatelet", _days_before(10), None)]
    inputs = _complete(concomitant_medications=meds,
                       registration=_registration(screening_date=None))
    assert _criterion(inputs, "EX04")[0] == "unknown"


# ------------------------------------------------------------------- EX10, EX11 liver and kidney


@pytest.mark.parametrize(("changes", "status"), [
    ({"alt": 120, "alt_uln": 40}, "met"),  # exactly 3 x ULN
    ({"alt": 120.1, "alt_uln": 40}, "not_met"),
    ({"ast": 121, "ast_uln": 40}, "not_met"),
    ({"alt": 2.1, "alt_uln": 0.7}, "met"),  # exactly 3 x ULN although 3 * 0.7 < 2.1 in floats
    ({"alt": None}, "unknown"),
    ({"alt": None, "ast": 200}, "not_met"),
])
def test_ex10_alt_or_ast_above_3_x_uln_excludes_exactly_3_x_is_eligible(
    changes: dict[str, Any], status: str
) -> None:
    assert _criterion(_complete(screening_labs=_labs(**changes)), "EX10")[0] == status


@pytest.mark.parametrize(("creatinine", "status"), [
    (180, "met"), (180.5, "not_met"), (None, "unknown")])
def test_ex11_creatinine_above_2_x_uln_excludes_exactly_2_x_is_eligible(
    creatinine: float | None, status: str
) -> None:
    labs = _labs(creatinine=creatinine, creatinine_uln=90)
    assert _criterion(_complete(screening_labs=labs), "EX11")[0] == status


# ------------------------------------------------------------------- EX13 infections


@pytest.mark.parametrize(("changes", "status"), [
    ({}, "met"),
    ({"hiv_antibody": "positive"}, "not_met"),
    ({"hbsag": "positive"}, "not_met"),
    ({"hbcab": "positive", "hbv_dna": "negative"}, "met"),
    ({"hbcab": "positive", "hbv_dna": "positive"}, "not_met"),
    ({"hbcab": "positive", "hbv_dna": "not_done"}, "unknown"),
    ({"hcv_antibody": "positive", "hcv_rna": "negative"}, "met"),
    ({"hcv_antibody": "positive", "hcv_rna": "positive"}, "not_met"),
    ({"hcv_antibody": "positive", "hcv_rna": "not_done"}, "unknown"),
    ({"hiv_antibody": None}, "unknown"),
    ({"hiv_antibody": "positive", "hbv_dna": "not_done", "hbcab": "positive"}, "not_met"),
])
def test_ex13_hiv_hbv_hcv_hbcab_positive_with_dna_negative_is_eligible(
    changes: dict[str, Any], status: str
) -> None:
    assert _criterion(_complete(screening_labs=_labs(**changes)), "EX13")[0] == status


# ------------------------------------------------------------------- EX15 pregnancy


@pytest.mark.parametrize(("test", "pregnant", "status"), [
    ("negative", False, "met"),
    ("not_applicable", False, "met"),
    ("positive", False, "not_met"),
    ("negative", True, "not_met"),
    (None, False, "unknown"),
    ("negative", None, "unknown"),
])
def test_ex15_positive_pregnancy_test_or_pregnant_or_lactating_excludes(
    test: str | None, pregnant: bool | None, status: str
) -> None:
    inputs = _complete(screening_labs=_labs(pregnancy_test=test),
                       medical_history=_history(pregnant_or_lactating=pregnant))
    assert _criterion(inputs, "EX15")[0] == status


# ------------------------------------------------------------------- EX18 other trial


@pytest.mark.parametrize(("days_before", "status"), [
    (21, "not_met"),  # 3 weeks ago excludes
    (28, "not_met"),  # exactly 28 days is still within the 4 weeks
    (29, "met"),
    (35, "met"),  # 5 weeks ago does not
])
def test_ex18_other_trial_within_28_days_before_screening_excludes(
    days_before: int, status: str
) -> None:
    history = _history(last_other_trial_date=_days_before(days_before))
    assert _criterion(_complete(medical_history=history), "EX18")[0] == status


def test_ex18_no_other_trial_is_met() -> None:
    assert _criterion(_complete(), "EX18")[0] == "met"


# ------------------------------------------------------------------- EX19 attested


@pytest.mark.parametrize(("answer", "status"), [
    ("yes", "not_met"), ("no", "met"), (None, "unknown")])
def test_ex19_comes_from_the_checklist_only(answer: str | None, status: str) -> None:
    checklist = _checklist(EX19=answer) if answer else {"entry_id": "iec", "answers": {},
                                                          "investigator_confirms_eligible": True}
    assert _criterion(_complete(ie_checklist=checklist), "EX19")[0] == status


def test_without_checklist_eligibility_stays_incomplete() -> None:
    result = evaluate_eligibility(_complete(ie_checklist=None))
    assert result.status == "incomplete"
    assert result.discrepancies == ()


# ------------------------------------------------------------------- discrepancies


def test_checklist_inclusion_yes_contradicting_computed_not_met_is_a_discrepancy() -> None:
    result = evaluate_eligibility(_complete(screening_labs=_labs(platelets=30)))
    found = [d for d in result.discrepancies if d.code == "IN05"]
    assert len(found) == 1
    assert (found[0].attested, found[0].computed) == ("yes", "not_met")
    assert found[0].to_dict()["entries"] == ["iec", "lab"]


def test_checklist_exclusion_yes_means_condition_present_and_contradicts_computed_met() -> None:
    result = evaluate_eligibility(_complete(ie_checklist=_checklist(EX10="yes", IN02="no")))
    assert [(d.code, d.attested, d.computed) for d in result.discrepancies] == [
        ("IN02", "no", "met"), ("EX10", "yes", "met")]
    assert result.status == "eligible"


def test_checklist_agreeing_with_an_exclusion_is_no_discrepancy() -> None:
    inputs = _complete(medical_history=_history(severe_allergy=True),
                       ie_checklist=_checklist(False, EX14="yes"))
    result = evaluate_eligibility(inputs)
    assert result.status == "ineligible"
    assert result.discrepancies == ()


def test_unknown_computed_criterion_cannot_contradict_the_checklist() -> None:
    result = evaluate_eligibility(_complete(screening_labs=None))
    assert result.discrepancies == ()


def test_investigator_not_confirming_an_eligible_subject_is_an_inv_discrepancy() -> None:
    result = evaluate_eligibility(_complete(ie_checklist=_checklist(confirms=False)))
    assert result.status == "eligible"
    assert [(d.code, d.attested, d.computed) for d in result.discrepancies] == [
        ("INV", "no", "eligible")]


def test_investigator_confirming_an_ineligible_subject_is_an_inv_discrepancy() -> None:
    result = evaluate_eligibility(_complete(screening_labs=_labs(platelets=31)))
    assert [(d.code, d.computed) for d in result.discrepancies] == [
        ("IN05", "not_met"), ("INV", "ineligible")]
    assert "IN05" in result.discrepancies[-1].detail
