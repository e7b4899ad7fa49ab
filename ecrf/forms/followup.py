"""Follow-up forms (crf-spec.md "Follow-up"): counts, chemistry, bleeding, safety, visits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, validates_schema

from projections.trial_config import DEFAULT_TRIAL

from . import fields as f
from .fields import FormSchema, not_before, when_not_true, when_true
from .labs import lab_limit, lab_value

RESCUE_CATEGORIES = (
    "immunoglobulin",
    "corticosteroid",
    "platelet_transfusion",
    "tpo_receptor_agonist",
    "other",
)
OXYGEN = (
    "none",
    "low_flow_nasal_cannula",
    "high_flow_nasal_cannula",
    "facemask",
    "non_rebreather",
    "venturi",
    "positive_pressure",
    "mechanical_ventilation",
)
CONSCIOUSNESS = ("awake", "awakens_to_voice", "awakens_to_tactile", "unarousable_or_stupor_or_coma")
SEIZURE = (
    "none",
    "focal_or_generalized_resolving",
    "nonconvulsive_on_eeg_resolving",
    "life_threatening_prolonged",
)
RAISED_ICP = (
    "none",
    "focal_edema",
    "diffuse_edema_or_posturing_or_cn_vi_palsy_or_papilledema_or_cushing_triad",
)
AE_CATEGORIES = (
    "crs",
    "icans",
    "infection",
    "cytopenia",
    "infusion_reaction",
    "bleeding",
    "thrombosis",
    "other",
)
SERIOUSNESS = (
    "death",
    "life_threatening",
    "hospitalization",
    "disability",
    "congenital_anomaly",
    "important_medical_event",
)
RELATEDNESS = ("not_related", "unlikely", "possible", "probable", "definite")
OUTCOMES = (
    "recovered",
    "recovering",
    "not_recovered",
    "recovered_with_sequelae",
    "fatal",
    "unknown",
)
END_REASONS = (
    "completed",
    "withdrew_consent",
    "lost_to_follow_up",
    "death",
    "investigator_decision",
    "progression_needing_other_therapy",
    "other",
)
FATAL_GRADE = 5


class PlateletCountSchema(FormSchema):
    """A blood count; the platelet count drives the IWG response."""

    visit = f.visit_code()
    collected_at = f.datetime("time the sample was collected", required=True)
    platelets = lab_value("platelets", required=True)
    hemoglobin = lab_value("hemoglobin")
    hemoglobin_lln = lab_limit("hemoglobin")
    leukocytes = lab_value("leukocytes")
    leukocytes_lln = lab_limit("leukocytes")
    neutrophils = lab_value("neutrophils")
    neutrophils_lln = lab_limit("neutrophils")
    lymphocytes = lab_value("lymphocytes")
    lymphocytes_lln = lab_limit("lymphocytes")
    platelets_lln = lab_limit("platelets", default=DEFAULT_TRIAL.default_platelets_lln)
    transfused_within_72h = f.boolean("platelet transfusion within the 72 hours before")


class ChemistrySchema(FormSchema):
    """Liver and kidney chemistry, each value with the lab's upper limit."""

    visit = f.visit_code()
    collected_at = f.datetime("time the sample was collected", required=True)
    alt = lab_value("alt")
    alt_uln = lab_limit("alt")
    ast = lab_value("ast")
    ast_uln = lab_limit("ast")
    bilirubin = lab_value("bilirubin")
    bilirubin_uln = lab_limit("bilirubin")
    creatinine = lab_value("creatinine")
    creatinine_uln = lab_limit("creatinine")


class BleedingAssessmentSchema(FormSchema):
    """WHO bleeding grade on a day (grade 2 or more counts as bleeding for the response)."""

    visit = f.visit_code()
    assessed_on = f.date("date of assessment", required=True)
    who_grade = f.integer(0, 4, "WHO bleeding grade", required=True)
    sites = f.string_list("bleeding sites")


class RescueTherapySchema(FormSchema):
    """A rescue therapy; counts soon after it are not evaluable. No visit."""

    agent = f.string("agent", required=True)
    category = f.enum(RESCUE_CATEGORIES, "rescue category", required=True)
    start_date = f.date("start date", required=True)
    end_date = f.date("end date")
    reason = f.string("reason", max_length=f.LONG_TEXT)

    @validates_schema(skip_on_field_errors=False)
    def end_not_before_start(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        not_before(data, "end_date", "start_date")


class VitalSignsSchema(FormSchema):
    """Vital signs and supports, from which the CRS grade is computed."""

    visit = f.visit_code()
    measured_at = f.datetime("time of measurement", required=True)
    temperature_c = f.measure("°C", 30, 45, description="body temperature")
    hours_above_40 = f.measure(
        "h", 0, 720,
        description="hours the temperature has been above 40.0 °C, from the site's own record "
                    "(fever grade 4 when more than 24)",
    )
    systolic_bp = f.measure("mmHg", 0, 300, description="systolic blood pressure")
    diastolic_bp = f.measure("mmHg", 0, 200, description="diastolic blood pressure")
    heart_rate = f.measure("/min", 0, 300, description="heart rate")
    spo2 = f.measure("%", 0, 100, description="oxygen saturation")
    oxygen = f.enum(OXYGEN, "oxygen support")
    oxygen_flow_l_min = f.measure("L/min", 0, 100, description="oxygen flow")
    vasopressors = f.integer(0, 5, "number of vasopressors running")
    vasopressin = f.boolean("vasopressin running")
    hypotension = f.boolean("hypotension by the investigator's age-appropriate judgment")
    fever_other_cause = f.boolean("the fever has another cause (e.g. a documented infection)")
    anticytokine_or_steroid_given = f.boolean(
        "tocilizumab or corticosteroids given for CRS before this measurement"
    )


class NeuroAssessmentSchema(FormSchema):
    """Neurological assessment for ICANS; which score fits the age is a subject rule."""

    visit = f.visit_code()
    assessed_at = f.datetime("time of assessment", required=True)
    ice_score = f.integer(0, 10, "ICE score (subjects aged 12 and over)")
    capd_score = f.integer(0, 32, "CAPD score (subjects under 12)")
    consciousness = f.enum(CONSCIOUSNESS, "level of consciousness")
    seizure = f.enum(SEIZURE, "seizure")
    motor_weakness = f.enum(("none", "deep_focal"), "motor weakness")
    raised_icp = f.enum(RAISED_ICP, "raised intracranial pressure")
    global_aphasia = f.boolean("global aphasia")
    intracranial_hemorrhage = f.boolean("intracranial hemorrhage (graded by CTCAE, not ICANS)")
    tremor_or_myoclonus = f.boolean("tremor or myoclonus")
    capd_unable = f.boolean("a child unable to perform CAPD")


class AdverseEventSchema(FormSchema):
    """An adverse event with the investigator's grade; no visit."""

    term = f.string("event term (MedDRA preferred term when known)", required=True)
    category = f.enum(AE_CATEGORIES, "category", required=True)
    onset_date = f.date("onset date", required=True)
    end_date = f.date("end date; null while ongoing")
    ctcae_grade = f.integer(
        1, 5, "investigator's grade (CTCAE; ASTCT for crs and icans)", required=True
    )
    serious = f.boolean("serious adverse event", required=True)
    seriousness = f.enum_list(
        SERIOUSNESS,
        "seriousness criteria (non-empty when serious)",
        required_when=when_true("serious"),
    )
    aware_at = f.datetime(
        "when the site learned of the serious event", required_when=when_true("serious")
    )
    relatedness_car_t = f.enum(RELATEDNESS, "relatedness to CAR-T", required=True)
    relatedness_lymphodepletion = f.enum(
        RELATEDNESS, "relatedness to lymphodepletion", required=True
    )
    outcome = f.enum(OUTCOMES, "outcome", required=True)
    action = f.string("action taken")

    @validates_schema(skip_on_field_errors=False)
    def end_not_before_onset(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        not_before(data, "end_date", "onset_date")

    @validates_schema(skip_on_field_errors=False)
    def grade_5_requires_fatal_outcome(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        if data.get("ctcae_grade") == FATAL_GRADE and data.get("outcome") not in (None, "fatal"):
            raise ValidationError("Grade 5 requires outcome fatal.", "outcome")

    @validates_schema(skip_on_field_errors=False)
    def fatal_outcome_requires_grade_5(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        grade = data.get("ctcae_grade")
        if data.get("outcome") == "fatal" and grade is not None and grade != FATAL_GRADE:
            raise ValidationError("Outcome fatal requires grade 5.", "ctcae_grade")


class VisitSchema(FormSchema):
    """A visit took place on a date, or was missed for a reason."""

    visit = f.visit_code()
    visit_date = f.date("date of the visit", required_when=when_not_true("missed"))
    missed = f.boolean("the visit was missed")
    reason = f.string("why the visit was missed", required_when=when_true("missed"),
                      max_length=f.LONG_TEXT)


class EndOfStudySchema(FormSchema):
    """The end of the subject's participation; no visit."""

    ended_on = f.date("date of end of study", required=True)
    reason = f.enum(END_REASONS, "reason for end of study", required=True)
    details = f.string("details", max_length=f.LONG_TEXT)
