"""LB, VS, QS and RS: labs in long format with CTCAE grades, vital signs, ICE/CAPD, IWG response."""

from __future__ import annotations

from typing import Any

from ecrf.exports.odm_metadata import sas_name
from ecrf.exports.sdtm.mapping import LAB_FORMS, LAB_TESTS, QS_TESTS, VS_TESTS, VS_TIME
from ecrf.exports.sdtm.model import Record, SubjectContext, trace
from ecrf.exports.sdtm.terminology import submission_value, unit
from ecrf.forms.describe import describe_form
from ecrf.forms.registry import FORMS
from projections.efficacy import efficacy
from projections.rules.iwg import AFTER_RESCUE, BEFORE_DAY0, TRANSFUSED
from projections.safety import lab_toxicities

NOT_DONE, NOT_APPLICABLE = "not_done", "not_applicable"  # a status (LBSTAT) or no test at all
NOT_RESULTS = (NOT_DONE, NOT_APPLICABLE)


def lab_fields(form: str) -> list[dict[str, Any]]:
    """The lab tests of a form: its numeric fields with a unit that are not range limits, and
    its coded results (serology), in form order."""
    return [f for f in describe_form(FORMS[form])["fields"]
            if f["name"] != "visit" and not f["name"].endswith(("_lln", "_uln"))
            and ((f["type"] == "number" and f.get("unit")) or f["type"] == "enum")]


def lb(ctx: SubjectContext) -> list[Record]:
    grades = {(t["entry_id"], t["test"]): t["grade"]
              for t in lab_toxicities(ctx.book, config=ctx.config)}
    records = []
    for form in LAB_FORMS:
        fields = lab_fields(form)
        for entry in ctx.book.current(form):
            v = entry.values
            when = v.get("collected_at")
            visit, visitnum = ctx.visit(entry)
            for field in fields:
                name, raw = field["name"], v.get(field["name"])
                if raw is None or raw == NOT_APPLICABLE:
                    continue
                code, test, category = LAB_TESTS.get(name, (
                    sas_name(name), field["description"][:40] or name, "OTHER"))
                numeric = isinstance(raw, int | float) and not isinstance(raw, bool)
                low, high = v.get(f"{name}_lln"), v.get(f"{name}_uln")
                result = (_number(raw) if numeric else
                          submission_value(form, name, raw) or str(raw).upper())
                not_done = raw == NOT_DONE
                records.append(Record({
                    **ctx.base("LB"), "LBTESTCD": code, "LBTEST": test, "LBCAT": category,
                    "LBORRES": None if not_done else result,
                    "LBORRESU": unit(field.get("unit")),
                    "LBORNRLO": _number(low), "LBORNRHI": _number(high),
                    "LBSTRESC": None if not_done else result,
                    "LBSTRESN": float(raw) if numeric else None,
                    "LBSTRESU": unit(field.get("unit")),
                    "LBSTAT": "NOT DONE" if not_done else None,
                    "LBNRIND": _range(raw, low, high) if numeric else None,
                    "LBTOXGR": str(grades.get((entry.entry_id, name), 0))
                    if numeric and name in LAB_TESTS and category != "SEROLOGY" else None,
                    "VISIT": visit, "VISITNUM": visitnum, "EPOCH": ctx.epoch(when),
                    "LBDTC": when, "LBDY": ctx.study_day(when)}, **trace(entry)))
    return records


def _number(value: Any) -> str | None:
    if value is None:
        return None
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _range(value: float, low: float | None, high: float | None) -> str | None:
    if low is None and high is None:
        return None
    if low is not None and value < low:
        return "LOW"
    return "HIGH" if high is not None and value > high else "NORMAL"


def vs(ctx: SubjectContext) -> list[Record]:
    records = []
    for form, time_field in VS_TIME.items():
        units = {f["name"]: f.get("unit") for f in describe_form(FORMS[form])["fields"]}
        for entry in ctx.book.current(form):
            when = entry.values.get(time_field)
            visit, visitnum = ctx.visit(entry)
            measures = [(code, test, entry.values.get(name), unit(units[name]))
                        for (f, name), (code, test) in VS_TESTS.items() if f == form]
            if form == "lymphodepletion" and entry.derived.get("bsa_m2") is not None:
                measures.append(("BSA", "Body Surface Area", entry.derived["bsa_m2"], "m2"))
            for code, test, value, value_unit in measures:
                if value is None:
                    continue
                records.append(Record({
                    **ctx.base("VS"), "VSTESTCD": code, "VSTEST": test,
                    "VSORRES": _number(value), "VSORRESU": value_unit,
                    "VSSTRESC": _number(value), "VSSTRESN": float(value),
                    "VSSTRESU": value_unit, "VISIT": visit, "VISITNUM": visitnum,
                    "EPOCH": ctx.epoch(when), "VSDTC": when, "VSDY": ctx.study_day(when)},
                    **trace(entry)))
    return records


def qs(ctx: SubjectContext) -> list[Record]:
    records = []
    for entry in ctx.book.current("neuro_assessment"):
        when = entry.values.get("assessed_at")
        visit, visitnum = ctx.visit(entry)
        for name, (code, test, category) in QS_TESTS.items():
            value = entry.values.get(name)
            if value is None:
                continue
            records.append(Record({
                **ctx.base("QS"), "QSTESTCD": code, "QSTEST": test, "QSCAT": category,
                "QSORRES": str(value), "QSSTRESC": str(value), "QSSTRESN": float(value),
                "VISIT": visit, "VISITNUM": visitnum, "QSDTC": when,
                "QSDY": ctx.study_day(when)}, **trace(entry)))
    return records


NOT_EVALUABLE = {BEFORE_DAY0: "BEFORE INFUSION", AFTER_RESCUE: "AFTER RESCUE THERAPY",
                 TRANSFUSED: "PLATELET TRANSFUSION WITHIN 72 HOURS"}


def rs(ctx: SubjectContext) -> list[Record]:
    """The IWG level of each platelet count (RSREASND says why one is not evaluable: before the
    infusion, after rescue therapy, transfused), and the best confirmed response."""
    result = efficacy(ctx.book, config=ctx.config)
    if result.get("status") != "assessed":
        return []
    entries = ctx.book.entries
    records = []
    for count in result["counts"]:
        entry = entries.get(count["entry_id"]) if count["entry_id"] else None
        level = count["level"] if count["evaluable"] else None
        when = count["collected_at"]
        if entry is not None:
            when = entry.values.get("collected_at", when)
        records.append(Record({
            **ctx.base("RS"), "RSTESTCD": "PLTRESP", "RSTEST": "Platelet Response per Count",
            "RSCAT": "IWG 2009", "RSORRES": level, "RSSTRESC": level,
            "RSEVAL": "ECRF DERIVATION", "RSREASND": None if count["evaluable"] else
            NOT_EVALUABLE.get(count["excluded_reason"], count["excluded_reason"]), "RSDTC": when,
            "RSDY": ctx.study_day(when)}, **(trace(entry) if entry else {})))
    best = result.get("best_response")
    if best:
        last = records[-1].values["RSDTC"] if records else None
        records.append(Record({
            **ctx.base("RS"), "RSTESTCD": "BESTRSP", "RSTEST": "Best Overall Response",
            "RSCAT": "IWG 2009", "RSORRES": best, "RSSTRESC": best,
            "RSEVAL": "ECRF DERIVATION", "RSREASND": None, "RSDTC": last,
            "RSDY": ctx.study_day(last)}))
    return records
