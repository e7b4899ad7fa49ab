"""The CDISC ODM 1.3.2 export: valid against CDISC's XSD, every value with its whole history."""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
import xmlschema

from ecrf.accounts.service import create_user
from ecrf.exports.odm import build_odm_metadata
from ecrf.forms.describe import describe_form
from ecrf.forms.registry import FORMS
from projections.trial_config import DEFAULT_TRIAL
from tests.api.conftest import PASSWORD
from tests.scenario import Subject, at, on

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
DATA_TYPES = {"string": "text", "enum": "text", "integer": "integer", "number": "float",
              "date": "date", "datetime": "datetime", "boolean": "boolean"}
THERAPIES = [
    {"agent": "prednisone", "line": 1, "start_date": "2023-03-20", "end_date": "2023-06-01",
     "best_response": "R", "intolerance": False},
    {"agent": "eltrombopag", "line": 2, "start_date": "2023-09-01", "end_date": None,
     "best_response": "NR", "intolerance": False},
]


@pytest.fixture(scope="module")
def odm_schema() -> xmlschema.XMLSchema:
    """CDISC's ODM 1.3.2 schema as shipped by odmlib; its imports are local files (no network)."""
    package = Path(importlib.util.find_spec("odmlib").origin).parent
    return xmlschema.XMLSchema(str(package / "schemas" / "odm" / "1.3.2" / "ODM1-3-2.xsd"),
                               allow="local")


# -- the metadata, derived from the forms (no database) -------------------------------------------


@pytest.fixture(scope="module")
def metadata(odm_schema) -> ET.Element:
    document = build_odm_metadata()
    odm_schema.validate(document)
    return ET.fromstring(document).find("odm:Study/odm:MetaDataVersion", NS)


def _def(mdv: ET.Element, tag: str, oid: str) -> ET.Element:
    found = mdv.find(f"odm:{tag}[@OID='{oid}']", NS)
    assert found is not None, f"no {tag} {oid}"
    return found


def _refs(node: ET.Element, tag: str, attribute: str) -> list[str]:
    return [ref.get(attribute) for ref in node.findall(f"odm:{tag}", NS)]


def test_metadata_has_an_event_per_visit_plus_unscheduled_and_forms_without_visit(metadata):
    events = _refs(metadata, "StudyEventDef", "OID")
    assert events == [f"SE.{code}" for code in DEFAULT_TRIAL.visit_codes] + [
        "SE.UNSCHEDULED", "SE.COMMON"]
    common = _def(metadata, "StudyEventDef", "SE.COMMON")
    assert common.get("Type") == "Common"
    assert set(_refs(common, "FormRef", "FormOID")) == {
        f"F.{f.name.upper()}" for f in FORMS.values() if not f.has_visit}
    assert set(_refs(_def(metadata, "StudyEventDef", "SE.D7"), "FormRef", "FormOID")) == {
        f"F.{f.name.upper()}" for f in FORMS.values() if f.has_visit}


def test_every_form_and_field_of_the_forms_has_its_definition(metadata):
    for form in FORMS.values():
        form_def = _def(metadata, "FormDef", f"F.{form.name.upper()}")
        groups = _refs(form_def, "ItemGroupRef", "ItemGroupOID")
        main = _def(metadata, "ItemGroupDef", f"IG.{form.name.upper()}")
        assert groups[0] == main.get("OID") and main.get("Repeating") == "No"
        main_items = _refs(main, "ItemRef", "ItemOID")
        for field in describe_form(form)["fields"]:
            item_oid = f"IT.{form.name.upper()}.{field['name'].upper()}"
            if field["type"] == "list":
                group = _def(metadata, "ItemGroupDef", f"IG.{form.name.upper()}."
                                                       f"{field['name'].upper()}")
                assert group.get("Repeating") == "Yes" and group.get("OID") in groups
                nested = field.get("fields") or [{**field, "name": None,
                                                  "type": field["items"]}]
                for sub in nested:
                    sub_oid = f"{item_oid}.{sub['name'].upper()}" if sub["name"] else item_oid
                    assert sub_oid in _refs(group, "ItemRef", "ItemOID")
                    _check_item(metadata, _def(metadata, "ItemDef", sub_oid), sub)
            elif field.get("keys"):
                for key in field["keys"]:
                    assert f"{item_oid}.{key}" in main_items
                    _check_item(metadata, _def(metadata, "ItemDef", f"{item_oid}.{key}"),
                                {**field, "type": "enum"})
            else:
                assert item_oid in main_items
                _check_item(metadata, _def(metadata, "ItemDef", item_oid), field)


def _check_item(mdv: ET.Element, item: ET.Element, field: dict) -> None:
    assert item.get("DataType") == DATA_TYPES[field["type"]], item.get("OID")
    if field.get("choices"):
        code_list = _def(mdv, "CodeList", item.find("odm:CodeListRef", NS).get("CodeListOID"))
        assert _refs(code_list, "CodeListItem", "CodedValue") == field["choices"]
    else:
        assert item.find("odm:CodeListRef", NS) is None
    checks = {c.get("Comparator"): c.findtext("odm:CheckValue", namespaces=NS)
              for c in item.findall("odm:RangeCheck", NS)}
    expected = {}
    if field.get("minimum") is not None:
        expected["GT" if field["exclusive_minimum"] else "GE"] = field["minimum"]
    if field.get("maximum") is not None:
        expected["LT" if field["exclusive_maximum"] else "LE"] = field["maximum"]
    assert {k: float(v) for k, v in checks.items()} == expected, item.get("OID")
    unit = item.find("odm:MeasurementUnitRef", NS)
    assert (unit is None) == (field.get("unit") is None)
    if unit is not None:
        assert unit.get("MeasurementUnitOID").startswith("MU.")


def test_every_item_has_a_length_and_a_sas_name_derived_from_the_schema(metadata):
    items = metadata.findall("odm:ItemDef", NS)
    assert items
    for item in items:
        assert int(item.get("Length")) > 0, item.get("OID")
        sas = item.get("SASFieldName")
        assert sas and len(sas) <= 8 and sas == sas.upper() and sas[0].isalpha(), sas
    for form in FORMS.values():
        refs = [ref.get("ItemOID") for group in metadata.findall("odm:ItemGroupDef", NS)
                if group.get("OID").startswith(f"IG.{form.name.upper()}")
                and group.get("OID").split(".")[1] == form.name.upper()
                for ref in group.findall("odm:ItemRef", NS)]
        names = [_def(metadata, "ItemDef", ref).get("SASFieldName") for ref in set(refs)]
        assert len(names) == len(set(names)), form.name
    outcome = _def(metadata, "ItemDef", "IT.ADVERSE_EVENT.OUTCOME")
    assert outcome.get("Length") == str(len("recovered_with_sequelae"))
    assert _def(metadata, "ItemDef", "IT.REGISTRATION.BIRTH_DATE").get("Length") == "10"
    assert _def(metadata, "ItemDef", "IT.PLATELET_COUNT.HEMOGLOBIN_LLN").get(
        "SASFieldName") == "HEMOGLLN"
    assert _def(metadata, "ItemDef", "IT.PLATELET_COUNT.PLATELETS").get(
        "SignificantDigits") == "3"


def test_code_lists_carry_the_cdisc_submission_value_beside_the_form_value(metadata):
    def aliases(list_oid: str) -> dict[str, str | None]:
        items = _def(metadata, "CodeList", list_oid).findall("odm:CodeListItem", NS)
        return {i.get("CodedValue"): (i.find("odm:Alias", NS).get("Name")
                                      if i.find("odm:Alias", NS) is not None else None)
                for i in items}

    assert aliases("CL.REGISTRATION.SEX") == {"F": "F", "M": "M"}
    outcome = aliases("CL.ADVERSE_EVENT.OUTCOME")
    assert outcome["recovered"] == "RECOVERED/RESOLVED"
    assert outcome["not_recovered"] == "NOT RECOVERED/NOT RESOLVED"
    assert aliases("CL.IE_CHECKLIST.ANSWERS") == {"yes": "Y", "no": "N"}
    assert aliases("CL.END_OF_STUDY.REASON")["withdrew_consent"] == "WITHDRAWAL BY SUBJECT"
    assert set(aliases("CL.VITAL_SIGNS.OXYGEN").values()) == {None}  # no CDISC list: no alias


def test_units_are_measurement_units_with_their_symbol(metadata):
    study = ET.fromstring(build_odm_metadata()).find("odm:Study", NS)
    units = {u.get("OID"): u.findtext("odm:Symbol/odm:TranslatedText", namespaces=NS)
             for u in study.findall("odm:BasicDefinitions/odm:MeasurementUnit", NS)}
    assert units["MU.10E9_PER_L"] == "10^9/L"
    platelets = _def(metadata, "ItemDef", "IT.PLATELET_COUNT.PLATELETS")
    assert platelets.find("odm:MeasurementUnitRef", NS).get("MeasurementUnitOID") == (
        "MU.10E9_PER_L")
    referenced = {ref.get("MeasurementUnitOID")
                  for ref in metadata.iter(f"{{{NS['odm']}}}MeasurementUnitRef")}
    assert referenced <= set(units)


# -- a trial with corrections, voids, queries and a signature -------------------------------------


@dataclass
class Trial:
    labs: str
    count: str
    history: str
    voided: str
    positions: dict[str, int]
    queries: dict[str, str]


def _position(store, entry_id: str, event_type: str | None = None) -> int:
    return next(e.position for e in store.read_all()
                if e.data.get("entry_id") == entry_id
                and (event_type is None or e.type == event_type))


@pytest.fixture
def trial(store, as_user) -> Trial:
    one = Subject(store, "ITP-001")
    labs = one.screening_labs()
    history = one.form("itp_history", visit="SCR", diagnosis_date="2023-03-15",
                       primary_itp=True, secondary_cause_excluded=True, refractory=True,
                       prior_therapies=THERAPIES, splenectomy=False)
    one.correct(history, "the second therapy was never given", prior_therapies=THERAPIES[:1])
    one.form("ie_checklist", as_user=one.investigator(), visit="SCR",
             answers={"IN01": "yes", "EX01": "no"}, investigator_confirms_eligible=True)
    count = one.form("platelet_count", visit="D7", collected_at=at(7), platelets=42,
                     hemoglobin=110, hemoglobin_lln=120)
    first = one.correct(count, "transcription error: 45 on the lab report", platelets=45)
    second = one.correct(count, "the lab re-issued the report", platelets=47)
    cleared = one.correct(count, "the hemoglobin belonged to another sample", hemoglobin=None)
    voided = one.platelets(14, 80)
    void = one.void(voided, "entered for the wrong subject")
    one.adverse_event("pyrexia", 2, serious=True, onset_date=on(3))
    Subject(store, "ITP-002", site_id="SITE-02").screening_labs()

    monitor, staff = as_user("monitor"), as_user("staff")
    on_value = monitor.post("/subjects/ITP-001/queries", {
        "entry_id": count, "field": "platelets", "text": "Please confirm 47 on the report"})
    on_list = monitor.post("/subjects/ITP-001/queries", {
        "entry_id": history, "field": "prior_therapies", "text": "Any third-line therapy?"})
    assert on_value.status_code == on_list.status_code == 201
    answer = staff.post(f"/subjects/ITP-001/queries/{on_list.json['query_id']}/answer",
                        {"text": "None: checked the referral letter"})
    assert answer.status_code == 201
    assert monitor.post(f"/subjects/ITP-001/entries/{labs}/verify").status_code == 201
    signed = as_user("investigator").post("/subjects/ITP-001/signatures",
                                          {"password": PASSWORD, "meaning": "approval"})
    assert signed.status_code == 201, signed.json
    positions = {"count": _position(store, count), "first": first.position,
                 "second": second.position, "cleared": cleared.position,
                 "void": void.position, "signed": signed.json["position"],
                 "history": _position(store, history),
                 "history_fix": _position(store, history, "EntryCorrected")}
    return Trial(labs, count, history, voided, positions,
                 {"on_value": on_value.json["query_id"], "on_list": on_list.json["query_id"]})


def _export(api, odm_schema, query: str = "") -> ET.Element:
    reply = api.get(f"/export/odm{query}")
    assert reply.status_code == 200, reply.data[:500]
    assert reply.mimetype == "application/xml"
    odm_schema.validate(reply.data)  # raises on the first violation of the ODM 1.3.2 schema
    return ET.fromstring(reply.data)


def _form(root: ET.Element, entry_id: str) -> ET.Element:
    found = root.find(f".//odm:FormData[@FormRepeatKey='{entry_id}']", NS)
    assert found is not None
    return found


def _event_of(root: ET.Element, entry_id: str) -> str:
    return next(event.get("StudyEventOID") for event in root.iter(f"{{{NS['odm']}}}StudyEventData")
                if event.find(f"odm:FormData[@FormRepeatKey='{entry_id}']", NS) is not None)


def _audit(node: ET.Element) -> tuple[str | None, ...]:
    record = node.find("odm:AuditRecord", NS)
    return (record.find("odm:UserRef", NS).get("UserOID"),
            record.find("odm:LocationRef", NS).get("LocationOID"),
            record.findtext("odm:SourceID", namespaces=NS),
            record.findtext("odm:ReasonForChange", namespaces=NS))


def _values(form: ET.Element, item_oid: str) -> list[tuple[str | None, ...]]:
    """(transaction, value, source position, reason) of each ItemData of an item, in order."""
    return [(i.get("TransactionType"), i.get("Value"), _audit(i)[2], _audit(i)[3])
            for i in form.findall(f".//odm:ItemData[@ItemOID='{item_oid}']", NS)]


def _subjects(root: ET.Element) -> set[str]:
    return {s.get("SubjectKey") for s in root.findall("odm:ClinicalData/odm:SubjectData", NS)}


def test_export_validates_and_keeps_every_value_with_its_history(as_user, trial, odm_schema):
    root = _export(as_user("dm"), odm_schema)
    assert root.get("FileType") == "Transactional" and root.get("ODMVersion") == "1.3.2"
    assert root.get("CreationDateTime").endswith("Z")
    p = trial.positions
    count = _form(root, trial.count)
    assert count.get("TransactionType") == "Insert"
    assert _values(count, "IT.PLATELET_COUNT.PLATELETS") == [
        ("Insert", "42.0", str(p["count"]), None),
        ("Update", "45.0", str(p["first"]), "transcription error: 45 on the lab report"),
        ("Update", "47.0", str(p["second"]), "the lab re-issued the report")]
    first = count.find(".//odm:ItemData[@ItemOID='IT.PLATELET_COUNT.PLATELETS']", NS)
    assert _audit(first)[:2] == ("USR.scenario.staff", "LOC.SITE-01")
    stamp = first.findtext("odm:AuditRecord/odm:DateTimeStamp", namespaces=NS)
    assert stamp.endswith("Z")
    assert _values(count, "IT.PLATELET_COUNT.COLLECTED_AT") == [
        ("Insert", at(7), str(p["count"]), None)]  # exactly as stored, with its offset
    assert _event_of(root, trial.count) == "SE.D7"


def test_a_value_set_then_cleared_keeps_its_audit_records(as_user, trial, odm_schema):
    count = _form(_export(as_user("dm"), odm_schema), trial.count)
    p = trial.positions
    assert _values(count, "IT.PLATELET_COUNT.HEMOGLOBIN") == [
        ("Insert", "110.0", str(p["count"]), None),
        ("Remove", None, str(p["cleared"]), "the hemoglobin belonged to another sample")]
    assert _values(count, "IT.PLATELET_COUNT.HEMOGLOBIN_LLN") == [
        ("Insert", "120.0", str(p["count"]), None)]


def test_a_shortened_list_removes_the_repeat_with_its_reason(as_user, trial, odm_schema):
    history = _form(_export(as_user("dm"), odm_schema), trial.history)
    repeats = history.findall("odm:ItemGroupData[@ItemGroupOID="
                              "'IG.ITP_HISTORY.PRIOR_THERAPIES']", NS)
    assert [g.get("ItemGroupRepeatKey") for g in repeats] == ["1", "2"]
    agent = "IT.ITP_HISTORY.PRIOR_THERAPIES.AGENT"
    entered, fixed = str(trial.positions["history"]), str(trial.positions["history_fix"])
    assert _values(repeats[0], agent) == [("Insert", "prednisone", entered, None)]
    assert _values(repeats[1], agent) == [
        ("Insert", "eltrombopag", entered, None),
        ("Remove", None, fixed, "the second therapy was never given")]
    assert _values(repeats[1], "IT.ITP_HISTORY.PRIOR_THERAPIES.LINE") == [
        ("Insert", "2", entered, None), ("Remove", None, fixed,
                                         "the second therapy was never given")]


def test_a_void_removes_the_form_inserted_earlier_in_the_file(as_user, trial, odm_schema):
    root = _export(as_user("dm"), odm_schema)
    forms = list(root.iterfind(f".//odm:FormData[@FormRepeatKey='{trial.voided}']", NS))
    assert [f.get("TransactionType") for f in forms] == ["Insert", "Remove"]
    inserted, removed = forms
    assert _audit(inserted)[2] != str(trial.positions["void"])
    assert [v[:2] for v in _values(inserted, "IT.PLATELET_COUNT.PLATELETS")] == [
        ("Insert", "80.0")]
    assert _audit(removed) == ("USR.scenario.staff", "LOC.SITE-01", str(trial.positions["void"]),
                               "entered for the wrong subject")
    assert removed.find("odm:ItemGroupData", NS) is None
    everything = list(root.iter())
    assert everything.index(inserted) < everything.index(removed)
    assert _event_of(root, trial.voided) == "SE.UNSCHEDULED"


def test_unscheduled_entries_are_occurrences_of_a_repeating_event(as_user, trial, odm_schema):
    root = _export(as_user("dm"), odm_schema)
    definition = root.find(".//odm:StudyEventDef[@OID='SE.UNSCHEDULED']", NS)
    assert definition.get("Repeating") == "Yes"
    assert root.find(".//odm:StudyEventDef[@OID='SE.D7']", NS).get("Repeating") == "No"
    occurrences = root.findall(".//odm:StudyEventData[@StudyEventOID='SE.UNSCHEDULED']", NS)
    keys = [o.get("StudyEventRepeatKey") for o in occurrences]
    assert trial.voided in keys and len(set(keys)) == len(keys)
    assert all(o.get("StudyEventRepeatKey") for o in occurrences)
    assert all(o.get("StudyEventRepeatKey") is None for o in root.findall(
        ".//odm:StudyEventData[@StudyEventOID='SE.D7']", NS))


def test_odmlib_loads_the_file_and_it_still_validates(as_user, trial, odm_schema, tmp_path):
    from odmlib import loader as odm_xml_loader
    from odmlib import odm_loader

    reply = as_user("dm").get("/export/odm")
    path = tmp_path / "export.xml"
    path.write_bytes(reply.data)
    loader = odm_xml_loader.ODMLoader(odm_loader.XMLODMLoader(model_package="odm_1_3_2",
                                                              ns_uri=NS["odm"]))
    loader.open_odm_document(str(path))
    odm = loader.root()
    study = odm.Study[0]
    assert study.OID == "CART-ITP"
    items = study.MetaDataVersion[0].ItemDef
    assert items and all(i.Length and i.SASFieldName for i in items)
    signed = [s for s in odm.ClinicalData[0].SubjectData if s.Signature]
    assert f"SIG.{trial.positions['signed']}" == signed[0].Signature.ID
    rewritten = tmp_path / "rewritten.xml"
    odm.write_xml(str(rewritten))
    odm_schema.validate(str(rewritten))


def test_queries_and_verification_are_annotations_with_their_state(as_user, trial, odm_schema):
    root = _export(as_user("auditor"), odm_schema)
    platelets = _form(root, trial.count).findall(
        ".//odm:ItemData[@ItemOID='IT.PLATELET_COUNT.PLATELETS']", NS)
    assert [len(i.findall("odm:Annotation", NS)) for i in platelets] == [0, 0, 1]
    note = platelets[-1].find("odm:Annotation", NS)
    assert "Please confirm 47 on the report" in note.findtext("odm:Comment", namespaces=NS)
    assert note.findtext("odm:Flag/odm:FlagValue", namespaces=NS) == "open"
    assert note.get("ID") == f"Q.{trial.queries['on_value']}.1"
    on_list = _form(root, trial.history).findall("odm:Annotation", NS)
    assert [a.findtext("odm:Flag/odm:FlagValue", namespaces=NS) for a in on_list] == [
        "open", "answered"]
    assert [a.find("odm:Comment", NS).get("SponsorOrSite") for a in on_list] == [
        "Sponsor", "Site"]
    assert "None: checked the referral letter" in on_list[1].findtext("odm:Comment",
                                                                      namespaces=NS)
    verified = _form(root, trial.labs).find("odm:Annotation", NS)
    assert verified.findtext("odm:Flag/odm:FlagValue", namespaces=NS) == "verified"
    assert "Source data verified by monitor" in verified.findtext("odm:Comment", namespaces=NS)


def test_the_signature_and_its_definition_are_exported(as_user, trial, odm_schema):
    root = _export(as_user("dm"), odm_schema)
    signed = [s for s in root.findall("odm:ClinicalData/odm:SubjectData[@SubjectKey='ITP-001']",
                                      NS) if s.find("odm:Signature", NS) is not None]
    assert len(signed) == 1
    signature = signed[0].find("odm:Signature", NS)
    assert signature.find("odm:UserRef", NS).get("UserOID") == "USR.investigator"
    assert signature.find("odm:LocationRef", NS).get("LocationOID") == "LOC.SITE-01"
    assert signature.find("odm:SignatureRef", NS).get("SignatureOID") == "SD.APPROVAL"
    assert signature.findtext("odm:DateTimeStamp", namespaces=NS).endswith("Z")
    assert _audit(signed[0])[2] == str(trial.positions["signed"])
    assert signed[0].findtext("odm:Annotation/odm:Flag/odm:FlagValue", namespaces=NS) == "valid"
    definition = root.find("odm:AdminData/odm:SignatureDef[@OID='SD.APPROVAL']", NS)
    assert definition.get("Methodology") == "Electronic"
    assert "approve" in definition.findtext("odm:Meaning", namespaces=NS)
    assert "Part 11" in definition.findtext("odm:LegalReason", namespaces=NS)


def test_admin_data_lists_the_users_and_the_sites(as_user, trial, odm_schema):
    admin = _export(as_user("auditor"), odm_schema).find("odm:AdminData", NS)
    users = {u.get("OID"): u for u in admin.findall("odm:User", NS)}
    assert {"USR.staff", "USR.investigator", "USR.monitor", "USR.dm", "USR.auditor",
            "USR.staff2", "USR.scenario.staff"} <= set(users)
    investigator = users["USR.investigator"]
    assert investigator.findtext("odm:LoginName", namespaces=NS) == "investigator"
    assert investigator.findtext("odm:FullName", namespaces=NS) == "Investigator"
    assert investigator.get("UserType") == "Investigator"
    assert _refs(investigator, "LocationRef", "LocationOID") == ["LOC.SITE-01"]
    assert _refs(users["USR.auditor"], "LocationRef", "LocationOID") == [
        "LOC.SITE-01", "LOC.SITE-02"]
    assert _refs(admin, "Location", "OID") == ["LOC.SITE-01", "LOC.SITE-02"]


def test_a_user_of_one_site_exports_only_that_site(app, as_user, store, trial, odm_schema):
    create_user(store, "dm1", PASSWORD, "data_manager", ["SITE-01"], "Site One DM")
    root = _export(as_user("dm1"), odm_schema)
    assert _subjects(root) == {"ITP-001"}
    assert _refs(root.find("odm:AdminData", NS), "Location", "OID") == ["LOC.SITE-01"]
    assert "USR.staff2" not in _refs(root.find("odm:AdminData", NS), "User", "OID")
    assert _subjects(_export(as_user("auditor"), odm_schema)) == {"ITP-001", "ITP-002"}
    before = store.count()
    assert as_user("dm1").get("/export/odm?subject_id=ITP-002").status_code == 404
    assert store.count() == before + 1  # the login only


def test_position_before_a_correction_shows_the_old_value_only(as_user, trial, odm_schema):
    root = _export(as_user("dm"), odm_schema, f"?position={trial.positions['count']}")
    count = _form(root, trial.count)
    assert _values(count, "IT.PLATELET_COUNT.PLATELETS") == [
        ("Insert", "42.0", str(trial.positions["count"]), None)]
    assert root.find(".//odm:Signature", NS) is None
    assert root.find(f".//odm:FormData[@FormRepeatKey='{trial.voided}']", NS) is None
    assert root.get("AsOfDateTime").endswith("Z")


def test_one_subject_export_and_every_export_is_recorded(as_user, store, trial, odm_schema):
    root = _export(as_user("dm"), odm_schema, "?subject_id=ITP-001")
    assert _subjects(root) == {"ITP-001"} and root.get("Granularity") == "SingleSubject"
    recorded = store.read_stream("audit-log")[-1]
    assert recorded.type == "ExportGenerated"
    assert recorded.data["kind"] == "odm"
    assert recorded.data["filters"] == {"subject_id": "ITP-001"}
    assert recorded.data["subject_ids"] == ["ITP-001"]
    assert recorded.data["up_to_position"] == recorded.position - 1
    assert recorded.data["file_oid"] == root.get("FileOID")
    assert (recorded.metadata["actor"], recorded.metadata["role"]) == ("dm", "data_manager")

    _export(as_user("auditor"), odm_schema, f"?position={trial.positions['first']}")
    recorded = store.read_stream("audit-log")[-1]
    assert recorded.data["filters"] == {"position": trial.positions["first"]}
    assert recorded.data["subject_ids"] == ["ITP-001"]  # ITP-002 was registered later
    assert recorded.data["up_to_position"] == trial.positions["first"]
    assert recorded.metadata["actor"] == "auditor"


def test_site_staff_may_not_export_and_nothing_is_appended(as_user, store, trial):
    staff = as_user("staff")
    before = store.count()
    reply = staff.get("/export/odm")
    assert reply.status_code == 403 and reply.json["error"]["code"] == "forbidden"
    assert store.count() == before


def test_automatic_queries_name_the_system_user_and_a_lock_is_annotated(store, as_user,
                                                                         odm_schema):
    Subject(store, "ITP-001").platelets(3, 1500)  # outside the expected range: a system query
    dm = as_user("dm")
    assert dm.post("/subjects/ITP-001/lock", {"reason": "interim analysis"}).status_code == 201
    root = _export(dm, odm_schema)
    system = root.find("odm:AdminData/odm:User[@OID='USR.system']", NS)
    assert system.findtext("odm:DisplayName", namespaces=NS) == "eCRF edit checks (system)"
    query = root.find(".//odm:ItemData[@ItemOID='IT.PLATELET_COUNT.PLATELETS']/odm:Annotation",
                      NS)
    assert "(automatic: unexpected_value): opened by system" in query.findtext(
        "odm:Comment", namespaces=NS)
    subject = root.find("odm:ClinicalData/odm:SubjectData", NS)
    assert "Casebook locked: interim analysis" in subject.findtext("odm:Annotation/odm:Comment",
                                                                   namespaces=NS)
    assert _export(dm, odm_schema, "?position=0").find("odm:ClinicalData/odm:SubjectData",
                                                       NS) is None
