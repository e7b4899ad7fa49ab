"""The mapping of the forms to SDTMIG 3.4: every domain's variables, and the named fields.

The one table: docs/sdtm.md prints it and the Define-XML is written from it. A variable's
``source`` is the ODM ItemOID it was collected in (origin Collected) or how it is derived
(origin Derived, the Define-XML MethodDef). Lab and vital-sign tests are named per form field
here; a numeric lab field not named here still flows through, under its SAS name.
"""

from __future__ import annotations

from ecrf.exports.sdtm.model import Domain, Variable

V = Variable
ID = (V("STUDYID", "Study Identifier", origin="Assigned", source="the protocol's study id"),
      V("DOMAIN", "Domain Abbreviation", origin="Assigned", source="the domain code"),
      V("USUBJID", "Unique Subject Identifier", source="STUDYID-SUBJID"))
DY = "study day of the date: date - RFSTDTC date + 1 on or after RFSTDTC, else date - RFSTDTC"
SEQ = "1, 2, ... within USUBJID in the order of the records"
UNSCHEDULED_NUM = ("the visit's order in the schedule; an unscheduled visit (one per date) "
                   "the number of the last scheduled visit started on or before it + 0.01, "
                   "0.02, ...")
VISIT = (V("VISIT", "Visit Name", origin="Collected", source="the entry's visit code"),
         V("VISITNUM", "Visit Number", "Num", source=UNSCHEDULED_NUM))


def _seq(prefix: str) -> Variable:
    return V(f"{prefix}SEQ", "Sequence Number", "Num", source=SEQ)


def _dy(prefix: str, dtc: str = "DTC", label: str = "Study Day") -> Variable:
    return V(f"{prefix}{dtc[:-3]}DY", label, "Num", source=DY)


def _item(form: str, field: str) -> str:
    return f"IT.{form.upper()}.{field.upper()}"


# field -> (TESTCD, TEST, category)
LAB_TESTS: dict[str, tuple[str, str, str]] = {
    "platelets": ("PLAT", "Platelets", "HEMATOLOGY"),
    "hemoglobin": ("HGB", "Hemoglobin", "HEMATOLOGY"),
    "leukocytes": ("WBC", "Leukocytes", "HEMATOLOGY"),
    "neutrophils": ("NEUT", "Neutrophils", "HEMATOLOGY"),
    "lymphocytes": ("LYM", "Lymphocytes", "HEMATOLOGY"),
    "alt": ("ALT", "Alanine Aminotransferase", "CHEMISTRY"),
    "ast": ("AST", "Aspartate Aminotransferase", "CHEMISTRY"),
    "bilirubin": ("BILI", "Bilirubin", "CHEMISTRY"),
    "creatinine": ("CREAT", "Creatinine", "CHEMISTRY"),
    "hiv_antibody": ("HIV12AB", "HIV-1/2 Antibody", "SEROLOGY"),
    "hbsag": ("HBSAG", "Hepatitis B Virus Surface Antigen", "SEROLOGY"),
    "hbcab": ("HBCAB", "Hepatitis B Virus Core Antibody", "SEROLOGY"),
    "hcv_antibody": ("HCAB", "Hepatitis C Virus Antibody", "SEROLOGY"),
    "hbv_dna": ("HBVDNA", "Hepatitis B Virus DNA", "SEROLOGY"),
    "hcv_rna": ("HCVRNA", "Hepatitis C Virus RNA", "SEROLOGY"),
    "pregnancy_test": ("HCG", "Choriogonadotropin", "URINALYSIS"),
}
LAB_FORMS = ("screening_labs", "platelet_count", "chemistry")
# (form, field) -> (TESTCD, TEST); BSA is derived (the Mosteller formula, stored at entry)
VS_TESTS: dict[tuple[str, str], tuple[str, str]] = {
    ("vital_signs", "temperature_c"): ("TEMP", "Temperature"),
    ("vital_signs", "systolic_bp"): ("SYSBP", "Systolic Blood Pressure"),
    ("vital_signs", "diastolic_bp"): ("DIABP", "Diastolic Blood Pressure"),
    ("vital_signs", "heart_rate"): ("HR", "Heart Rate"),
    ("vital_signs", "spo2"): ("OXYSAT", "Oxygen Saturation"),
    ("lymphodepletion", "height_cm"): ("HEIGHT", "Height"),
    ("lymphodepletion", "weight_kg"): ("WEIGHT", "Weight"),
    ("car_t_infusion", "weight_kg"): ("WEIGHT", "Weight"),
}
VS_TIME = {"vital_signs": "measured_at", "lymphodepletion": "administered_on",
           "car_t_infusion": "infused_at"}
QS_TESTS = {"ice_score": ("ICE01", "ICE Total Score", "ICE"),
            "capd_score": ("CAPD01", "CAPD Total Score", "CAPD")}
# the doses of EX: (EXTRT, form, dose field or derived key, unit, route)
EX_TREATMENTS = (
    ("FLUDARABINE", "lymphodepletion", "fludarabine_mg_m2", "mg/m2", "INTRAVENOUS"),
    ("CYCLOPHOSPHAMIDE", "lymphodepletion", "cyclophosphamide_mg_m2", "mg/m2", "INTRAVENOUS"),
    ("CAR-T CELLS", "car_t_infusion", "dose_cells_per_kg", "cells/kg", "INTRAVENOUS"),
)
SERIOUSNESS = {"death": "AESDTH", "life_threatening": "AESLIFE", "hospitalization": "AESHOSP",
               "disability": "AESDISAB", "congenital_anomaly": "AESCONG",
               "important_medical_event": "AESMIE"}

DOMAINS: dict[str, Domain] = {d.code: d for d in (
    Domain("DM", "Demographics", "SPECIAL PURPOSE", "One record per subject",
           ("STUDYID", "USUBJID"), (
               *ID,
               V("SUBJID", "Subject Identifier for the Study", origin="Collected",
                 source=_item("registration", "subject_id")),
               V("RFSTDTC", "Subject Reference Start Date/Time",
                 source="the CAR-T infusion date/time as entered (the protocol's day 0): "
                        + _item("car_t_infusion", "infused_at")),
               V("RFENDTC", "Subject Reference End Date/Time",
                 source="the end of study date: " + _item("end_of_study", "ended_on")),
               V("RFXSTDTC", "Date/Time of First Study Treatment",
                 source="the first leukapheresis or lymphodepletion date, else RFSTDTC"),
               V("RFXENDTC", "Date/Time of Last Study Treatment",
                 source="the CAR-T infusion date/time"),
               V("RFICDTC", "Date/Time of Informed Consent", origin="Collected",
                 source=_item("registration", "consent_date")),
               V("SITEID", "Study Site Identifier", origin="Collected",
                 source=_item("registration", "site_id")),
               V("BRTHDTC", "Date/Time of Birth", origin="Collected",
                 source=_item("registration", "birth_date")),
               V("AGE", "Age", "Num", source="completed years from BRTHDTC to RFICDTC"),
               V("AGEU", "Age Units", origin="Assigned", source="YEARS"),
               V("SEX", "Sex", origin="Collected", source=_item("registration", "sex"),
                 codelist="SEX"),
               V("ARMCD", "Planned Arm Code", origin="Assigned",
                 source="CART once eligible (checklist confirmed), else empty"),
               V("ARM", "Description of Planned Arm", origin="Assigned",
                 source="CAR-T cell therapy once eligible"),
               V("ACTARMCD", "Actual Arm Code", source="CART once infused"),
               V("ACTARM", "Description of Actual Arm", source="CAR-T cell therapy once infused"),
               V("ARMNRS", "Reason Arm and/or Actual Arm is Null",
                 source="SCREEN FAILURE when not eligible, NOT TREATED when not infused"),
           )),
    Domain("DS", "Disposition", "EVENTS", "One record per disposition status or milestone",
           ("STUDYID", "USUBJID", "DSDECOD", "DSSTDTC"), (
               *ID, _seq("DS"),
               V("DSTERM", "Reported Term for the Disposition Event", origin="Collected",
                 source=_item("end_of_study", "details") + " or the reason"),
               V("DSDECOD", "Standardized Disposition Term", origin="Collected",
                 source=_item("end_of_study", "reason"), codelist="NCOMPLT"),
               V("DSCAT", "Category for Disposition Event", origin="Assigned",
                 source="PROTOCOL MILESTONE or DISPOSITION EVENT"),
               V("EPOCH", "Epoch", codelist="EPOCH", source="the epoch of DSSTDTC"),
               V("DSSTDTC", "Start Date/Time of Disposition Event", origin="Collected",
                 source=_item("registration", "consent_date") + " or "
                 + _item("end_of_study", "ended_on")),
               _dy("DS", "STDTC", "Study Day of Start of Disposition Event"),
           )),
    Domain("IE", "Inclusion/Exclusion Criteria Not Met", "FINDINGS",
           "One record per inclusion/exclusion criterion not met",
           ("STUDYID", "USUBJID", "IETESTCD"), (
               *ID, _seq("IE"),
               V("IETESTCD", "Inclusion/Exclusion Criterion Short Name", origin="Collected",
                 source=_item("ie_checklist", "answers") + " key"),
               V("IETEST", "Inclusion/Exclusion Criterion", source="the criterion's code"),
               V("IECAT", "Inclusion/Exclusion Category", source="INCLUSION (IN..) or "
                                                                  "EXCLUSION (EX..)"),
               V("IEORRES", "I/E Criterion Original Result", origin="Collected",
                 source=_item("ie_checklist", "answers"), codelist="NY"),
               V("IESTRESC", "I/E Criterion Result in Std Format", codelist="NY",
                 source="IEORRES"),
               *VISIT,
               V("IEDTC", "Date/Time of Collection", source="the screening date"),
               _dy("IE"),
           )),
    Domain("MH", "Medical History", "EVENTS", "One record per medical history event",
           ("STUDYID", "USUBJID", "MHTERM"), (
               *ID, _seq("MH"),
               V("MHTERM", "Reported Term for the Medical History", origin="Collected",
                 source="the description of a medical_history item answered true, or the "
                        "ITP diagnosis (" + _item("itp_history", "diagnosis_date") + ")"),
               V("MHCAT", "Category for Medical History", origin="Assigned",
                 source="PRIMARY DIAGNOSIS or GENERAL MEDICAL HISTORY"),
               V("MHSTDTC", "Start Date/Time of Medical History Event", origin="Collected",
                 source=_item("itp_history", "diagnosis_date")),
               *VISIT,
           )),
    Domain("CM", "Concomitant/Concomitant Medications", "INTERVENTIONS",
           "One record per medication intervention episode", ("STUDYID", "USUBJID", "CMTRT",
                                                              "CMSTDTC"), (
               *ID, _seq("CM"),
               V("CMTRT", "Reported Name of Drug, Med, or Therapy", origin="Collected",
                 source=_item("concomitant_medication", "drug") + ", "
                 + _item("rescue_therapy", "agent") + ", "
                 + _item("itp_history", "prior_therapies.agent")),
               V("CMCAT", "Category for Medication", origin="Collected", codelist="CMCAT",
                 source=_item("concomitant_medication", "category")
                 + " (rescue therapy and prior ITP therapies by their form)"),
               V("CMSCAT", "Subcategory for Medication", origin="Collected", codelist="CMCAT",
                 source=_item("rescue_therapy", "category")),
               V("CMINDC", "Indication", origin="Collected",
                 source=_item("concomitant_medication", "indication") + " or "
                 + _item("rescue_therapy", "reason")),
               V("CMDOSE", "Dose per Administration", "Num", origin="Collected",
                 source=_item("concomitant_medication", "dose")),
               V("CMDOSU", "Dose Units", origin="Collected",
                 source=_item("concomitant_medication", "dose_unit")),
               V("CMDOSFRQ", "Dosing Frequency per Interval", origin="Collected",
                 source=_item("concomitant_medication", "frequency")),
               V("CMSTDTC", "Start Date/Time of Medication", origin="Collected",
                 source="the form's start_date"),
               V("CMENDTC", "End Date/Time of Medication", origin="Collected",
                 source="the form's end_date"),
               _dy("CM", "STDTC", "Study Day of Start of Medication"),
               _dy("CM", "ENDTC", "Study Day of End of Medication"),
           )),
    Domain("PR", "Procedures", "INTERVENTIONS", "One record per procedure",
           ("STUDYID", "USUBJID", "PRTRT", "PRSTDTC"), (
               *ID, _seq("PR"),
               V("PRTRT", "Reported Name of Procedure", origin="Assigned", source="LEUKAPHERESIS"),
               *VISIT,
               V("EPOCH", "Epoch", codelist="EPOCH", source="the epoch of PRSTDTC"),
               V("PRSTDTC", "Start Date/Time of Procedure", origin="Collected",
                 source=_item("leukapheresis", "procedure_date")),
               _dy("PR", "STDTC", "Study Day of Start of Procedure"),
           )),
    Domain("EX", "Exposure", "INTERVENTIONS", "One record per constant dosing interval",
           ("STUDYID", "USUBJID", "EXTRT", "EXSTDTC"), (
               *ID, _seq("EX"),
               V("EXTRT", "Name of Treatment", origin="Assigned",
                 source="FLUDARABINE, CYCLOPHOSPHAMIDE (lymphodepletion) or CAR-T CELLS"),
               V("EXDOSE", "Dose", "Num",
                 source="mg per m2 of body surface area (mg / Mosteller BSA, rounded to 0.01, "
                        "derived at entry) for lymphodepletion; "
                        + _item("car_t_infusion", "dose_cells_per_kg") + " for CAR-T"),
               V("EXDOSU", "Dose Units", origin="Assigned", codelist="UNIT",
                 source="mg/m2 or cells/kg"),
               V("EXROUTE", "Route of Administration", origin="Protocol", source="INTRAVENOUS"),
               V("EXLOT", "Lot Number", origin="Collected",
                 source=_item("car_t_infusion", "product_lot")),
               *VISIT,
               V("EPOCH", "Epoch", codelist="EPOCH", source="the epoch of EXSTDTC"),
               V("EXSTDTC", "Start Date/Time of Treatment", origin="Collected",
                 source=_item("lymphodepletion", "administered_on") + " or "
                 + _item("car_t_infusion", "infused_at")),
               V("EXENDTC", "End Date/Time of Treatment", source="EXSTDTC (one day)"),
               _dy("EX", "STDTC", "Study Day of Start of Treatment"),
           )),
    Domain("LB", "Laboratory Test Results", "FINDINGS",
           "One record per lab test per time point per visit per subject",
           ("STUDYID", "USUBJID", "LBTESTCD", "LBDTC"), (
               *ID, _seq("LB"),
               V("LBTESTCD", "Lab Test or Examination Short Name", origin="Assigned",
                 source="the lab field (mapping.LAB_TESTS)"),
               V("LBTEST", "Lab Test or Examination Name", origin="Assigned",
                 source="the lab field (mapping.LAB_TESTS)"),
               V("LBCAT", "Category for Lab Test", origin="Assigned",
                 source="HEMATOLOGY, CHEMISTRY, SEROLOGY or URINALYSIS"),
               V("LBORRES", "Result or Finding in Original Units", origin="Collected",
                 source="the lab field of the form (value-level metadata)"),
               V("LBORRESU", "Original Units", origin="Assigned", codelist="UNIT",
                 source="the field's unit"),
               V("LBORNRLO", "Reference Range Lower Limit in Orig Unit", origin="Collected",
                 source="the field's _lln"),
               V("LBORNRHI", "Reference Range Upper Limit in Orig Unit", origin="Collected",
                 source="the field's _uln"),
               V("LBSTRESC", "Character Result/Finding in Std Format", source="LBORRES"),
               V("LBSTRESN", "Numeric Result/Finding in Standard Units", "Num",
                 source="LBORRES when numeric"),
               V("LBSTRESU", "Standard Units", codelist="UNIT", source="LBORRESU"),
               V("LBSTAT", "Completion Status", source="NOT DONE when the form says not_done"),
               V("LBNRIND", "Reference Range Indicator",
                 source="LOW below LBORNRLO, HIGH above LBORNRHI, else NORMAL"),
               V("LBTOXGR", "Standard Toxicity Grade",
                 source="CTCAE grade of the value (projections.safety.lab_toxicities)"),
               *VISIT,
               V("EPOCH", "Epoch", codelist="EPOCH", source="the epoch of LBDTC"),
               V("LBDTC", "Date/Time of Specimen Collection", origin="Collected",
                 source="the form's collected_at, as entered"),
               _dy("LB"),
           )),
    Domain("VS", "Vital Signs", "FINDINGS",
           "One record per vital sign measurement per time point per visit per subject",
           ("STUDYID", "USUBJID", "VSTESTCD", "VSDTC"), (
               *ID, _seq("VS"),
               V("VSTESTCD", "Vital Signs Test Short Name", origin="Assigned",
                 source="mapping.VS_TESTS"),
               V("VSTEST", "Vital Signs Test Name", origin="Assigned", source="mapping.VS_TESTS"),
               V("VSORRES", "Result or Finding in Original Units", origin="Collected",
                 source="the vital sign field (value-level metadata); BSA is derived"),
               V("VSORRESU", "Original Units", origin="Assigned", codelist="UNIT",
                 source="the field's unit"),
               V("VSSTRESC", "Character Result/Finding in Std Format", source="VSORRES"),
               V("VSSTRESN", "Numeric Result/Finding in Standard Units", "Num",
                 source="VSORRES"),
               V("VSSTRESU", "Standard Units", codelist="UNIT", source="VSORRESU"),
               *VISIT,
               V("EPOCH", "Epoch", codelist="EPOCH", source="the epoch of VSDTC"),
               V("VSDTC", "Date/Time of Measurements", origin="Collected",
                 source="the form's measured_at, administered_on or infused_at"),
               _dy("VS"),
           )),
    Domain("AE", "Adverse Events", "EVENTS", "One record per adverse event per subject",
           ("STUDYID", "USUBJID", "AEDECOD", "AESTDTC"), (
               *ID, _seq("AE"),
               V("AETERM", "Reported Term for the Adverse Event", origin="Collected",
                 source=_item("adverse_event", "term")),
               V("AEDECOD", "Dictionary-Derived Term",
                 source="AETERM upper-cased (not MedDRA-coded in this system)"),
               V("AECAT", "Category for Adverse Event", origin="Collected", codelist="AECAT",
                 source=_item("adverse_event", "category")),
               V("AESER", "Serious Event", origin="Collected", codelist="NY",
                 source=_item("adverse_event", "serious")),
               *(V(flag, label, origin="Collected", codelist="NY",
                   source=_item("adverse_event", "seriousness") + f" contains {criterion}")
                 for criterion, flag, label in (
                     ("death", "AESDTH", "Results in Death"),
                     ("life_threatening", "AESLIFE", "Is Life Threatening"),
                     ("hospitalization", "AESHOSP", "Requires or Prolongs Hospitalization"),
                     ("disability", "AESDISAB", "Persist or Signif Disability/Incapacity"),
                     ("congenital_anomaly", "AESCONG", "Congenital Anomaly or Birth Defect"),
                     ("important_medical_event", "AESMIE",
                      "Other Medically Important Serious Event"))),
               V("AEACNOTH", "Other Action Taken", origin="Collected",
                 source=_item("adverse_event", "action")),
               V("AEREL", "Causality", origin="Collected", codelist="AEREL",
                 source=_item("adverse_event", "relatedness_car_t")),
               V("AEOUT", "Outcome of Adverse Event", origin="Collected", codelist="AEOUT",
                 source=_item("adverse_event", "outcome")),
               V("AETOXGR", "Standard Toxicity Grade", origin="Collected",
                 source=_item("adverse_event", "ctcae_grade")
                 + " (CTCAE; ASTCT consensus grade for CRS and ICANS)"),
               V("EPOCH", "Epoch", codelist="EPOCH", source="the epoch of AESTDTC"),
               V("AESTDTC", "Start Date/Time of Adverse Event", origin="Collected",
                 source=_item("adverse_event", "onset_date")),
               V("AEENDTC", "End Date/Time of Adverse Event", origin="Collected",
                 source=_item("adverse_event", "end_date")),
               _dy("AE", "STDTC", "Study Day of Start of Adverse Event"),
               _dy("AE", "ENDTC", "Study Day of End of Adverse Event"),
           )),
    Domain("QS", "Questionnaires", "FINDINGS",
           "One record per questionnaire per question per time point per visit per subject",
           ("STUDYID", "USUBJID", "QSCAT", "QSTESTCD", "QSDTC"), (
               *ID, _seq("QS"),
               V("QSTESTCD", "Question Short Name", origin="Assigned", source="mapping.QS_TESTS"),
               V("QSTEST", "Question Name", origin="Assigned", source="mapping.QS_TESTS"),
               V("QSCAT", "Category of Question", origin="Assigned", source="ICE or CAPD"),
               V("QSORRES", "Finding in Original Units", origin="Collected",
                 source=_item("neuro_assessment", "ice_score") + " or "
                 + _item("neuro_assessment", "capd_score")),
               V("QSSTRESC", "Character Result/Finding in Std Format", source="QSORRES"),
               V("QSSTRESN", "Numeric Finding in Standard Units", "Num", source="QSORRES"),
               *VISIT,
               V("QSDTC", "Date/Time of Finding", origin="Collected",
                 source=_item("neuro_assessment", "assessed_at")),
               _dy("QS"),
           )),
    Domain("RS", "Disease Response and Clin Classification", "FINDINGS",
           "One record per response assessment per time point per subject",
           ("STUDYID", "USUBJID", "RSTESTCD", "RSDTC"), (
               *ID, _seq("RS"),
               V("RSTESTCD", "Assessment Short Name", origin="Assigned",
                 source="PLTRESP per platelet count, BESTRSP once"),
               V("RSTEST", "Assessment Name", origin="Assigned",
                 source="Platelet Response per Count or Best Overall Response"),
               V("RSCAT", "Category for Assessment", origin="Assigned",
                 source="IWG 2009 (Rodeghiero)"),
               V("RSORRES", "Result or Finding in Original Units", codelist="RSRESP",
                 source="the IWG level of the count (projections.efficacy) or the best "
                        "confirmed response"),
               V("RSSTRESC", "Character Result/Finding in Std Format", codelist="RSRESP",
                 source="RSORRES"),
               V("RSEVAL", "Evaluator", origin="Assigned", source="ECRF DERIVATION"),
               V("RSREASND", "Reason Not Evaluable",
                 source="why a count is not evaluable: BEFORE INFUSION, AFTER RESCUE "
                        "THERAPY or PLATELET TRANSFUSION WITHIN 72 HOURS"),
               V("RSDTC", "Date/Time of Assessment", source="the count's collected_at"),
               _dy("RS"),
           )),
    Domain("SV", "Subject Visits", "SPECIAL PURPOSE", "One record per subject per actual visit",
           ("STUDYID", "USUBJID", "VISITNUM", "VISIT"), (
               *ID,
               V("VISITNUM", "Visit Number", "Num", source=UNSCHEDULED_NUM),
               V("VISIT", "Visit Name", origin="Collected", source="the entries' visit code"),
               V("SVSTDTC", "Start Date/Time of Visit",
                 source="the earliest clinical date of the visit's entries"),
               V("SVENDTC", "End Date/Time of Visit",
                 source="the latest clinical date of the visit's entries"),
               _dy("SV", "STDTC", "Study Day of Start of Visit"),
           )),
    Domain("TS", "Trial Summary", "TRIAL DESIGN", "One record per trial summary parameter value",
           ("STUDYID", "TSPARMCD", "TSSEQ"), (
               V("STUDYID", "Study Identifier", origin="Assigned", source="the protocol"),
               V("DOMAIN", "Domain Abbreviation", origin="Assigned", source="TS"),
               V("TSSEQ", "Sequence Number", "Num", source="1 within each parameter"),
               V("TSPARMCD", "Trial Summary Parameter Short Name", origin="Protocol",
                 source="the protocol"),
               V("TSPARM", "Trial Summary Parameter", origin="Protocol", source="the protocol"),
               V("TSVAL", "Parameter Value", origin="Protocol",
                 source="the protocol and the trial configuration"),
           )),
)}
SUPP_VARIABLES = (
    V("STUDYID", "Study Identifier", origin="Assigned", source="the protocol's study id"),
    V("RDOMAIN", "Related Domain Abbreviation", origin="Assigned", source="the parent domain"),
    V("USUBJID", "Unique Subject Identifier", source="STUDYID-SUBJID"),
    V("IDVAR", "Identifying Variable", origin="Assigned", source="--SEQ of the parent domain"),
    V("IDVARVAL", "Identifying Variable Value", source="the parent record's --SEQ"),
    V("QNAM", "Qualifier Variable Name", origin="Assigned", source="the qualifier"),
    V("QLABEL", "Qualifier Variable Label", origin="Assigned", source="the qualifier"),
    V("QVAL", "Data Value", source="the qualifier's value (see QNAM)"),
    V("QORIG", "Origin", origin="Assigned", source="CRF or DERIVED"),
)
TRACE_QUALIFIERS = {"ENTRYID": "eCRF entry id of the source record",
                    "LOGPOS": "Event log position of the entry version"}
