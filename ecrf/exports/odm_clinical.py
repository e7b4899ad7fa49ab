"""The ODM ClinicalData: per subject a ``SubjectData``, per visit a ``StudyEventData``, per entry
a ``FormData`` and per field one ``ItemData`` *per historical value*.

Each value (``Insert``, ``Update`` or ``Remove``) has its ``AuditRecord`` (user, site, time,
reason for change, ``SourceID`` = event position), since ODM allows one ``AuditRecord`` per
element. An entry of the ``UNSCHEDULED`` event is its own occurrence (``StudyEventRepeatKey`` =
entry id). A voided entry is written as inserted, with all its values, then ``Remove``d by a
second ``FormData`` carrying the void's audit record. Queries are annotations (one per step of
the query's life) on the value they concern; each signature is a further ``SubjectData`` of the
same subject carrying the ``Signature`` (``ID`` = ``SIG.`` + its log position). Datetime values
are written as stored (with the offset they carry).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ecrf.exports.odm_metadata import (
    CL_FLAG_TYPE,
    CL_QUERY_STATE,
    CL_SIGNATURE_STATE,
    CL_VERIFICATION_STATE,
    FormLayout,
    ItemSpec,
    form_layouts,
    study_events,
)
from ecrf.exports.odm_xml import (
    COMMON,
    UNSCHEDULED,
    decimal,
    el,
    location_oid,
    signature_oid,
    stamp,
    user_oid,
)
from ecrf.forms.registry import FORMS
from ecrf.permissions import SITE
from projections.casebook import Casebook, Entry, EntryVersion
from projections.trial_config import TrialConfig
from projections.workflow import QUERY_STATE, Query, Signature

Key = tuple[str, str | None, str]  # (ItemGroupOID, ItemGroupRepeatKey, ItemOID)


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
        return decimal(value)
    if item.data_type == "datetime" and isinstance(value, str):
        datetime.fromisoformat(value)  # a stored datetime is ISO 8601 with an offset
        return value  # written exactly as stored, with the offset it carries
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



class ClinicalWriter:
    """Writes SubjectData elements and notes every user they refer to (for AdminData)."""

    def __init__(self, config: TrialConfig) -> None:
        self.users: set[str] = set()
        self.events = {code: event_oid for event_oid, code, _, _ in study_events(config)}

    def subject(self, clinical: ET.Element, book: Casebook) -> None:
        node = el(clinical, "SubjectData", {"SubjectKey": book.subject_id,
                                             "TransactionType": "Insert"})
        registration = next((e for e in book.entries.values() if e.form == "registration"),
                            None)
        if registration is not None:
            self._audit(node, book, registration.versions[0])
        el(node, "SiteRef", {"LocationOID": location_oid(book.site_id)})
        if book.workflow.locked:
            _annotation(node, 1, f"Casebook locked: {book.workflow.lock_reason or '-'}")
        by_event: dict[str, list[Entry]] = {}
        for entry in book.entries.values():
            if entry.form in form_layouts():
                by_event.setdefault(self._event_of(entry), []).append(entry)
        for event_oid in self.events.values():
            if event_oid not in by_event:
                continue
            if event_oid == self.events[UNSCHEDULED]:  # repeating: one occurrence per entry
                occurrences = [(e.entry_id, [e]) for e in by_event[event_oid]]
            else:
                occurrences = [(None, by_event[event_oid])]
            for repeat_key, entries in occurrences:
                event = el(node, "StudyEventData", {"StudyEventOID": event_oid,
                                                    "StudyEventRepeatKey": repeat_key,
                                                    "TransactionType": "Upsert"})
                for entry in entries:
                    self._form(event, book, entry)
        for signature in book.workflow.signatures:
            self._signature(clinical, book, signature)

    def _event_of(self, entry: Entry) -> str:
        if not FORMS[entry.form].has_visit:
            return self.events[COMMON]
        return self.events.get(entry.visit or UNSCHEDULED, self.events[UNSCHEDULED])

    def _form(self, parent: ET.Element, book: Casebook, entry: Entry) -> None:
        layout = form_layouts()[entry.form]
        node = el(parent, "FormData", {"FormOID": layout.oid, "FormRepeatKey": entry.entry_id,
                                       "TransactionType": "Insert"})
        self._audit(node, book, entry.versions[0])
        history = item_history(layout, entry)
        on_items, on_form = _place_queries(layout, book, entry, history)
        seq = 1
        verification = book.workflow.verifications.get(entry.entry_id)
        if verification is not None:
            self.users.add(verification.verified_by)
            text = (f"Source data verified by {verification.verified_by} at "
                    f"{stamp(datetime.fromisoformat(verification.verified_at))} (position "
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
                group = el(node, "ItemGroupData", {"ItemGroupOID": group_oid,
                                                    "ItemGroupRepeatKey": repeat,
                                                    "TransactionType": "Upsert"})
            item = el(group, "ItemData", {"ItemOID": item_oid,
                                           "TransactionType": change.transaction,
                                           "Value": change.value})
            self._audit(item, book, change.version)
            seq = 1
            for query in on_items.get((change.key, change.version.position), []):
                seq = _query_annotations(item, query, seq, self.users)
        if entry.voided:  # the Remove of the form inserted just above, with the void's record
            removed = el(parent, "FormData", {"FormOID": layout.oid,
                                              "FormRepeatKey": entry.entry_id,
                                              "TransactionType": "Remove"})
            self._audit(removed, book, entry.versions[-1])

    def _signature(self, clinical: ET.Element, book: Casebook, signature: Signature) -> None:
        node = el(clinical, "SubjectData", {"SubjectKey": book.subject_id,
                                             "TransactionType": "Context"})
        signed_at = datetime.fromisoformat(signature.signed_at)
        self._record(node, book, signature.signer, signed_at, signature.position, None)
        sign = el(node, "Signature", {"ID": f"SIG.{signature.position}"})
        self._user_ref(sign, signature.signer)
        el(sign, "LocationRef", {"LocationOID": location_oid(book.site_id)})
        el(sign, "SignatureRef", {"SignatureOID": signature_oid(signature.meaning)})
        el(sign, "DateTimeStamp", text=stamp(signed_at))
        el(sign, "CryptoBindingManifest",
            text=f"covers the subject's events up to position {signature.covers_position}, "
                 f"hash chain head {signature.covers_hash}")
        el(node, "SiteRef", {"LocationOID": location_oid(book.site_id)})
        state = "valid" if signature.invalidated_by_position is None else "invalidated"
        text = (f"Signed by {signature.printed_name} ({signature.signer}) for "
                f"{signature.meaning} at {stamp(signed_at)}, position {signature.position}; ")
        text += ("valid: no later event in the casebook" if state == "valid" else
                 f"invalidated by the later event at position "
                 f"{signature.invalidated_by_position}")
        _annotation(node, 1, text, ("SIGNATURE_STATE", CL_SIGNATURE_STATE, state), site=True)

    def _audit(self, parent: ET.Element, book: Casebook, version: EntryVersion) -> None:
        reason = version.reason if version.kind != "original" else None
        self._record(parent, book, version.actor, version.recorded_at, version.position, reason)

    def _record(self, parent: ET.Element, book: Casebook, actor: str | None, moment: datetime,
                position: int, reason: str | None) -> None:
        record = el(parent, "AuditRecord")
        self._user_ref(record, actor)
        el(record, "LocationRef", {"LocationOID": location_oid(book.site_id)})
        el(record, "DateTimeStamp", text=stamp(moment))
        if reason:
            el(record, "ReasonForChange", text=reason)
        el(record, "SourceID", text=str(position))

    def _user_ref(self, parent: ET.Element, actor: str | None) -> None:
        name = actor or "unknown"
        self.users.add(name)
        el(parent, "UserRef", {"UserOID": user_oid(name)})


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
                f"{stamp(datetime.fromisoformat(step['at']))}, position {step['position']}: "
                f"{step.get('text') or '-'}")
        _annotation(parent, seq, text, ("QUERY_STATE", CL_QUERY_STATE,
                                        QUERY_STATE[step["action"]]),
                    site=step.get("role") in SITE, ident=f"Q.{query.query_id}.{n}")
        seq += 1
    return seq


def _annotation(parent: ET.Element, seq: int, text: str,
                flag: tuple[str, str, str] | None = None, *, site: bool = False,
                ident: str | None = None) -> None:
    node = el(parent, "Annotation", {"SeqNum": seq, "TransactionType": "Insert", "ID": ident})
    el(node, "Comment", {"SponsorOrSite": "Site" if site else "Sponsor"}, text)
    if flag is not None:
        flag_type, value_list, value = flag
        holder = el(node, "Flag")
        el(holder, "FlagValue", {"CodeListOID": value_list}, value)
        el(holder, "FlagType", {"CodeListOID": CL_FLAG_TYPE}, flag_type)
