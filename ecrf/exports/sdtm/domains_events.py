"""AE: adverse events with toxicity grade, seriousness flags, relatedness and outcome; CRS and
ICANS keep the investigator's ASTCT grade in AETOXGR and the grade computed from the vital
signs and neurological assessments as a supplemental qualifier."""

from __future__ import annotations

from ecrf.exports.sdtm.mapping import SERIOUSNESS
from ecrf.exports.sdtm.model import Record, SubjectContext, trace
from ecrf.exports.sdtm.terminology import CODELISTS, submission_value
from projections.safety import safety


def ae(ctx: SubjectContext) -> list[Record]:
    entries = ctx.book.current("adverse_event")
    if not entries:
        return []
    computed = {name: picture["computed_max_grade"]
                for name, picture in safety(ctx.book, config=ctx.config).items()
                if name in ("crs", "icans")}
    ny = CODELISTS["NY"].submit
    records = []
    for entry in entries:
        v = entry.values
        serious = bool(v.get("serious"))
        criteria = set(v.get("seriousness") or [])
        flags = {flag: (ny(criterion in criteria) if serious else None)
                 for criterion, flag in SERIOUSNESS.items()}
        start, end = v.get("onset_date"), v.get("end_date")
        supp = {"AERELLD": ("Causality to Lymphodepletion", submission_value(
            "adverse_event", "relatedness_lymphodepletion", v.get("relatedness_lymphodepletion")))}
        if v.get("category") in computed:
            supp["ASTCTGR"] = ("ASTCT Grade Computed from Assessments",
                               str(computed[v["category"]]))
        if v.get("aware_at"):
            supp["AEAWRDTC"] = ("Date/Time Site Became Aware", v["aware_at"])
        records.append(Record({
            **ctx.base("AE"), "AETERM": v.get("term"), "AEDECOD": (v.get("term") or "").upper(),
            "AECAT": submission_value("adverse_event", "category", v.get("category")),
            "AESER": ny(serious), **flags, "AEACNOTH": v.get("action"),
            "AEREL": submission_value("adverse_event", "relatedness_car_t",
                                      v.get("relatedness_car_t")),
            "AEOUT": submission_value("adverse_event", "outcome", v.get("outcome")),
            "AETOXGR": str(v["ctcae_grade"]) if v.get("ctcae_grade") is not None else None,
            "EPOCH": ctx.epoch(start), "AESTDTC": start, "AEENDTC": end,
            "AESTDY": ctx.study_day(start), "AEENDY": ctx.study_day(end)}, **trace(entry),
            supp={k: val for k, val in supp.items() if val[1] is not None}))
    return records
