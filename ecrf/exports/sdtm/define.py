"""Define-XML 2.1 of an SDTM package: every dataset, variable, codelist, origin and method, and
the value-level metadata of LB, VS and the SUPP-- QVAL.

Written from the same tables as the datasets (ecrf/exports/sdtm/mapping.py and
terminology.py) and from the datasets themselves (lengths, the tests present, the qualifiers),
so it describes exactly what the package holds. Valid against the CDISC Define-XML 2.1 XSD
(shipped in the ``defineutils`` package; tests/integration/test_sdtm_export.py validates).
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from typing import Any

from ecrf.exports.odm_xml import (
    MDV_OID,
    NS,
    PROTOCOL_NAME,
    SOFTWARE_VERSION,
    STUDY_NAME,
    STUDY_OID,
    el,
    stamp,
    translated,
)
from ecrf.exports.sdtm.build import Dataset, SdtmPackage
from ecrf.exports.sdtm.domains_findings import lab_fields
from ecrf.exports.sdtm.mapping import LAB_FORMS, LAB_TESTS, TRACE_QUALIFIERS, VS_TESTS
from ecrf.exports.sdtm.model import Variable
from ecrf.exports.sdtm.terminology import CODELISTS
from ecrf.exports.sdtm.writers import char_length, is_integer, item_oid

DEF = "http://www.cdisc.org/ns/def/v2.1"
XLINK = "http://www.w3.org/1999/xlink"
ET.register_namespace("def", DEF)
ET.register_namespace("xlink", XLINK)
RFSTDTC_NOTE = ("RFSTDTC is the date/time of the CAR-T infusion (the protocol's day 0), as "
                "entered with its offset. --DY = date - RFSTDTC + 1 on or after it and "
                "date - RFSTDTC before it: protocol day 0 is study day 1, protocol day 7 is "
                "study day 8, protocol day -5 is study day -5 (SDTM has no day 0).")
VALUE_LEVEL = {"LB": ("LBTESTCD", "LBORRES"), "VS": ("VSTESTCD", "VSORRES"),
               "QS": ("QSTESTCD", "QSORRES")}


def d(tag: str) -> str:
    return f"{{{DEF}}}{tag}"


def build_define(package: SdtmPackage) -> bytes:
    """The define.xml of a package."""
    root = el(None, "ODM", {
        "xmlns": NS, "ODMVersion": "1.3.2", "FileType": "Snapshot",
        "FileOID": f"DEFINE.{STUDY_OID}.{uuid.uuid4().hex}",
        "CreationDateTime": stamp(package.created_at), "Originator": "ecrf",
        "SourceSystem": "ecrf", "SourceSystemVersion": SOFTWARE_VERSION,
        d("Context"): "Submission"})
    study = el(root, "Study", {"OID": STUDY_OID})
    variables = el(study, "GlobalVariables")
    el(variables, "StudyName", text=STUDY_NAME)
    el(variables, "StudyDescription", text=f"{STUDY_NAME}. {RFSTDTC_NOTE}")
    el(variables, "ProtocolName", text=PROTOCOL_NAME)
    mdv = el(study, "MetaDataVersion", {
        "OID": f"{MDV_OID}.SDTM", "Name": "SDTM datasets from the eCRF event log",
        "Description": f"SDTMIG 3.4 up to event log position {package.position}",
        d("DefineVersion"): "2.1.0"})
    standards = el(mdv, d("Standards"))
    el(standards, d("Standard"), {"OID": "STD.SDTMIG", "Name": "SDTMIG", "Type": "IG",
                                  "Version": "3.4", "Status": "Final"})
    writer = _Writer(mdv)
    datasets = list(package.datasets.values())
    for dataset in datasets:
        writer.value_lists(dataset)
    for dataset in datasets:
        writer.group(dataset)
    for dataset in datasets:
        for variable in dataset.domain.variables:
            writer.item(dataset, variable)
    writer.finish()
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


class _Writer:
    """Collects the definitions in the order the XSD wants them."""

    def __init__(self, mdv: ET.Element) -> None:
        self.mdv = mdv
        self.value_list_defs: list[ET.Element] = []
        self.where_clauses: list[ET.Element] = []
        self.groups: list[ET.Element] = []
        self.items: list[ET.Element] = []
        self.methods: dict[str, ET.Element] = {}
        self.codelists: set[str] = set()
        self.value_lists_of: dict[str, str] = {}

    def value_lists(self, dataset: Dataset) -> None:
        name = dataset.name
        if name in VALUE_LEVEL:
            test_var, result_var = VALUE_LEVEL[name]
            tests = dict.fromkeys(row[test_var] for row in dataset.rows)
            self._value_list(dataset, test_var, result_var, tests)
        elif name.startswith("SUPP") and dataset.rows:
            qnams = dict.fromkeys(row["QNAM"] for row in dataset.rows)
            self._value_list(dataset, "QNAM", "QVAL", qnams)

    def _value_list(self, dataset: Dataset, test_var: str, result_var: str,
                    tests: dict[Any, None]) -> None:
        if not tests:
            return
        list_oid = f"VL.{dataset.name}.{result_var}"
        self.value_lists_of[f"{dataset.name}.{result_var}"] = list_oid
        value_list = ET.Element(d("ValueListDef"), {"OID": list_oid})
        self.value_list_defs.append(value_list)
        result = dataset.domain.variable(result_var)
        for n, test in enumerate(tests, 1):
            clause_oid = f"WC.{dataset.name}.{test_var}.{test}"
            rows = [r for r in dataset.rows if r[test_var] == test]
            values = [r[result_var] for r in rows if r[result_var] is not None]
            numeric = bool(values) and all(_is_number(v) for v in values)
            vl_oid = f"IT.{dataset.name}.{result_var}.{test}"
            ref = el(value_list, "ItemRef", {"ItemOID": vl_oid, "OrderNumber": n,
                                             "Mandatory": "No"})
            el(ref, d("WhereClauseRef"), {"WhereClauseOID": clause_oid})
            clause = ET.Element(d("WhereClauseDef"), {"OID": clause_oid})
            check = el(clause, "RangeCheck", {"SoftHard": "Soft", "Comparator": "EQ",
                                              d("ItemOID"): f"IT.{dataset.name}.{test_var}"})
            el(check, "CheckValue", text=str(test))
            self.where_clauses.append(clause)
            length = max([1, *(len(str(v)) for v in values)])
            item = ET.Element("ItemDef", {
                "OID": vl_oid, "Name": result_var, "DataType": "float" if numeric else "text",
                "Length": str(length), "SASFieldName": result_var})
            if numeric:
                item.set("SignificantDigits", str(max(
                    [0, *(len(str(v).partition(".")[2]) for v in values)])))
            translated(item, "Description", f"{result.label} where {test_var} = {test}")
            source = _value_source(dataset.name, str(test))
            _origin(item, "Collected" if source else result.origin,
                    f"ODM item {source}" if source else TRACE_QUALIFIERS.get(str(test))
                    or result.source)
            self.items.append(item)

    def group(self, dataset: Dataset) -> None:
        domain = dataset.domain
        leaf = f"LF.{dataset.name}"
        is_supp = dataset.name.startswith("SUPP")
        group = ET.Element("ItemGroupDef", {
            "OID": f"IG.{dataset.name}", "Name": dataset.name, "Repeating": "No"
            if dataset.name == "DM" else "Yes",
            "Domain": domain.code.removeprefix("SUPP") if is_supp else domain.code,
            "SASDatasetName": dataset.name, "IsReferenceData": "Yes"
            if domain.cls == "TRIAL DESIGN" else "No", "Purpose": "Tabulation",
            d("Structure"): domain.structure, d("ArchiveLocationID"): leaf,
            d("StandardOID"): "STD.SDTMIG"})
        translated(group, "Description", domain.label)
        keys = {name: n for n, name in enumerate(domain.keys, 1)}
        for n, variable in enumerate(domain.variables, 1):
            ref = el(group, "ItemRef", {
                "ItemOID": item_oid(dataset, variable), "OrderNumber": n,
                "Mandatory": "Yes" if variable.name in keys else "No",
                "KeySequence": keys.get(variable.name),
                "MethodOID": self._method(dataset, variable)})
            del ref
        el(group, d("Class"), {"Name": domain.cls})
        file = el(group, d("leaf"), {"ID": leaf, f"{{{XLINK}}}href": f"{dataset.name.lower()}.xpt"})
        el(file, d("title"), text=f"{dataset.name.lower()}.xpt")
        self.groups.append(group)

    def _method(self, dataset: Dataset, variable: Variable) -> str | None:
        if variable.origin != "Derived":
            return None
        method_oid = f"MT.{dataset.name}.{variable.name}"
        method = ET.Element("MethodDef", {"OID": method_oid,
                                          "Name": f"{dataset.name}.{variable.name}",
                                          "Type": "Computation"})
        text = variable.source or variable.label
        if variable.name == "RFSTDTC" or variable.name.endswith("DY"):
            text = f"{text}. {RFSTDTC_NOTE}"
        translated(method, "Description", text)
        self.methods[method_oid] = method
        return method_oid

    def item(self, dataset: Dataset, variable: Variable) -> None:
        integer = is_integer(variable)
        data_type = ("integer" if integer else "float") if variable.numeric else "text"
        item = ET.Element("ItemDef", {
            "OID": item_oid(dataset, variable), "Name": variable.name, "DataType": data_type,
            "Length": str(char_length(dataset, variable)), "SASFieldName": variable.name})
        if data_type == "float":
            item.set("SignificantDigits", "2")
        translated(item, "Description", variable.label)
        if variable.codelist:
            el(item, "CodeListRef", {"CodeListOID": f"CL.{variable.codelist}"})
            self.codelists.add(variable.codelist)
        origin_text = variable.source or variable.label
        if variable.origin == "Collected" and variable.source:
            origin_text = f"ODM item {variable.source}"
        _origin(item, variable.origin, origin_text)
        value_list = self.value_lists_of.get(f"{dataset.name}.{variable.name}")
        if value_list:
            el(item, d("ValueListRef"), {"ValueListOID": value_list})
        self.items.append(item)

    def finish(self) -> None:
        for node in (*self.value_list_defs, *self.where_clauses, *self.groups, *self.items):
            self.mdv.append(node)
        for name in sorted(self.codelists):
            codelist = CODELISTS[name]
            node = el(self.mdv, "CodeList", {"OID": f"CL.{name}", "Name": codelist.label,
                                             "DataType": "text"})
            for n, value in enumerate(dict.fromkeys(codelist.values.values()), 1):
                el(node, "EnumeratedItem", {"CodedValue": value, "OrderNumber": n})
            if codelist.cdisc:
                el(node, "Alias", {"Context": "CDISC CT codelist", "Name": codelist.cdisc})
        for method in self.methods.values():
            self.mdv.append(method)


def _origin(item: ET.Element, origin: str, text: str) -> None:
    attrs = {"Type": origin}
    if origin == "Collected":
        attrs["Source"] = "Investigator"
    node = el(item, d("Origin"), attrs)
    translated(node, "Description", text)


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _value_source(domain: str, test: str) -> str | None:
    """The ODM item a lab or vital-sign test was collected in (first form that has it)."""
    if domain == "LB":
        field = next((f for f, (code, _t, _c) in LAB_TESTS.items() if code == test), None)
        items = [f"IT.{form.upper()}.{field.upper()}" for form in LAB_FORMS if field
                 and any(f["name"] == field for f in lab_fields(form))]
        return ", ".join(items) or None
    if domain == "VS":
        found = next(((form, f) for (form, f), (code, _t) in VS_TESTS.items() if code == test),
                     None)
        return f"IT.{found[0].upper()}.{found[1].upper()}" if found else None
    return None
