"""A whole working day per role, through the API only (issues 5 and 6: done-when)."""

from __future__ import annotations

import csv
import io
import zipfile
from xml.etree import ElementTree

from tests.api.conftest import PASSWORD, platelet_count
from tests.scenario import Subject


def seeded(store) -> dict[str, str]:
    subject = Subject(store, "ITP-001")
    subject.screening_labs(platelets=12)
    subject.lymphodepletion()
    subject.infuse()
    counts = [subject.platelets(day, value) for day, value in [(7, 40), (14, 120), (21, 130)]]
    return {"count": counts[0]}


def test_a_monitors_day(as_user, store):
    ids = seeded(store)
    monitor, staff = as_user("monitor"), as_user("staff")
    assert [s["subject_id"] for s in monitor.get("/subjects").json["subjects"]] == ["ITP-001"]
    history = monitor.get("/subjects/ITP-001/history").json["events"]
    assert history[0]["type"] == "SubjectRegistered"
    query = monitor.post("/subjects/ITP-001/queries", {
        "entry_id": ids["count"], "field": "platelets", "text": "Source says 44"}).json
    staff.post(f"/subjects/ITP-001/queries/{query['query_id']}/answer",
               {"text": "corrected", "changes": {"platelets": 44}})
    answered = monitor.get("/queries?state=answered").json["queries"]
    assert [q["query_id"] for q in answered] == [query["query_id"]]
    assert monitor.post(f"/subjects/ITP-001/queries/{query['query_id']}/close",
                        {}).status_code == 201
    for entry in monitor.get("/subjects/ITP-001").json["entries"]:
        if not entry["voided"]:
            assert monitor.post(f"/subjects/ITP-001/entries/{entry['entry_id']}/verify"
                                ).status_code == 201
    assert monitor.get("/subjects/ITP-001/verification").json["percent"] == 100.0
    assert monitor.post("/subjects/ITP-001/forms/platelet_count",
                        platelet_count()).status_code == 403


def test_an_investigators_day(as_user, store):
    seeded(store)
    investigator = as_user("investigator")
    assert investigator.post("/subjects/ITP-001/forms/bleeding_assessment", {
        "visit": "D14", "assessed_on": "2026-02-20", "who_grade": 0}).status_code == 201
    assert investigator.get("/subjects/ITP-001/efficacy").json["best_response"] == "CR"
    assert investigator.get("/subjects/ITP-001/safety").status_code == 200
    signed = investigator.post("/subjects/ITP-001/signatures",
                               {"password": PASSWORD, "meaning": "approval"})
    assert signed.status_code == 201
    signature = investigator.get("/subjects/ITP-001").json["signatures"][-1]
    assert (signature["valid"], signature["meaning"]) == (True, "approval")


def test_a_data_managers_day(as_user, store):
    ids = seeded(store)
    dm = as_user("dm")
    summary = dm.get("/trial/summary").json
    assert summary["subjects"] == 1
    dm.post("/subjects/ITP-001/queries", {"entry_id": ids["count"], "field": "platelets",
                                          "text": "please confirm"})
    assert len(dm.get("/queries?state=open").json["queries"]) == 1
    assert dm.post("/subjects/ITP-001/lock", {"reason": "interim analysis"}).status_code == 201
    export = dm.get("/export/csv")
    assert export.status_code == 200
    assert "platelet_count.csv" in zipfile.ZipFile(io.BytesIO(export.data)).namelist()
    assert dm.post("/subjects/ITP-001/unlock", {"reason": "late result"}).status_code == 201
    assert dm.post("/trial/lock", {"reason": "database lock"}).status_code == 201
    assert dm.post("/trial/unlock", {"reason": "reopened"}).status_code == 201


def test_an_inspectors_session(as_user, store):
    ids = seeded(store)
    as_user("staff").post(f"/subjects/ITP-001/entries/{ids['count']}/corrections",
                          {"changes": {"platelets": 44}, "reason": "transposed digits"})
    auditor = as_user("auditor")
    trail = auditor.get("/audit?format=csv")
    rows = list(csv.DictReader(io.StringIO(trail.get_data(as_text=True))))
    assert any(r["action"] == "corrected" and r["old_value"] == "40.0" for r in rows)
    odm = auditor.get("/export/odm")
    assert odm.status_code == 200 and ElementTree.fromstring(odm.data).tag.endswith("ODM")
    assert auditor.get("/export/csv").status_code == 200
    report = auditor.get("/audit/verify").json
    assert report["ok"] and report["head_hash"]
    correction = next(e for e in store.read_stream("ITP-001") if e.type == "EntryCorrected")
    replay = auditor.get(f"/subjects/ITP-001/replay?position={correction.position - 1}").json
    old = next(e for e in replay["casebook"]["entries"] if e["entry_id"] == ids["count"])
    assert old["values"]["platelets"] == 40.0
    chart = auditor.get("/subjects/ITP-001/platelets.svg")
    assert chart.status_code == 200 and chart.mimetype == "image/svg+xml"
    sdtm = auditor.get("/export/sdtm")
    assert sdtm.status_code == 200 and sdtm.mimetype == "application/zip"
    pdf = auditor.get("/subjects/ITP-001/casebook.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    viewed = {e.data.get("view") or e.data.get("kind") for e in store.read_stream("audit-log")}
    assert {"trial_audit_trail", "odm", "csv", "chain_verification", "replay", "sdtm",
            "casebook_pdf"} <= viewed
