"""The ODM metadata, derived only from the form schemas and the trial's visit schedule.

``Study``: ``GlobalVariables``, ``BasicDefinitions`` (one ``MeasurementUnit`` per unit of the
form fields) and one ``MetaDataVersion``: a ``StudyEventDef`` per visit, plus ``UNSCHEDULED``
(repeating: one occurrence per unscheduled entry) and ``COMMON`` (forms without a visit); a
``FormDef`` and a main ``ItemGroupDef`` per form, plus a repeating ``ItemGroupDef`` per list
field; an ``ItemDef`` per field (an object of fixed keys gives one per key) with ``DataType``,
``Length``, ``SASFieldName``, unit, range checks and code list. Code list items carry the CDISC
submission value beside the form value (an ``Alias``, from ecrf/exports/sdtm/terminology.py).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from marshmallow import fields as mfields
from marshmallow import validate

from ecrf.exports.odm_xml import (
    COMMON,
    MDV_OID,
    PROTOCOL_NAME,
    SOFTWARE_VERSION,
    STUDY_NAME,
    STUDY_OID,
    UNSCHEDULED,
    decimal,
    el,
    oid,
    translated,
)
from ecrf.exports.sdtm.terminology import CODELISTS, FIELD_CODELISTS
from ecrf.forms.describe import describe_form
from ecrf.forms.registry import FORMS, FormDef
from projections.trial_config import DEFAULT_TRIAL, TrialConfig, VisitDef
from projections.workflow import QUERY_STATE

DATA_TYPES = {"string": "text", "enum": "text", "integer": "integer", "number": "float",
              "date": "date", "datetime": "datetime", "boolean": "boolean"}
# Lengths of the types without a declared one: a datetime with its offset and microseconds
# ("2026-10-03T01:30:00.000000+02:00" is 32), a text without a maximum gets SDTM's 200.
TYPE_LENGTHS = {"date": 10, "datetime": 32, "boolean": 5, "text": 200}
FLOAT_FRACTION_DIGITS = 3
SUBMISSION_ALIAS = "CDISC-SUBMISSION-VALUE"

# Workflow vocabularies used as annotation flags (not form fields: they come from projections).
CL_FLAG_TYPE = "CL.FLAG_TYPE"
CL_QUERY_STATE = "CL.QUERY_STATE"
CL_SIGNATURE_STATE = "CL.SIGNATURE_STATE"
CL_VERIFICATION_STATE = "CL.VERIFICATION_STATE"
FLAG_CODE_LISTS: dict[str, tuple[str, ...]] = {
    CL_FLAG_TYPE: ("QUERY_STATE", "SIGNATURE_STATE", "VERIFICATION_STATE"),
    CL_QUERY_STATE: tuple(dict.fromkeys(QUERY_STATE.values())),
    CL_SIGNATURE_STATE: ("valid", "invalidated"),
    CL_VERIFICATION_STATE: ("verified", "verification_voided"),
}


@dataclass(frozen=True)
class ItemSpec:
    """One ItemDef: an OID, a name and what the described field says of its values."""

    oid: str
    name: str
    data_type: str
    mandatory: bool
    described: dict[str, Any]
    code_list: str | None = None
    form: str = ""
    max_length: int | None = None  # from the schema's Length validator, when it has one
    sas_name: str = ""

    @property
    def choices(self) -> list[Any] | None:
        return self.described.get("choices")

    @property
    def unit(self) -> str | None:
        return self.described.get("unit")

    @property
    def length(self) -> int:
        """The ItemDef Length: the longest value the schema allows, in characters or digits."""
        if self.choices:
            return max(len(str(c)) for c in self.choices)
        if self.data_type in ("integer", "float"):
            bounds = [b for b in (self.described.get("minimum"), self.described.get("maximum"))
                      if b is not None]
            digits = max((len(str(int(abs(b)))) for b in bounds), default=8)
            sign = any(b < 0 for b in bounds) or not bounds
            extra = FLOAT_FRACTION_DIGITS if self.data_type == "float" else 0
            return digits + int(sign) + extra
        return self.max_length or TYPE_LENGTHS.get(self.data_type, 200)

    @property
    def significant_digits(self) -> int | None:
        return FLOAT_FRACTION_DIGITS if self.data_type == "float" else None


@dataclass(frozen=True)
class FieldLayout:
    """Where a form field's values go: ``item`` (one ItemData), ``keys`` (one per key),
    ``list`` (one per list element, in a repeating group), ``records`` (one per element and
    sub-field) or ``json`` (an object without a fixed shape, as JSON text)."""

    name: str
    kind: str
    group: str
    items: dict[str, ItemSpec]  # by key or sub-field; "" for a single item


@dataclass(frozen=True)
class GroupSpec:
    oid: str
    name: str
    repeating: bool
    description: str
    items: tuple[ItemSpec, ...]


@dataclass(frozen=True)
class FormLayout:
    """A form's FormDef, its item groups and the layout of each of its fields."""

    form: FormDef
    oid: str
    groups: tuple[GroupSpec, ...]
    fields: dict[str, FieldLayout]

    @cached_property
    def item_order(self) -> dict[str, int]:
        return {item.oid: n for n, item in enumerate(
            i for group in self.groups for i in group.items)}

    @cached_property
    def group_order(self) -> dict[str, int]:
        return {group.oid: n for n, group in enumerate(self.groups)}


@lru_cache(maxsize=1)
def form_layouts() -> dict[str, FormLayout]:
    """Lay out every form of ``FORMS`` as ODM definitions, in crf-spec.md order."""
    return {name: _form_layout(form) for name, form in FORMS.items()}


def _form_layout(form: FormDef) -> FormLayout:
    main = oid("IG", form.name)
    main_items: list[ItemSpec] = []
    groups: list[GroupSpec] = []
    fields: dict[str, FieldLayout] = {}
    names = SasNames()
    schema_fields = form.schema.fields
    for described in describe_form(form)["fields"]:
        name, base = described["name"], oid("IT", form.name, described["name"])
        field = schema_fields.get(name)
        if described["type"] == "list":
            group = oid("IG", form.name, name)
            if described.get("fields"):
                inner = getattr(getattr(field, "inner", None), "schema", None)
                kind, items = "records", {
                    sub["name"]: _item(form, f"{base}.{sub['name'].upper()}",
                                       f"{name}.{sub['name']}", sub, sub["required"],
                                       names.take(sub["name"]),
                                       max_length=_max_length(inner.fields.get(sub["name"])
                                                              if inner else None))
                    for sub in described["fields"]}
            else:
                kind, items = "list", {"": _item(form, base, name, {
                    **described, "type": described.get("items") or "string"}, True,
                    names.take(name), max_length=_max_length(getattr(field, "inner", None)))}
            groups.append(GroupSpec(group, f"{form.name}.{name}", True,
                                    described["description"], tuple(items.values())))
        elif described["type"] == "object" and described.get("keys"):
            kind, group, shared = "keys", main, oid("CL", form.name, name)
            items = {key: _item(form, f"{base}.{key.upper()}", f"{name}.{key}", {
                **described, "type": "enum" if described.get("choices") else "string",
                "description": f"{described['description']}: {key}"}, False,
                names.take(key), shared if described.get("choices") else None)
                for key in described["keys"]}
        else:
            kind = "json" if described["type"] == "object" else "item"
            group, items = main, {"": _item(form, base, name, described, described["required"],
                                            names.take(name), max_length=_max_length(field))}
        if group == main:
            main_items += items.values()
        fields[name] = FieldLayout(name, kind, group, items)
    main_group = GroupSpec(main, form.name, False, form.title, tuple(main_items))
    return FormLayout(form, oid("F", form.name), (main_group, *groups), fields)


def _item(form: FormDef, item_oid: str, name: str, described: dict[str, Any], mandatory: bool,
          sas_name: str, code_list: str | None = None, *, max_length: int | None = None
          ) -> ItemSpec:
    if code_list is None and described.get("choices"):
        code_list = "CL." + item_oid.removeprefix("IT.")
    return ItemSpec(item_oid, name, DATA_TYPES.get(described["type"], "text"), mandatory,
                    described, code_list, form.name, max_length, sas_name)


def _max_length(field: mfields.Field | None) -> int | None:
    """The maximum a Length validator of the schema allows (None when it has none)."""
    for validator in getattr(field, "validators", None) or []:
        if isinstance(validator, validate.Length) and validator.max is not None:
            return validator.max
    return None


class SasNames:
    """Hands out SAS names (upper case, at most 8 characters, unique within one form)."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def take(self, name: str) -> str:
        base = sas_name(name)
        candidate, n = base, 1
        while candidate in self.taken:
            n += 1
            candidate = base[: 8 - len(str(n))] + str(n)
        self.taken.add(candidate)
        return candidate


def sas_name(name: str, width: int = 8) -> str:
    """Shorten a field name to a SAS name: trim the longest word until the whole fits."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", name.upper()) if w] or ["ITEM"]
    while sum(map(len, words)) > width:
        longest = max(range(len(words)), key=lambda i: len(words[i]))
        words[longest] = words[longest][:-1]
        words = [w for w in words if w]
    joined = "".join(words)
    return joined if joined[0].isalpha() else f"X{joined}"[:width]


def all_items() -> list[ItemSpec]:
    """Every ItemDef of the metadata, once, in form and group order."""
    unique = {item.oid: item for layout in form_layouts().values()
              for group in layout.groups for item in group.items}
    return list(unique.values())


def code_lists() -> dict[str, tuple[list[Any], dict[str, str]]]:
    """Every CodeList of the form fields: OID -> (coded values, value -> submission value)."""
    lists: dict[str, tuple[list[Any], dict[str, str]]] = {}
    for item in all_items():
        if item.code_list:
            field = item.name.split(".")[0] if item.code_list.count(".") == 2 else item.name
            ct = FIELD_CODELISTS.get((item.form, field)) or FIELD_CODELISTS.get(
                (item.form, item.name))
            submitted = CODELISTS[ct].values if ct else {}
            choices = list(item.choices or [])
            lists[item.code_list] = (choices, {str(c): submitted[str(c)] for c in choices
                                               if str(c) in submitted})
    return lists


def measurement_units() -> dict[str, str]:
    """Every unit of the form fields -> its MeasurementUnit OID (unique, readable)."""
    units: dict[str, str] = {}
    for item in all_items():
        if item.unit and item.unit not in units:
            base = _unit_oid(item.unit)
            taken = set(units.values())
            units[item.unit] = next(candidate for n in range(1, len(taken) + 2)
                                    if (candidate := base if n == 1 else f"{base}_{n}")
                                    not in taken)
    return units


_UNIT_WORDS = {"%": "PCT", "°": "DEG", "^": "E", "/": "_PER_", "+": "POS"}


def _unit_oid(unit: str) -> str:
    text = "".join(_UNIT_WORDS.get(char, char) for char in unit)
    return "MU." + (re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").upper() or "UNIT")


def study_events(config: TrialConfig) -> list[tuple[str, str, str, str]]:
    """(OID, name, ODM event type, description) of each StudyEventDef, in protocol order."""
    events = [(oid("SE", v.code), v.code, "Scheduled", _visit_text(v)) for v in config.schedule]
    events.append((oid("SE", UNSCHEDULED), UNSCHEDULED, "Unscheduled",
                   "unscheduled visit (one occurrence per unscheduled entry)"))
    events.append((oid("SE", COMMON), COMMON, "Common",
                   "forms without a visit (registration, medications, adverse events, ...)"))
    return events


def _visit_text(visit: VisitDef) -> str:
    text = visit.label or f"day {visit.day}"
    if visit.window_before or visit.window_after:
        text += f" (window -{visit.window_before}/+{visit.window_after} days)"
    return text + ("; only for subjects in CR or R at W12" if visit.responders_only else "")


def study_element(config: TrialConfig = DEFAULT_TRIAL) -> ET.Element:
    """The ``Study`` element: global variables, units and the MetaDataVersion."""
    study = el(None, "Study", {"OID": STUDY_OID})
    variables = el(study, "GlobalVariables")
    el(variables, "StudyName", text=STUDY_NAME)
    el(variables, "StudyDescription", text=f"{STUDY_NAME}: electronic case report forms")
    el(variables, "ProtocolName", text=PROTOCOL_NAME)
    basics = el(study, "BasicDefinitions")
    for unit, unit_oid in measurement_units().items():
        translated(el(basics, "MeasurementUnit", {"OID": unit_oid, "Name": unit}), "Symbol",
                   unit)
    study.append(metadata_version(config))
    return study


def metadata_version(config: TrialConfig = DEFAULT_TRIAL) -> ET.Element:
    """The MetaDataVersion: events, forms, item groups, items and code lists."""
    mdv = el(None, "MetaDataVersion", {
        "OID": MDV_OID, "Name": f"eCRF forms (ecrf {SOFTWARE_VERSION})",
        "Description": "derived from the form schemas of ecrf.forms and the visit schedule"})
    events, layouts = study_events(config), form_layouts()
    protocol = el(mdv, "Protocol")
    for n, (event_oid, *_rest) in enumerate(events, 1):
        el(protocol, "StudyEventRef", {"StudyEventOID": event_oid, "OrderNumber": n,
                                       "Mandatory": "No"})
    for event_oid, name, kind, text in events:
        event = el(mdv, "StudyEventDef", {
            "OID": event_oid, "Name": name, "Repeating": "Yes" if name == UNSCHEDULED else "No",
            "Type": kind})
        translated(event, "Description", text)
        forms = [lay for lay in layouts.values() if lay.form.has_visit == (name != COMMON)]
        for n, layout in enumerate(forms, 1):
            el(event, "FormRef", {"FormOID": layout.oid, "OrderNumber": n, "Mandatory": "No"})
    for layout in layouts.values():
        form = el(mdv, "FormDef", {"OID": layout.oid, "Name": layout.form.title,
                                   "Repeating": "Yes"})
        translated(form, "Description",
                   f"form {layout.form.name}, recorded as {layout.form.event_type}")
        for n, group in enumerate(layout.groups, 1):
            el(form, "ItemGroupRef", {"ItemGroupOID": group.oid, "OrderNumber": n,
                                      "Mandatory": "No" if group.repeating else "Yes"})
    for layout in layouts.values():
        for group in layout.groups:
            _item_group_def(mdv, group)
    units = measurement_units()
    for item in all_items():
        _item_def(mdv, item, units)
    flags = {list_oid: (list(values), {}) for list_oid, values in FLAG_CODE_LISTS.items()}
    for list_oid, (values, submitted) in {**code_lists(), **flags}.items():
        code_list = el(mdv, "CodeList", {"OID": list_oid, "Name": list_oid.removeprefix("CL."),
                                         "DataType": "text"})
        for n, value in enumerate(values, 1):
            entry = el(code_list, "CodeListItem", {"CodedValue": value, "OrderNumber": n})
            translated(entry, "Decode", str(value).replace("_", " "))
            if str(value) in submitted:
                el(entry, "Alias", {"Context": SUBMISSION_ALIAS, "Name": submitted[str(value)]})
    return mdv


def _item_group_def(parent: ET.Element, group: GroupSpec) -> None:
    node = el(parent, "ItemGroupDef", {"OID": group.oid, "Name": group.name,
                                       "Repeating": "Yes" if group.repeating else "No"})
    translated(node, "Description", group.description)
    for n, item in enumerate(group.items, 1):
        el(node, "ItemRef", {"ItemOID": item.oid, "OrderNumber": n,
                             "Mandatory": "Yes" if item.mandatory else "No"})


def _item_def(parent: ET.Element, item: ItemSpec, units: dict[str, str]) -> None:
    described = item.described
    node = el(parent, "ItemDef", {
        "OID": item.oid, "Name": item.name, "DataType": item.data_type, "Length": item.length,
        "SignificantDigits": item.significant_digits, "SASFieldName": item.sas_name})
    rules = [text for text in (
        described.get("required_when") and f"required when {described['required_when']}",
        described.get("pattern") and f"matches {described['pattern']}",
        described.get("default") is not None and f"default {described['default']}") if text]
    translated(node, "Description", "; ".join([described["description"] or item.name, *rules]))
    translated(node, "Question", described["description"] or item.name)
    if item.unit:
        el(node, "MeasurementUnitRef", {"MeasurementUnitOID": units[item.unit]})
    for bound, comparator, strict in (("minimum", "GE", "GT"), ("maximum", "LE", "LT")):
        value = described.get(bound)
        if value is None or item.data_type not in ("integer", "float"):
            continue
        exclusive = described.get(f"exclusive_{bound}")
        check = el(node, "RangeCheck", {"Comparator": strict if exclusive else comparator,
                                        "SoftHard": "Hard"})
        el(check, "CheckValue", text=decimal(value))
        if item.unit:
            el(check, "MeasurementUnitRef", {"MeasurementUnitOID": units[item.unit]})
        sign = {"GE": ">=", "GT": ">", "LE": "<=", "LT": "<"}[strict if exclusive else comparator]
        translated(check, "ErrorMessage", f"{item.name} must be {sign} {decimal(value)}")
    if item.code_list:
        el(node, "CodeListRef", {"CodeListOID": item.code_list})
