"""Subject and enrollment forms (crf-spec.md "Subject and enrollment")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, validates_schema

from . import fields as f
from .fields import FormSchema, When, completed_years, not_before, not_in_future, when_equals
from .labs import lab_limit, lab_value

ADULT_AGE = 18  # assent is owed below it
SEROLOGY = ("positive", "negative")
NUCLEIC_ACID = ("positive", "negative", "not_done")
RESPONSES = ("CR", "R", "NR", "unknown")
MEDICATION_CATEGORIES = (
    "corticosteroid",
    "antiplatelet",
    "nsaid",
    "anticoagulant",
    "tpo_receptor_agonist",
    "immunoglobulin",
    "other",
)
INDICATIONS = ("itp", "other")  # what a medication is given for: only ITP courses count
CRITERIA = tuple(f"IN{n:02d}" for n in range(1, 9)) + tuple(f"EX{n:02d}" for n in range(1, 20))


def _minor_at_consent(data: Mapping[str, Any]) -> bool:
    birth, consent = data.get("birth_date"), data.get("consent_date")
    return birth is not None and consent is not None and completed_years(birth, consent) < ADULT_AGE


class RegistrationSchema(FormSchema):
    """Registers a subject (opens the subject's stream); carries no visit."""

    subject_id = f.string(
        "subject identifier, unique in the trial", required=True, pattern=r"^[A-Z0-9-]{3,20}$",
        pattern_hint="use 3 to 20 capital letters, digits or '-', e.g. ITP-101"
    )
    site_id = f.string("site identifier", required=True, pattern=r"^[A-Z0-9-]{1,20}$",
                       pattern_hint="use 1 to 20 capital letters, digits or '-', e.g. SITE-01")
    sex = f.enum(("F", "M"), "sex", required=True)
    birth_date = f.date("date of birth", required=True)
    consent_date = f.date("date of informed consent", required=True)
    assent_date = f.date(
        "date of the minor's assent",
        required_when=When(f"the age at consent is under {ADULT_AGE}", _minor_at_consent),
    )
    screening_date = f.date("date of screening", required=True)

    @validates_schema(skip_on_field_errors=False)
    def birth_date_not_in_future(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        not_in_future(data, "birth_date")

    @validates_schema(skip_on_field_errors=False)
    def consent_date_not_in_future(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        not_in_future(data, "consent_date")

    @validates_schema(skip_on_field_errors=False)
    def consent_not_before_birth(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        not_before(data, "consent_date", "birth_date")

    @validates_schema(skip_on_field_errors=False)
    def screening_not_before_consent(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        not_before(data, "screening_date", "consent_date")


class PriorTherapySchema(FormSchema):
    """One prior ITP therapy of the history."""

    agent = f.string("drug or procedure", required=True)
    line = f.integer(1, 9, "line of therapy", required=True)
    start_date = f.date("start date", required=True)
    end_date = f.date("end date; null while ongoing")
    best_response = f.enum(RESPONSES, "best response to it", required=True)
    intolerance = f.boolean("stopped or limited by intolerance", required=True)

    @validates_schema(skip_on_field_errors=False)
    def end_not_before_start(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        not_before(data, "end_date", "start_date")


class ItpHistorySchema(FormSchema):
    """ITP diagnosis and treatment history; 'before screening' is a subject rule."""

    visit = f.visit_code()
    diagnosis_date = f.date("date of ITP diagnosis (before screening)", required=True)
    primary_itp = f.boolean("primary ITP", required=True)
    secondary_cause_excluded = f.boolean(
        "investigator confirms no disease causing secondary thrombocytopenia", required=True
    )
    refractory = f.boolean(
        "documented intolerance or insufficient response to first- and second-line therapy",
        required=True,
    )
    prior_therapies = f.records(PriorTherapySchema, "prior ITP therapies (may be empty)")
    splenectomy = f.boolean("prior splenectomy", required=True)
    splenectomy_preventive = f.boolean(
        "the splenectomy was preventive", required_when=f.when_true("splenectomy")
    )


class MedicalHistorySchema(FormSchema):
    """Conditions relevant to eligibility; each flag is true when the condition is present."""

    visit = f.visit_code()
    hemostatic_disorder_other = f.boolean("hemostatic disorder other than ITP", required=True)
    platelet_agglutination_abnormality = f.boolean(
        "platelet agglutination abnormality", required=True
    )
    malignancy_or_cytotoxic_treatment_history = f.boolean(
        "malignancy or prior cytotoxic chemotherapy or radiotherapy", required=True
    )
    heart_disease_within_1y = f.boolean(
        "grade III-IV heart failure, myocardial infarction, angioplasty or stenting, unstable "
        "angina or other prominent heart disease within a year",
        required=True,
    )
    thrombosis_history_or_risk = f.boolean(
        "thrombosis or significant thrombotic risk factors", required=True
    )
    gi_bleeding_risk_or_acute_infection_or_respiratory_disease = f.boolean(
        "GI disease with bleeding risk, acute infection or respiratory disease", required=True
    )
    decompensated_disease = f.boolean("decompensated disease or acute condition", required=True)
    severe_allergy = f.boolean("history of severe allergy", required=True)
    mental_illness_or_addiction = f.boolean("mental illness or addiction", required=True)
    poor_compliance_expected = f.boolean("poor compliance expected", required=True)
    pregnant_or_lactating = f.boolean("pregnant or lactating", required=True)
    exam_abnormality_clinically_significant = f.boolean(
        "clinically significant examination abnormality", required=True
    )
    contraception_agreed = f.boolean("agrees to effective contraception", required=True)
    last_other_trial_date = f.date("last day of participation in another clinical trial")


class ScreeningLabsSchema(FormSchema):
    """Screening laboratory results with the lab's reference limits."""

    visit = f.visit_code()
    collected_at = f.datetime("time the sample was collected", required=True)
    platelets = lab_value("platelets", required=True)
    hemoglobin = lab_value("hemoglobin")
    hemoglobin_lln = lab_limit("hemoglobin")
    neutrophils = lab_value("neutrophils")
    neutrophils_lln = lab_limit("neutrophils")
    alt = lab_value("alt", required=True)
    alt_uln = lab_limit("alt", required=True)
    ast = lab_value("ast", required=True)
    ast_uln = lab_limit("ast", required=True)
    bilirubin = lab_value("bilirubin")
    bilirubin_uln = lab_limit("bilirubin")
    creatinine = lab_value("creatinine", required=True)
    creatinine_uln = lab_limit("creatinine", required=True, note=" for the subject's age and sex")
    hiv_antibody = f.enum(SEROLOGY, "HIV antibody", required=True)
    hbsag = f.enum(SEROLOGY, "hepatitis B surface antigen", required=True)
    hbcab = f.enum(SEROLOGY, "hepatitis B core antibody", required=True)
    hcv_antibody = f.enum(SEROLOGY, "hepatitis C antibody", required=True)
    hbv_dna = f.enum(NUCLEIC_ACID, "HBV DNA", required_when=when_equals("hbcab", "positive"))
    hcv_rna = f.enum(NUCLEIC_ACID, "HCV RNA", required_when=when_equals("hcv_antibody", "positive"))
    pregnancy_test = f.enum(
        ("positive", "negative", "not_applicable"),
        "pregnancy test (not not_applicable for a female aged 12-55)",
        required=True,
    )


class ConcomitantMedicationSchema(FormSchema):
    """A concomitant medication; a dose change ends one entry and starts another. No visit."""

    drug = f.string("drug name", required=True)
    category = f.enum(MEDICATION_CATEGORIES, "drug category", required=True)
    dose = f.measure(None, 0, 1e6, min_inclusive=False, description="dose per administration")
    dose_unit = f.string("unit of the dose (e.g. mg)", required_when=f.when_given("dose"))
    frequency = f.string("frequency (e.g. once daily)")
    start_date = f.date("start date", required=True)
    end_date = f.date("end date; null while ongoing")
    indication = f.enum(
        INDICATIONS,
        "what the drug is given for: itp, or other (e.g. a stress dose for surgery, adrenal "
        "replacement); only ITP courses count toward corticosteroid dependence",
        required_when=when_equals("category", "corticosteroid"),
    )
    indication_other = f.string(
        "the indication, in words, when it is not ITP",
        required_when=when_equals("indication", "other"),
    )

    @validates_schema(skip_on_field_errors=False)
    def end_not_before_start(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        not_before(data, "end_date", "start_date")

    @validates_schema(skip_on_field_errors=False)
    def other_only_for_other(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        """An indication in words beside a coded ITP indication would contradict it."""
        if data.get("indication_other") and data.get("indication") != "other":
            raise ValidationError("Give indication_other only when indication is other.",
                                  "indication_other")


class IeChecklistSchema(FormSchema):
    """The investigator's attestation of the inclusion and exclusion criteria."""

    visit = f.visit_code()
    answers = f.coded_object(
        CRITERIA,
        ("yes", "no"),
        "criterion code to yes/no (inclusion: met; exclusion: excluding condition present)",
    )
    investigator_confirms_eligible = f.boolean(
        "the investigator confirms the subject is eligible", required=True
    )
