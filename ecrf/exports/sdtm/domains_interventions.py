"""CM, PR and EX: medications (concomitant, rescue, prior ITP therapies), leukapheresis, doses."""

from __future__ import annotations

from ecrf.exports.sdtm.mapping import EX_TREATMENTS
from ecrf.exports.sdtm.model import Record, SubjectContext, trace
from ecrf.exports.sdtm.terminology import submission_value


def cm(ctx: SubjectContext) -> list[Record]:
    records = []
    for entry in ctx.book.current("concomitant_medication"):
        v = entry.values
        records.append(_cm(ctx, entry, v.get("drug"),
                           submission_value("concomitant_medication", "category",
                                            v.get("category")), None,
                           _indication(v),
                           v.get("start_date"), v.get("end_date"), dose=v.get("dose"),
                           unit=v.get("dose_unit"), frequency=v.get("frequency")))
    for entry in ctx.book.current("rescue_therapy"):
        v = entry.values
        records.append(_cm(ctx, entry, v.get("agent"), "RESCUE THERAPY",
                           submission_value("rescue_therapy", "category", v.get("category")),
                           v.get("reason"), v.get("start_date"), v.get("end_date")))
    for entry in ctx.book.current("itp_history"):
        for therapy in entry.values.get("prior_therapies") or []:
            records.append(_cm(ctx, entry, therapy.get("agent"), "PRIOR ITP THERAPY", None,
                               "IMMUNE THROMBOCYTOPENIA", therapy.get("start_date"),
                               therapy.get("end_date"),
                               supp={"CMLINE": ("Line of Therapy", therapy.get("line")),
                                     "CMBRESP": ("Best Response to Therapy",
                                                 therapy.get("best_response"))}))
    return records


def _indication(values: dict) -> str | None:
    """The indication as entered; a coded ``itp`` as its name (free text otherwise)."""
    indication = values.get("indication")
    if indication == "itp":
        return "IMMUNE THROMBOCYTOPENIA"
    return values.get("indication_other") or indication


def _cm(ctx: SubjectContext, entry, treatment, category, subcategory, indication, start, end,
        *, dose=None, unit=None, frequency=None, supp=None) -> Record:
    return Record({
        **ctx.base("CM"), "CMTRT": treatment, "CMCAT": category, "CMSCAT": subcategory,
        "CMINDC": indication, "CMDOSE": dose, "CMDOSU": unit, "CMDOSFRQ": frequency,
        "CMSTDTC": start, "CMENDTC": end, "CMSTDY": ctx.study_day(start),
        "CMENDY": ctx.study_day(end)}, **trace(entry),
        supp={k: v for k, v in (supp or {}).items() if v[1] is not None})


def pr(ctx: SubjectContext) -> list[Record]:
    records = []
    for entry in ctx.book.current("leukapheresis"):
        when = entry.values.get("procedure_date")
        visit, visitnum = ctx.visit(entry)
        volume = entry.values.get("blood_volume_processed_l")
        records.append(Record({
            **ctx.base("PR"), "PRTRT": "LEUKAPHERESIS", "VISIT": visit, "VISITNUM": visitnum,
            "EPOCH": ctx.epoch(when), "PRSTDTC": when, "PRSTDY": ctx.study_day(when)},
            **trace(entry), supp={"BLDVOL": ("Blood Volume Processed (L)", volume)}
            if volume is not None else {}))
    return records


def ex(ctx: SubjectContext) -> list[Record]:
    """One record per drug per lymphodepletion day (mg/m2, derived) and per CAR-T infusion."""
    records = []
    for treatment, form, key, unit, route in EX_TREATMENTS:
        for entry in ctx.book.current(form):
            dose = entry.derived.get(key, entry.values.get(key))
            when = entry.values.get("administered_on") or entry.values.get("infused_at")
            visit, visitnum = ctx.visit(entry)
            supp = {}
            if form == "lymphodepletion":
                supp = {"EXDOSTOT": ("Dose Given (mg)", entry.values.get(
                            key.replace("_mg_m2", "_mg"))),
                        "BSA": ("Body Surface Area (m2)", entry.derived.get("bsa_m2"))}
            records.append(Record({
                **ctx.base("EX"), "EXTRT": treatment, "EXDOSE": dose, "EXDOSU": unit,
                "EXROUTE": route, "EXLOT": entry.values.get("product_lot"), "VISIT": visit,
                "VISITNUM": visitnum, "EPOCH": ctx.epoch(when), "EXSTDTC": when,
                "EXENDTC": when, "EXSTDY": ctx.study_day(when)}, **trace(entry),
                supp={k: v for k, v in supp.items() if v[1] is not None}))
    return records
