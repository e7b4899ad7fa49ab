"""Form values -> CDISC controlled terminology submission values: the one table.

Each codelist names the CDISC codelist it draws from (``cdisc``: the CDISC CT name, or
``None`` for a sponsor-defined list) and maps a form value to its submission value. The ODM
metadata prints these beside the form values (an ``Alias``), the SDTM domains submit them and
docs/sdtm.md shows the table (tests/unit/test_sdtm_terminology.py keeps the three in step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Codelist:
    """A codelist of the submission: its name, CDISC source and form value -> submission."""

    name: str
    label: str
    cdisc: str | None  # the CDISC CT codelist it is drawn from; None when sponsor-defined
    values: dict[str, str]

    def submit(self, value: Any) -> str | None:
        """The submission value of a form value (None when the value has none)."""
        if value is None:
            return None
        if isinstance(value, bool):
            value = "true" if value else "false"
        return self.values.get(str(value))


NY_VALUES = {"true": "Y", "false": "N", "yes": "Y", "no": "N"}
RELATEDNESS = {"not_related": "NOT RELATED", "unlikely": "UNLIKELY RELATED",
               "possible": "POSSIBLY RELATED", "probable": "PROBABLY RELATED",
               "definite": "RELATED"}

CODELISTS: dict[str, Codelist] = {c.name: c for c in (
    Codelist("SEX", "Sex", "SEX", {"F": "F", "M": "M"}),
    Codelist("NY", "No Yes Response", "NY", NY_VALUES),
    Codelist("AEOUT", "Outcome of Event", "OUT", {
        "recovered": "RECOVERED/RESOLVED", "recovering": "RECOVERING/RESOLVING",
        "not_recovered": "NOT RECOVERED/NOT RESOLVED",
        "recovered_with_sequelae": "RECOVERED/RESOLVED WITH SEQUELAE", "fatal": "FATAL",
        "unknown": "UNKNOWN"}),
    Codelist("AEREL", "Relationship to study treatment", None, RELATEDNESS),
    Codelist("NCOMPLT", "Completion/Reason for Non-Completion", "NCOMPLT", {
        "completed": "COMPLETED", "withdrew_consent": "WITHDRAWAL BY SUBJECT",
        "lost_to_follow_up": "LOST TO FOLLOW-UP", "death": "DEATH",
        "investigator_decision": "PHYSICIAN DECISION",
        "progression_needing_other_therapy": "LACK OF EFFICACY", "other": "OTHER"}),
    Codelist("POSNEG", "Positive Negative Result", "POSNEG", {
        "positive": "POSITIVE", "negative": "NEGATIVE"}),
    Codelist("UNIT", "Unit", "UNIT", {
        "10^9/L": "10^9/L", "g/L": "g/L", "U/L": "U/L", "umol/L": "umol/L", "cm": "cm",
        "kg": "kg", "mg": "mg", "°C": "C", "mmHg": "mmHg", "/min": "beats/min", "%": "%",
        "L/min": "L/min", "L": "L", "mg/m2": "mg/m2", "mg/kg": "mg/kg",
        "CAR+ cells/kg": "10^6 cells/kg", "m2": "m2"}),
    Codelist("EPOCH", "Epoch", "EPOCH", {
        "screening": "SCREENING", "treatment": "TREATMENT", "follow_up": "FOLLOW-UP"}),
    Codelist("AECAT", "Category for Adverse Event", None, {
        "crs": "CYTOKINE RELEASE SYNDROME", "icans": "ICANS", "infection": "INFECTION",
        "cytopenia": "CYTOPENIA", "infusion_reaction": "INFUSION RELATED REACTION",
        "bleeding": "BLEEDING", "thrombosis": "THROMBOSIS", "other": "OTHER"}),
    Codelist("CMCAT", "Category for Medication", None, {
        "corticosteroid": "CORTICOSTEROID", "antiplatelet": "ANTIPLATELET", "nsaid": "NSAID",
        "anticoagulant": "ANTICOAGULANT", "tpo_receptor_agonist": "TPO RECEPTOR AGONIST",
        "immunoglobulin": "IMMUNOGLOBULIN", "platelet_transfusion": "PLATELET TRANSFUSION",
        "other": "OTHER", "prior_itp_therapy": "PRIOR ITP THERAPY",
        "rescue_therapy": "RESCUE THERAPY"}),
    Codelist("RSRESP", "IWG response (Rodeghiero 2009)", None, {
        "CR": "CR", "R": "R", "NR": "NR", "loss_of_response": "LOSS OF RESPONSE",
        "unknown": "UNKNOWN"}),
)}

# (form, field) -> the codelist of its values in SDTM. A field named here is submitted as
# the codelist's submission value; ODM prints the submission value beside the form value.
FIELD_CODELISTS: dict[tuple[str, str], str] = {
    ("registration", "sex"): "SEX",
    ("adverse_event", "outcome"): "AEOUT",
    ("adverse_event", "relatedness_car_t"): "AEREL",
    ("adverse_event", "relatedness_lymphodepletion"): "AEREL",
    ("adverse_event", "category"): "AECAT",
    ("end_of_study", "reason"): "NCOMPLT",
    ("concomitant_medication", "category"): "CMCAT",
    ("rescue_therapy", "category"): "CMCAT",
    ("ie_checklist", "answers"): "NY",
    ("itp_history", "prior_therapies.best_response"): "RSRESP",
    **{("screening_labs", name): "POSNEG" for name in (
        "hiv_antibody", "hbsag", "hbcab", "hcv_antibody", "hbv_dna", "hcv_rna",
        "pregnancy_test")},
}


def submission_value(form: str, field: str, value: Any) -> str | None:
    """The CDISC submission value of a form field's value (None when it has none)."""
    name = FIELD_CODELISTS.get((form, field))
    return CODELISTS[name].submit(value) if name else None


def unit(form_unit: str | None) -> str | None:
    """The CDISC UNIT submission value of a form's unit (the form unit when it has none)."""
    if form_unit is None:
        return None
    return CODELISTS["UNIT"].values.get(form_unit, form_unit)
