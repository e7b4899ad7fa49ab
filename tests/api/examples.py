"""One realistic, valid payload per form of crf-spec.md, for the subject of the `registration()`
fixture: a woman born 1980-04-02, consent 2026-01-05, screening 2026-01-06.

The course they describe: leukapheresis on 2026-01-15, lymphodepletion from 2026-01-29 (day -5),
CAR-T infusion on 2026-02-03 (day 0, in UTC as in local time), follow-up from day 1.
Use ``valid(form, **changes)`` for a fresh copy; ``VALID`` must not be mutated.
"""

from __future__ import annotations

import copy
from typing import Any

from tests.api.conftest import platelet_count, registration

INFUSION_DAY = "2026-02-03"

VALID: dict[str, dict[str, Any]] = {
    "registration": registration(),
    "itp_history": {
        "visit": "SCR",
        "diagnosis_date": "2023-03-15",
        "primary_itp": True,
        "secondary_cause_excluded": True,
        "refractory": True,
        "prior_therapies": [
            {"agent": "prednisone", "line": 1, "start_date": "2023-03-20",
             "end_date": "2023-06-01", "best_response": "R", "intolerance": False},
            {"agent": "eltrombopag", "line": 2, "start_date": "2023-09-01",
             "end_date": None, "best_response": "NR", "intolerance": False},
        ],
        "splenectomy": True,
        "splenectomy_preventive": False,
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
        "last_other_trial_date": "2025-06-30",
    },
    "screening_labs": {
        "visit": "SCR",
        "collected_at": "2026-01-06T08:15:00+08:00",
        "platelets": 18,
        "hemoglobin": 118, "hemoglobin_lln": 115,
        "neutrophils": 3.1, "neutrophils_lln": 1.8,
        "alt": 22, "alt_uln": 40,
        "ast": 25, "ast_uln": 35,
        "bilirubin": 12.4, "bilirubin_uln": 21,
        "creatinine": 64, "creatinine_uln": 84,
        "hiv_antibody": "negative",
        "hbsag": "negative",
        "hbcab": "positive",
        "hbv_dna": "negative",
        "hcv_antibody": "positive",
        "hcv_rna": "negative",
        "pregnancy_test": "negative",
    },
    "concomitant_medication": {
        "drug": "prednisone",
        "category": "corticosteroid",
        "dose": 10,
        "dose_unit": "mg",
        "frequency": "once daily",
        "start_date": "2025-11-01",
        "end_date": None,
        "indication": "itp",
    },
    "ie_checklist": {
        "visit": "SCR",
        "answers": {**{f"IN{n:02d}": "yes" for n in range(1, 9)},
                    **{f"EX{n:02d}": "no" for n in range(1, 20)}},
        "investigator_confirms_eligible": True,
    },
    "leukapheresis": {
        "visit": "LEUK",
        "procedure_date": "2026-01-15",
        "blood_volume_processed_l": 10.5,
        "complications": "mild perioral paresthesia, calcium given",
    },
    # 165 cm, 60 kg: BSA 1.66 m2; 50 mg fludarabine = 30.12 mg/m2, 500 mg cyclophosphamide =
    # 301.2 mg/m2, both within 10% of the protocol doses (30 and 300 mg/m2/day).
    "lymphodepletion": {
        "visit": "LD",
        "administered_on": "2026-01-29",
        "height_cm": 165,
        "weight_kg": 60,
        "fludarabine_mg": 50,
        "cyclophosphamide_mg": 500,
    },
    "car_t_infusion": {
        "visit": "D0",
        "infused_at": f"{INFUSION_DAY}T10:00:00+08:00",
        "product_lot": "LOT-2026-0042",
        "dose_cells_per_kg": 1.0e6,
        "weight_kg": 60,
        "infusion_reaction": False,
    },
    "platelet_count": platelet_count(
        hemoglobin=112, hemoglobin_lln=115,
        leukocytes=3.2, leukocytes_lln=3.5,
        neutrophils=1.9, neutrophils_lln=1.8,
        lymphocytes=0.4, lymphocytes_lln=1.1,
        platelets_lln=125,
        transfused_within_72h=False,
    ),
    "chemistry": {
        "visit": "D7",
        "collected_at": "2026-02-10T09:30:00+08:00",
        "alt": 48, "alt_uln": 40,
        "ast": 39, "ast_uln": 35,
        "bilirubin": 15, "bilirubin_uln": 21,
        "creatinine": 70, "creatinine_uln": 84,
    },
    "bleeding_assessment": {
        "visit": "D7",
        "assessed_on": "2026-02-10",
        "who_grade": 1,
        "sites": ["skin (petechiae)", "gums"],
    },
    "rescue_therapy": {
        "agent": "intravenous immunoglobulin",
        "category": "immunoglobulin",
        "start_date": "2026-02-12",
        "end_date": "2026-02-13",
        "reason": "platelets 8 with mucosal bleeding",
    },
    "vital_signs": {
        "visit": "D1",
        "measured_at": "2026-02-04T08:00:00+08:00",
        "temperature_c": 38.6,
        "systolic_bp": 104,
        "diastolic_bp": 62,
        "heart_rate": 112,
        "spo2": 95,
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
        "assessed_at": "2026-02-07T09:00:00+08:00",
        "ice_score": 9,
        "consciousness": "awake",
        "seizure": "none",
        "motor_weakness": "none",
        "raised_icp": "none",
        "global_aphasia": False,
        "intracranial_hemorrhage": False,
        "tremor_or_myoclonus": True,
    },
    "adverse_event": {
        "term": "Cytokine release syndrome",
        "category": "crs",
        "onset_date": "2026-02-04",
        "end_date": "2026-02-06",
        "ctcae_grade": 2,
        "serious": True,
        "seriousness": ["hospitalization"],
        "aware_at": "2026-02-04T15:00:00+08:00",
        "relatedness_car_t": "probable",
        "relatedness_lymphodepletion": "unlikely",
        "outcome": "recovered",
        "action": "tocilizumab 8 mg/kg once",
    },
    "visit": {
        "visit": "D14",
        "visit_date": "2026-02-17",
        "missed": False,
    },
    "end_of_study": {
        "ended_on": "2026-04-28",
        "reason": "withdrew_consent",
        "details": "moved abroad",
    },
}


def valid(form: str, **changes: Any) -> dict[str, Any]:
    """Return a fresh copy of the valid example of ``form`` with ``changes`` applied."""
    return {**copy.deepcopy(VALID[form]), **changes}


def without(form: str, *names: str) -> dict[str, Any]:
    """Return a fresh copy of the valid example of ``form`` without the named fields."""
    payload = valid(form)
    for name in names:
        payload.pop(name)
    return payload
