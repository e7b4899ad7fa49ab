"""DM, DS, IE, MH, SV and TS: the subject, its disposition, eligibility, history and visits."""

from __future__ import annotations

from typing import Any

from ecrf.exports.odm_xml import STUDY_NAME
from ecrf.exports.sdtm.model import STUDYID, Record, SubjectContext, trace
from ecrf.exports.sdtm.terminology import CODELISTS, submission_value
from ecrf.forms.describe import describe_form
from ecrf.forms.registry import FORMS
from projections.rules.eligibility import completed_years
from projections.schedule import as_date, clinical_date

ARM = ("CART", "CAR-T cell therapy")


def dm(ctx: SubjectContext) -> list[Record]:
    reg_entry = ctx.book.latest("registration")
    if reg_entry is None:
        return []
    reg = reg_entry.values
    checklist = ctx.book.latest("ie_checklist")
    eligible = bool(checklist and checklist.values.get("investigator_confirms_eligible"))
    infused = ctx.rfstdtc is not None
    end = ctx.book.latest("end_of_study")
    first = ctx.first_treatment
    age = (completed_years(as_date(reg["birth_date"]), as_date(reg["consent_date"]))
           if reg.get("birth_date") and reg.get("consent_date") else None)
    reason = None
    if not infused:
        reason = "SCREEN FAILURE" if checklist and not eligible else "NOT TREATED"
    values = {
        **ctx.base("DM"), "SUBJID": ctx.book.subject_id, "RFSTDTC": ctx.rfstdtc,
        "RFENDTC": end.values.get("ended_on") if end else None,
        "RFXSTDTC": first.isoformat() if first and infused else None,
        "RFXENDTC": ctx.rfstdtc, "RFICDTC": reg.get("consent_date"),
        "SITEID": reg.get("site_id"), "BRTHDTC": reg.get("birth_date"), "AGE": age,
        "AGEU": "YEARS" if age is not None else None,
        "SEX": submission_value("registration", "sex", reg.get("sex")),
        "ARMCD": ARM[0] if eligible or infused else None,
        "ARM": ARM[1] if eligible or infused else None,
        "ACTARMCD": ARM[0] if infused else None, "ACTARM": ARM[1] if infused else None,
        "ARMNRS": reason,
    }
    return [Record(values, **trace(reg_entry))]


def ds(ctx: SubjectContext) -> list[Record]:
    records = []
    reg = ctx.book.latest("registration")
    if reg is not None and reg.values.get("consent_date"):
        when = reg.values["consent_date"]
        records.append(Record({
            **ctx.base("DS"), "DSTERM": "INFORMED CONSENT OBTAINED",
            "DSDECOD": "INFORMED CONSENT OBTAINED", "DSCAT": "PROTOCOL MILESTONE",
            "EPOCH": ctx.epoch(when), "DSSTDTC": when, "DSSTDY": ctx.study_day(when)},
            **trace(reg)))
    for end in ctx.book.current("end_of_study"):
        when = end.values["ended_on"]
        decod = CODELISTS["NCOMPLT"].submit(end.values["reason"])
        records.append(Record({
            **ctx.base("DS"), "DSTERM": end.values.get("details") or decod, "DSDECOD": decod,
            "DSCAT": "DISPOSITION EVENT", "EPOCH": ctx.epoch(when), "DSSTDTC": when,
            "DSSTDY": ctx.study_day(when)}, **trace(end)))
    return records


def ie(ctx: SubjectContext) -> list[Record]:
    """Only the criteria not met (an inclusion answered no, an exclusion answered yes)."""
    checklist = ctx.book.latest("ie_checklist")
    if checklist is None:
        return []
    reg = ctx.book.registration
    when = reg.get("screening_date") or reg.get("consent_date")
    visit, visitnum = ctx.visit(checklist)
    records = []
    for code, answer in sorted((checklist.values.get("answers") or {}).items()):
        inclusion = code.startswith("IN")
        if answer is None or (answer == "yes") == inclusion:
            continue
        result = CODELISTS["NY"].submit(answer)
        records.append(Record({
            **ctx.base("IE"), "IETESTCD": code,
            "IETEST": f"{'Inclusion' if inclusion else 'Exclusion'} criterion {code}",
            "IECAT": "INCLUSION" if inclusion else "EXCLUSION", "IEORRES": result,
            "IESTRESC": result, "VISIT": visit, "VISITNUM": visitnum, "IEDTC": when,
            "IEDY": ctx.study_day(when)}, **trace(checklist)))
    return records


def _descriptions(form: str) -> dict[str, str]:
    return {f["name"]: f["description"] for f in describe_form(FORMS[form])["fields"]}


def mh(ctx: SubjectContext) -> list[Record]:
    """The ITP diagnosis, and each medical history item answered true (boolean fields)."""
    records = []
    for entry in ctx.book.current("itp_history"):
        visit, visitnum = ctx.visit(entry)
        records.append(Record({
            **ctx.base("MH"), "MHTERM": "IMMUNE THROMBOCYTOPENIA", "MHCAT": "PRIMARY DIAGNOSIS",
            "MHSTDTC": entry.values.get("diagnosis_date"), "VISIT": visit,
            "VISITNUM": visitnum}, **trace(entry)))
    descriptions = _descriptions("medical_history")
    booleans = [f["name"] for f in describe_form(FORMS["medical_history"])["fields"]
                if f["type"] == "boolean" and f["name"] != "contraception_agreed"]
    for entry in ctx.book.current("medical_history"):
        visit, visitnum = ctx.visit(entry)
        for name in booleans:
            if entry.values.get(name) is True:
                records.append(Record({
                    **ctx.base("MH"), "MHTERM": descriptions[name] or name,
                    "MHCAT": "GENERAL MEDICAL HISTORY", "MHSTDTC": None, "VISIT": visit,
                    "VISITNUM": visitnum}, **trace(entry)))
    return records


def sv(ctx: SubjectContext) -> list[Record]:
    """One record per visit with entries: a scheduled visit from the earliest to the latest
    clinical date of its entries; an unscheduled visit per date with unscheduled entries."""
    visits: dict[tuple[float, str], list] = {}
    for entry in ctx.book.current():
        visit, visitnum = ctx.visit(entry)
        if visitnum is not None and clinical_date(entry.values) is not None:
            visits.setdefault((visitnum, visit), []).append(entry)
    records = []
    for (visitnum, visit), entries in sorted(visits.items()):
        dates = sorted(clinical_date(e.values) for e in entries)
        start = dates[0].isoformat()
        records.append(Record({
            **ctx.base("SV"), "VISITNUM": visitnum, "VISIT": visit, "SVSTDTC": start,
            "SVENDTC": dates[-1].isoformat(), "SVSTDY": ctx.study_day(start)},
            **trace(entries[0])))
    return records


def ts(subjects: int, config: Any) -> list[Record]:
    """The trial summary: parameters of the protocol and the trial configuration."""
    parameters = (
        ("TITLE", "Trial Title", STUDY_NAME),
        ("INDIC", "Trial Disease/Condition Indication", "Immune thrombocytopenia"),
        ("TRT", "Investigational Therapy or Treatment", "CAR-T cells"),
        ("STYPE", "Study Type", "INTERVENTIONAL"),
        ("TDIGRP", "Diagnosis Group", "Chronic or refractory primary immune thrombocytopenia"),
        ("RANDOM", "Trial is Randomized", "N"),
        ("SDTIGVER", "SDTM IG Version", "3.4"),
        ("SDTMVER", "SDTM Version", "2.0"),
        ("ACTSUB", "Actual Number of Subjects", str(subjects)),
        ("DOSE", "Dose per Administration", f"fludarabine {config.fludarabine_mg_m2_day} "
                                             f"mg/m2/day, cyclophosphamide "
                                             f"{config.cyclophosphamide_mg_m2_day} mg/m2/day"),
    )
    return [Record({"STUDYID": STUDYID, "DOMAIN": "TS", "TSSEQ": 1.0, "TSPARMCD": code,
                    "TSPARM": label, "TSVAL": value}) for code, label, value in parameters]
