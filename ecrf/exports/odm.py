"""The CDISC ODM 1.3.2 export: the forms as metadata, every value with its whole audit history.

A *Transactional* ODM file (docs/odm-export.md has the mapping table and the reasons):

- ``Study``: ``GlobalVariables``, ``BasicDefinitions`` (one ``MeasurementUnit`` per unit of the
  form fields) and one ``MetaDataVersion`` derived only from ``ecrf.forms`` (through
  ``describe_form``) and the trial's visit schedule: a ``StudyEventDef`` per visit, plus
  ``UNSCHEDULED`` and ``COMMON`` (forms without a visit); a ``FormDef`` and a main
  ``ItemGroupDef`` per form, plus a repeating ``ItemGroupDef`` per list field (one repeat per
  list element); an ``ItemDef`` per field (an object of fixed keys, such as ``answers``, gives
  one ``ItemDef`` per key) with its ``DataType``, ``MeasurementUnitRef``, ``RangeCheck`` and
  ``CodeListRef``.
- ``AdminData``: the user accounts (folded from their ``user:`` streams), the sites as
  ``Location`` and one ``SignatureDef`` per signature meaning.
- ``ClinicalData``: per subject a ``SubjectData``, per visit a ``StudyEventData``, per entry a
  ``FormData`` (repeat key = entry id; ``Remove`` when voided, with the void's audit record),
  and per field one ``ItemData`` *per historical value* (``Insert``, ``Update`` or ``Remove``),
  each with its ``AuditRecord`` (user, site, time, reason for change, ``SourceID`` = event
  position), since ODM allows one ``AuditRecord`` per element. Queries are annotations (one
  per step of the query's life) on the value they concern; each signature is a further
  ``SubjectData`` of the same subject carrying the ``Signature``.

The whole document is one consistent snapshot of the log up to one position (the requested one,
or the head when the export starts). Built with the standard library's ElementTree.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import Any

from ecrf.accounts.model import ALL_SITES, User, fold_user
from ecrf.commands.edit_checks import SYSTEM
from ecrf.commands.workflow import MEANINGS
from ecrf.forms.describe import describe_form
from ecrf.forms.registry import FORMS, FormDef
from ecrf.permissions import SITE, require
from events import EventStore
from projections.casebook import REGISTRATION, Casebook, Entry, EntryVersion, fold_casebook
from projections.trial_config import DEFAULT_TRIAL, TrialConfig, VisitDef
from projections.workflow import QUERY_STATE, Query, Signature

NS = "http://www.cdisc.org/ns/odm/v1.3"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ODM_VERSION = "1.3.2"
STUDY_OID = "CART-ITP"
STUDY_NAME = "CAR-T in chronic or refractory primary ITP"
PROTOCOL_NAME = "CAR-T-ITP"
UNSCHEDULED = "UNSCHEDULED"
COMMON = "COMMON"
try:
    SOFTWARE_VERSION = importlib.metadata.version("ecrf")
except importlib.metadata.PackageNotFoundError:  # running from a source tree, not installed
    SOFTWARE_VERSION = "0+source"
MDV_OID = f"MDV.ECRF-{SOFTWARE_VERSION}"

DATA_TYPES = {"string": "text", "enum": "text", "integer": "integer", "number": "float",
              "date": "date", "datetime": "datetime", "boolean": "boolean"}
USER_TYPES = {"investigator": "Investigator", "monitor": "Sponsor", "data_manager": "Sponsor"}

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
SIGNATURE_MEANINGS = {
    "authorship": "Authorship: I entered or am responsible for the data of this casebook.",
    "review": "Review: I have reviewed the data of this casebook.",
    "approval": "Approval: I approve the data of this casebook as accurate and complete.",
}
LEGAL_REASON = ("Electronic signature under 21 CFR Part 11 (11.50, 11.70, 11.200): the signer "
                "re-entered the password; a later change to the casebook invalidates it.")

Key = tuple[str, str | None, str]  # (ItemGroupOID, ItemGroupRepeatKey, ItemOID)


# -- the metadata, derived from the forms -------------------------------------------------------


@dataclass(frozen=True)
class ItemSpec:
    """One ItemDef: an OID, a name and what the described field says of its values."""

    oid: str
    name: str
    data_type: str
    mandatory: bool
    described: dict[str, Any]
    code_list: str | None = None

    @property
    def choices(self) -> list[Any] | None:
        return self.described.get("choices")

    @property
    def unit(self) -> str | None:
        return self.described.get("unit")


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


def oid(*parts: str) -> str:
    """Build an OID from a prefix and names, upper-cased: ``IT.PLATELET_COUNT.PLATELETS``."""
    return ".".join(part.upper() for part in parts)


@lru_cache(maxsize=1)
def form_layouts() -> dict[str, FormLayout]:
    """Lay out every form of ``FORMS`` as ODM definitions, in crf-spec.md order."""
    return {name: _form_layout(form) for name, form in FORMS.items()}


def _form_layout(form: FormDef) -> FormLayout:
    main = oid("IG", form.name)
    main_items: list[ItemSpec] = []
    groups: list[GroupSpec] = []
    fields: dict[str, FieldLayout] = {}
    for described in describe_form(form)["fields"]:
        name, base = described["name"], oid("IT", form.name, described["name"])
        if described["type"] == "list":
            group = oid("IG", form.name, name)
            if described.get("fields"):
                kind, items = "records", {
                    sub["name"]: _item(f"{base}.{sub['name'].upper()}", f"{name}.{sub['name']}",
                                       sub, sub["required"]) for sub in described["fields"]}
            else:
                kind, items = "list", {"": _item(base, name, {
                    **described, "type": described.get("items") or "string"}, True)}
            groups.append(GroupSpec(group, f"{form.name}.{name}", True,
                                    described["description"], tuple(items.values())))
        elif described["type"] == "object" and described.get("keys"):
            kind, group, shared = "keys", main, oid("CL", form.name, name)
            items = {key: _item(f"{base}.{key.upper()}", f"{name}.{key}", {
                **described, "type": "enum" if described.get("choices") else "string",
                "description": f"{described['description']}: {key}"}, False,
                shared if described.get("choices") else None)
                for key in described["keys"]}
        else:
            kind = "json" if described["type"] == "object" else "item"
            group, items = main, {"": _item(base, name, described, described["required"])}
        if group == main:
            main_items += items.values()
        fields[name] = FieldLayout(name, kind, group, items)
    main_group = GroupSpec(main, form.name, False, form.title, tuple(main_items))
    return FormLayout(form, oid("F", form.name), (main_group, *groups), fields)


def _item(item_oid: str, name: str, described: dict[str, Any], mandatory: bool,
          code_list: str | None = None) -> ItemSpec:
    if code_list is None and described.get("choices"):
        code_list = "CL." + item_oid.removeprefix("IT.")
    return ItemSpec(item_oid, name, DATA_TYPES.get(described["type"], "text"), mandatory,
                    described, code_list)


def all_items() -> list[ItemSpec]:
    """Every ItemDef of the metadata, once, in form and group order."""
    unique = {item.oid: item for layout in form_layouts().values()
              for group in layout.groups for item in group.items}
    return list(unique.values())


def code_lists() -> dict[str, list[Any]]:
    """Every CodeList of the form fields: OID -> coded values."""
    return {item.code_list: list(item.choices or []) for item in all_items() if item.code_list}


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
    events.append((oid("SE", UNSCHEDULED), UNSCHEDULED, "Unscheduled", "unscheduled visit"))
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
    study = _el(None, "Study", {"OID": STUDY_OID})
    variables = _el(study, "GlobalVariables")
    _el(variables, "StudyName", text=STUDY_NAME)
    _el(variables, "StudyDescription", text=f"{STUDY_NAME}: electronic case report forms")
    _el(variables, "ProtocolName", text=PROTOCOL_NAME)
    basics = _el(study, "BasicDefinitions")
    for unit, unit_oid in measurement_units().items():
        _translated(_el(basics, "MeasurementUnit", {"OID": unit_oid, "Name": unit}), "Symbol",
                    unit)
    study.append(metadata_version(config))
    return study


def metadata_version(config: TrialConfig = DEFAULT_TRIAL) -> ET.Element:
    """The MetaDataVersion: events, forms, item groups, items and code lists."""
    mdv = _el(None, "MetaDataVersion", {
        "OID": MDV_OID, "Name": f"eCRF forms (ecrf {SOFTWARE_VERSION})",
        "Description": "derived from the form schemas of ecrf.forms and the visit schedule"})
    events, layouts = study_events(config), form_layouts()
    protocol = _el(mdv, "Protocol")
    for n, (event_oid, *_rest) in enumerate(events, 1):
        _el(protocol, "StudyEventRef", {"StudyEventOID": event_oid, "OrderNumber": n,
                                        "Mandatory": "No"})
    for event_oid, name, kind, text in events:
        event = _el(mdv, "StudyEventDef", {"OID": event_oid, "Name": name, "Repeating": "No",
                                           "Type": kind})
        _translated(event, "Description", text)
        forms = [lay for lay in layouts.values() if lay.form.has_visit == (name != COMMON)]
        for n, layout in enumerate(forms, 1):
            _el(event, "FormRef", {"FormOID": layout.oid, "OrderNumber": n, "Mandatory": "No"})
    for layout in layouts.values():
        form = _el(mdv, "FormDef", {"OID": layout.oid, "Name": layout.form.title,
                                    "Repeating": "Yes"})
        _translated(form, "Description",
                    f"form {layout.form.name}, recorded as {layout.form.event_type}")
        for n, group in enumerate(layout.groups, 1):
            _el(form, "ItemGroupRef", {"ItemGroupOID": group.oid, "OrderNumber": n,
                                       "Mandatory": "No" if group.repeating else "Yes"})
    for layout in layouts.values():
        for group in layout.groups:
            _item_group_def(mdv, group)
    units = measurement_units()
    for item in all_items():
        _item_def(mdv, item, units)
    for list_oid, values in {**code_lists(), **FLAG_CODE_LISTS}.items():
        code_list = _el(mdv, "CodeList", {"OID": list_oid, "Name": list_oid.removeprefix("CL."),
                                          "DataType": "text"})
        for n, value in enumerate(values, 1):
            entry = _el(code_list, "CodeListItem", {"CodedValue": value, "OrderNumber": n})
            _translated(entry, "Decode", str(value).replace("_", " "))
    return mdv


def _item_group_def(parent: ET.Element, group: GroupSpec) -> None:
    node = _el(parent, "ItemGroupDef", {"OID": group.oid, "Name": group.name,
                                        "Repeating": "Yes" if group.repeating else "No"})
    _translated(node, "Description", group.description)
    for n, item in enumerate(group.items, 1):
        _el(node, "ItemRef", {"ItemOID": item.oid, "OrderNumber": n,
                              "Mandatory": "Yes" if item.mandatory else "No"})


def _item_def(parent: ET.Element, item: ItemSpec, units: dict[str, str]) -> None:
    described = item.described
    node = _el(parent, "ItemDef", {"OID": item.oid, "Name": item.name,
                                   "DataType": item.data_type})
    rules = [text for text in (
        described.get("required_when") and f"required when {described['required_when']}",
        described.get("pattern") and f"matches {described['pattern']}",
        described.get("default") is not None and f"default {described['default']}") if text]
    _translated(node, "Description", "; ".join([described["description"] or item.name, *rules]))
    _translated(node, "Question", described["description"] or item.name)
    if item.unit:
        _el(node, "MeasurementUnitRef", {"MeasurementUnitOID": units[item.unit]})
    for bound, comparator, strict in (("minimum", "GE", "GT"), ("maximum", "LE", "LT")):
        value = described.get(bound)
        if value is None or item.data_type not in ("integer", "float"):
            continue
        exclusive = described.get(f"exclusive_{bound}")
        check = _el(node, "RangeCheck", {"Comparator": strict if exclusive else comparator,
                                         "SoftHard": "Hard"})
        _el(check, "CheckValue", text=_decimal(value))
        if item.unit:
            _el(check, "MeasurementUnitRef", {"MeasurementUnitOID": units[item.unit]})
        sign = {"GE": ">=", "GT": ">", "LE": "<=", "LT": "<"}[strict if exclusive else comparator]
        _translated(check, "ErrorMessage", f"{item.name} must be {sign} {_decimal(value)}")
    if item.code_list:
        _el(node, "CodeListRef", {"CodeListOID": item.code_list})


# -- values and their history ---------------------------------------------------------------------


def flatten(layout: FormLayout, values: dict[str, Any]) -> dict[Key, str]:
    """The entry's values as ODM item values, keyed by (group, repeat key, item OID)."""
    flat: dict[Key, str] = {}
    for name, value in values.items():
        spec = layout.fields.get(name)
        if spec is None or value is None:
            continue
        if spec.kind in ("item", "json"):
            flat[(spec.group, None, spec.items[""].oid)] = odm_value(spec.items[""], value)
        elif spec.kind == "keys":
            for key, answer in value.items():
                if key in spec.items and answer is not None:
                    flat[(spec.group, None, spec.items[key].oid)] = odm_value(spec.items[key],
                                                                              answer)
        elif spec.kind == "list":
            for n, element in enumerate(value, 1):
                if element is not None:
                    flat[(spec.group, str(n), spec.items[""].oid)] = odm_value(
                        spec.items[""], element)
        else:
            for n, record in enumerate(value, 1):
                for sub, item in spec.items.items():
                    if record.get(sub) is not None:
                        flat[(spec.group, str(n), item.oid)] = odm_value(item, record[sub])
    return flat


def odm_value(item: ItemSpec, value: Any) -> str:
    """Write a stored JSON value in the ODM form of the item's DataType."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if item.data_type == "integer" and isinstance(value, int | float):
        return str(int(value))
    if item.data_type == "float" and isinstance(value, int | float):
        return _decimal(value)
    if item.data_type == "datetime" and isinstance(value, str):
        return _stamp(datetime.fromisoformat(value))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return str(value)


@dataclass(frozen=True)
class ItemChange:
    """One ItemData: a value entered, changed or cleared by one version of an entry."""

    key: Key
    value: str | None
    transaction: str  # Insert, Update, Remove
    version: EntryVersion


def item_history(layout: FormLayout, entry: Entry) -> list[ItemChange]:
    """Every value the entry's items took, version by version (voids change no value)."""
    changes: list[ItemChange] = []
    before: dict[Key, str] = {}
    for version in entry.versions:
        if version.kind == "void":
            continue
        after = flatten(layout, version.values)
        for key in [*after, *(k for k in before if k not in after)]:
            old, new = before.get(key), after.get(key)
            if old != new:
                kind = "Insert" if old is None else "Remove" if new is None else "Update"
                changes.append(ItemChange(key, new, kind, version))
        before = after
    items, groups = layout.item_order, layout.group_order
    changes.sort(key=lambda c: (groups[c.key[0]], int(c.key[1] or 0), items[c.key[2]]))
    return changes  # sort is stable: each item's values stay in log order


# -- the export -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OdmExport:
    """A built ODM file and what it covers (recorded with the ExportGenerated event)."""

    data: bytes
    file_oid: str
    position: int
    subject_ids: tuple[str, ...]
    created_at: datetime


def build_odm(store: EventStore, *, user: User, subject_ids: list[str] | None = None,
              up_to_position: int | None = None, config: TrialConfig = DEFAULT_TRIAL) -> bytes:
    """Return the ODM 1.3.2 XML of the subjects the user may see (all, or those named)."""
    return build_odm_export(store, user=user, subject_ids=subject_ids,
                            up_to_position=up_to_position, config=config).data


def build_odm_export(store: EventStore, *, user: User, subject_ids: list[str] | None = None,
                     up_to_position: int | None = None, config: TrialConfig = DEFAULT_TRIAL,
                     now: datetime | None = None) -> OdmExport:
    """Build the ODM file and say which position and subjects it covers."""
    require(user.role, "export.odm")
    created = (now or datetime.now(UTC)).astimezone(UTC)
    head = store.head()
    latest = head.position if head else 0
    position = latest if up_to_position is None else min(up_to_position, latest)
    books = list(_casebooks(store, user, subject_ids, position))
    root = _root("Transactional", _granularity(user, subject_ids), created,
                 f"eCRF event log up to position {position}: every value with its audit history",
                 _as_of(store, position))
    root.append(study_element(config))
    writer = _ClinicalWriter(config)
    clinical = _el(None, "ClinicalData", {"StudyOID": STUDY_OID, "MetaDataVersionOID": MDV_OID})
    for book in books:
        writer.subject(clinical, book)
    root.append(_admin_data(store, user, position, writer.users, created.date()))
    root.append(clinical)
    ET.indent(root, space="  ")
    data = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    return OdmExport(data, root.get("FileOID", ""), position,
                     tuple(b.subject_id for b in books), created)


def build_odm_metadata(config: TrialConfig = DEFAULT_TRIAL, *, now: datetime | None = None
                       ) -> bytes:
    """Return an ODM file with the study's metadata only (no users, no clinical data)."""
    created = (now or datetime.now(UTC)).astimezone(UTC)
    root = _root("Snapshot", "Metadata", created,
                 "eCRF metadata: the forms and the visit schedule")
    root.append(study_element(config))
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


def _root(file_type: str, granularity: str | None, created: datetime, description: str,
          as_of: str | None = None) -> ET.Element:
    return _el(None, "ODM", {
        "xmlns": NS, "Description": description, "FileType": file_type,
        "Granularity": granularity, "FileOID": f"ODM.{STUDY_OID}.{uuid.uuid4().hex}",
        "CreationDateTime": _stamp(created), "AsOfDateTime": as_of, "ODMVersion": ODM_VERSION,
        "Originator": "ecrf", "SourceSystem": "ecrf", "SourceSystemVersion": SOFTWARE_VERSION})


def _casebooks(store: EventStore, user: User, subject_ids: list[str] | None, position: int
               ) -> Iterator[Casebook]:
    for subject_id in store.stream_ids(REGISTRATION) if subject_ids is None else subject_ids:
        book = fold_casebook(store.read_stream(subject_id, up_to_position=position),
                             up_to_position=position)
        if book is not None and user.sees_site(book.site_id):
            yield book


def _granularity(user: User, subject_ids: list[str] | None) -> str | None:
    if subject_ids is not None and len(subject_ids) == 1:
        return "SingleSubject"
    if subject_ids is None and ALL_SITES in user.sites:
        return "All"
    return "SingleSite" if subject_ids is None and len(user.sites) == 1 else None


def _as_of(store: EventStore, position: int) -> str | None:
    event = store.read_all(after=position - 1, limit=1) if position > 0 else []
    return _stamp(event[0].recorded_at) if event else None


class _ClinicalWriter:
    """Writes SubjectData elements and notes every user they refer to (for AdminData)."""

    def __init__(self, config: TrialConfig) -> None:
        self.users: set[str] = set()
        self.events = {code: event_oid for event_oid, code, _, _ in study_events(config)}

    def subject(self, clinical: ET.Element, book: Casebook) -> None:
        node = _el(clinical, "SubjectData", {"SubjectKey": book.subject_id,
                                             "TransactionType": "Insert"})
        registration = next((e for e in book.entries.values() if e.form == "registration"),
                            None)
        if registration is not None:
            self._audit(node, book, registration.versions[0])
        _el(node, "SiteRef", {"LocationOID": location_oid(book.site_id)})
        if book.workflow.locked:
            _annotation(node, 1, f"Casebook locked: {book.workflow.lock_reason or '-'}")
        by_event: dict[str, list[Entry]] = {}
        for entry in book.entries.values():
            if entry.form in form_layouts():
                by_event.setdefault(self._event_of(entry), []).append(entry)
        for event_oid in self.events.values():
            if event_oid in by_event:
                event = _el(node, "StudyEventData", {"StudyEventOID": event_oid,
                                                     "TransactionType": "Upsert"})
                for entry in by_event[event_oid]:
                    self._form(event, book, entry)
        for signature in book.workflow.signatures:
            self._signature(clinical, book, signature)

    def _event_of(self, entry: Entry) -> str:
        if not FORMS[entry.form].has_visit:
            return self.events[COMMON]
        return self.events.get(entry.visit or UNSCHEDULED, self.events[UNSCHEDULED])

    def _form(self, parent: ET.Element, book: Casebook, entry: Entry) -> None:
        layout = form_layouts()[entry.form]
        node = _el(parent, "FormData", {"FormOID": layout.oid, "FormRepeatKey": entry.entry_id,
                                        "TransactionType": "Remove" if entry.voided else "Insert"})
        self._audit(node, book, entry.versions[-1] if entry.voided else entry.versions[0])
        history = item_history(layout, entry)
        on_items, on_form = _place_queries(layout, book, entry, history)
        seq = 1
        verification = book.workflow.verifications.get(entry.entry_id)
        if verification is not None:
            self.users.add(verification.verified_by)
            text = (f"Source data verified by {verification.verified_by} at "
                    f"{_stamp(datetime.fromisoformat(verification.verified_at))} (position "
                    f"{verification.position})")
            if verification.voided_by_position:
                text += (f"; the verification was voided by the correction at position "
                         f"{verification.voided_by_position}")
            _annotation(node, seq, text, ("VERIFICATION_STATE", CL_VERIFICATION_STATE,
                                          verification.state))
            seq += 1
        for query in on_form:
            seq = _query_annotations(node, query, seq, self.users)
        group: ET.Element | None = None
        for change in history:
            group_oid, repeat, item_oid = change.key
            if group is None or (group.get("ItemGroupOID"), group.get("ItemGroupRepeatKey")) != (
                    group_oid, repeat):
                group = _el(node, "ItemGroupData", {"ItemGroupOID": group_oid,
                                                    "ItemGroupRepeatKey": repeat,
                                                    "TransactionType": "Upsert"})
            item = _el(group, "ItemData", {"ItemOID": item_oid,
                                           "TransactionType": change.transaction,
                                           "Value": change.value})
            self._audit(item, book, change.version)
            seq = 1
            for query in on_items.get((change.key, change.version.position), []):
                seq = _query_annotations(item, query, seq, self.users)

    def _signature(self, clinical: ET.Element, book: Casebook, signature: Signature) -> None:
        node = _el(clinical, "SubjectData", {"SubjectKey": book.subject_id,
                                             "TransactionType": "Context"})
        signed_at = datetime.fromisoformat(signature.signed_at)
        self._record(node, book, signature.signer, signed_at, signature.position, None)
        sign = _el(node, "Signature")
        self._user_ref(sign, signature.signer)
        _el(sign, "LocationRef", {"LocationOID": location_oid(book.site_id)})
        _el(sign, "SignatureRef", {"SignatureOID": signature_oid(signature.meaning)})
        _el(sign, "DateTimeStamp", text=_stamp(signed_at))
        _el(sign, "CryptoBindingManifest",
            text=f"covers the subject's events up to position {signature.covers_position}, "
                 f"hash chain head {signature.covers_hash}")
        _el(node, "SiteRef", {"LocationOID": location_oid(book.site_id)})
        state = "valid" if signature.invalidated_by_position is None else "invalidated"
        text = (f"Signed by {signature.printed_name} ({signature.signer}) for "
                f"{signature.meaning} at {_stamp(signed_at)}, position {signature.position}; ")
        text += ("valid: no later event in the casebook" if state == "valid" else
                 f"invalidated by the later event at position "
                 f"{signature.invalidated_by_position}")
        _annotation(node, 1, text, ("SIGNATURE_STATE", CL_SIGNATURE_STATE, state), site=True)

    def _audit(self, parent: ET.Element, book: Casebook, version: EntryVersion) -> None:
        reason = version.reason if version.kind != "original" else None
        self._record(parent, book, version.actor, version.recorded_at, version.position, reason)

    def _record(self, parent: ET.Element, book: Casebook, actor: str | None, moment: datetime,
                position: int, reason: str | None) -> None:
        record = _el(parent, "AuditRecord")
        self._user_ref(record, actor)
        _el(record, "LocationRef", {"LocationOID": location_oid(book.site_id)})
        _el(record, "DateTimeStamp", text=_stamp(moment))
        if reason:
            _el(record, "ReasonForChange", text=reason)
        _el(record, "SourceID", text=str(position))

    def _user_ref(self, parent: ET.Element, actor: str | None) -> None:
        name = actor or "unknown"
        self.users.add(name)
        _el(parent, "UserRef", {"UserOID": user_oid(name)})


def _place_queries(layout: FormLayout, book: Casebook, entry: Entry, history: list[ItemChange]
                   ) -> tuple[dict[tuple[Key, int], list[Query]], list[Query]]:
    """Put each query of the entry on the value it was raised about (the item's value current
    when it was opened), or on the form when it names no single item."""
    on_items: dict[tuple[Key, int], list[Query]] = {}
    on_form: list[Query] = []
    for query in book.workflow.queries.values():
        if query.entry_id != entry.entry_id:
            continue
        key = _query_key(layout, query.field)
        values = [c for c in history if c.key == key]
        if not values:
            on_form.append(query)
            continue
        earlier = [c for c in values if c.version.position <= query.opened_position]
        target = (earlier or values)[-1 if earlier else 0]
        on_items.setdefault((target.key, target.version.position), []).append(query)
    return on_items, on_form


def _query_key(layout: FormLayout, field_name: str | None) -> Key | None:
    name, _, key = (field_name or "").partition(".")
    spec = layout.fields.get(name)
    if spec is None or spec.group != layout.groups[0].oid:
        return None
    item = spec.items.get(key if spec.kind == "keys" else "")
    return (spec.group, None, item.oid) if item is not None else None


def _query_annotations(parent: ET.Element, query: Query, seq: int, users: set[str]) -> int:
    """One Annotation per step of the query (opened, answered, closed ...); return next SeqNum.

    Whoever took a step is added to ``users`` so that AdminData lists them.
    """
    for n, step in enumerate(query.history, 1):
        users.add(step["by"])
        action = step["action"].removeprefix("Query").lower()
        automatic = f" (automatic: {query.automatic})" if query.automatic else ""
        text = (f"Query {query.query_id} on {query.field or 'the entry'}{automatic}: {action} by "
                f"{step['by']} ({step.get('role') or '-'}) at "
                f"{_stamp(datetime.fromisoformat(step['at']))}, position {step['position']}: "
                f"{step.get('text') or '-'}")
        _annotation(parent, seq, text, ("QUERY_STATE", CL_QUERY_STATE,
                                        QUERY_STATE[step["action"]]),
                    site=step.get("role") in SITE, ident=f"Q.{query.query_id}.{n}")
        seq += 1
    return seq


def _annotation(parent: ET.Element, seq: int, text: str,
                flag: tuple[str, str, str] | None = None, *, site: bool = False,
                ident: str | None = None) -> None:
    node = _el(parent, "Annotation", {"SeqNum": seq, "TransactionType": "Insert", "ID": ident})
    _el(node, "Comment", {"SponsorOrSite": "Site" if site else "Sponsor"}, text)
    if flag is not None:
        flag_type, value_list, value = flag
        holder = _el(node, "Flag")
        _el(holder, "FlagValue", {"CodeListOID": value_list}, value)
        _el(holder, "FlagType", {"CodeListOID": CL_FLAG_TYPE}, flag_type)


# -- AdminData ------------------------------------------------------------------------------------


def user_oid(username: str) -> str:
    return f"USR.{username}"


def location_oid(site_id: str) -> str:
    return f"LOC.{site_id}"


def signature_oid(meaning: str) -> str:
    return oid("SD", meaning)


def _admin_data(store: EventStore, user: User, position: int, referenced: set[str],
                effective: date) -> ET.Element:
    """Users (accounts as of the position, and any other actor named), sites, SignatureDefs."""
    accounts = _accounts(store, position)
    sites = sorted({e.data["values"]["site_id"] for e in store.read_all(types=[REGISTRATION])
                    if e.position <= position}
                   | {s for a in accounts for s in a.sites if s != ALL_SITES})
    sites = [s for s in sites if user.sees_site(s)]
    admin = _el(None, "AdminData", {"StudyOID": STUDY_OID})
    listed = [a for a in accounts if a.username in referenced or ALL_SITES in a.sites
              or any(s in sites for s in a.sites)]
    for account in listed:
        node = _el(admin, "User", {"OID": user_oid(account.username),
                                   "UserType": USER_TYPES.get(account.role, "Other")})
        _el(node, "LoginName", text=account.username)
        state = "" if account.active else ", deactivated"
        _el(node, "DisplayName", text=f"{account.full_name} ({account.role}{state})")
        _el(node, "FullName", text=account.full_name)
        for site in sites if ALL_SITES in account.sites else [s for s in sites
                                                              if s in account.sites]:
            _el(node, "LocationRef", {"LocationOID": location_oid(site)})
    for name in sorted(referenced - {a.username for a in listed}):
        node = _el(admin, "User", {"OID": user_oid(name), "UserType": "Other"})
        _el(node, "LoginName", text=name)
        if name == SYSTEM.username:
            _el(node, "DisplayName", text=f"{SYSTEM.full_name} (system)")
    for site in sites:
        location = _el(admin, "Location", {"OID": location_oid(site), "Name": site,
                                           "LocationType": "Site"})
        _el(location, "MetaDataVersionRef", {"StudyOID": STUDY_OID, "MetaDataVersionOID": MDV_OID,
                                             "EffectiveDate": effective.isoformat()})
    for meaning in MEANINGS:
        definition = _el(admin, "SignatureDef", {"OID": signature_oid(meaning),
                                                 "Methodology": "Electronic"})
        _el(definition, "Meaning", text=SIGNATURE_MEANINGS.get(meaning, meaning))
        _el(definition, "LegalReason", text=LEGAL_REASON)
    return admin


def _accounts(store: EventStore, position: int) -> list[User]:
    accounts = []
    for stream in store.stream_ids("UserCreated"):
        account = fold_user(store.read_stream(stream, up_to_position=position))
        if account is not None and stream.startswith("user:"):
            accounts.append(account)
    return accounts


# -- XML helpers ----------------------------------------------------------------------------------


def _el(parent: ET.Element | None, tag: str, attrs: dict[str, Any] | None = None,
        text: str | None = None) -> ET.Element:
    """Make an ODM element (attributes that are None are left out).

    Tags are written unqualified: the root's ``xmlns`` puts them all in the ODM namespace.
    """
    attrib = {k: str(v) for k, v in (attrs or {}).items() if v is not None}
    node = ET.Element(tag, attrib) if parent is None else ET.SubElement(parent, tag, attrib)
    if text is not None:
        node.text = text
    return node


def _translated(parent: ET.Element, tag: str, text: str) -> None:
    _el(_el(parent, tag), "TranslatedText", {XML_LANG: "en"}, text)


def _stamp(moment: datetime) -> str:
    """An ISO 8601 UTC date-time with the Z suffix."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _decimal(value: float | int) -> str:
    """A number as an xs:decimal (never in exponent notation)."""
    if isinstance(value, int):
        return str(value)
    return format(Decimal(repr(float(value))), "f")
