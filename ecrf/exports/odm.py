"""The CDISC ODM 1.3.2 export: the forms as metadata, every value with its whole audit history.

A *Transactional* ODM file (docs/odm-export.md has the mapping table and the reasons), built
with the standard library's ElementTree from three parts: the ``Study`` metadata
(ecrf/exports/odm_metadata.py, derived only from the forms and the visit schedule), the
``AdminData`` (odm_admin.py) and the ``ClinicalData`` (odm_clinical.py). The whole document is
one consistent snapshot of the log up to one position (the requested one, or the head when the
export starts).
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from ecrf.accounts.model import ALL_SITES, User
from ecrf.exports.odm_admin import admin_data
from ecrf.exports.odm_clinical import ClinicalWriter
from ecrf.exports.odm_metadata import study_element
from ecrf.exports.odm_xml import (
    MDV_OID,
    NS,
    ODM_VERSION,
    SOFTWARE_VERSION,
    STUDY_OID,
    el,
    stamp,
)
from ecrf.permissions import require
from events import EventStore
from projections.casebook import REGISTRATION, Casebook, fold_casebook
from projections.trial_config import DEFAULT_TRIAL, TrialConfig


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
    writer = ClinicalWriter(config)
    clinical = el(None, "ClinicalData", {"StudyOID": STUDY_OID, "MetaDataVersionOID": MDV_OID})
    for book in books:
        writer.subject(clinical, book)
    root.append(admin_data(store, user, position, writer.users, created.date()))
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
    return el(None, "ODM", {
        "xmlns": NS, "Description": description, "FileType": file_type,
        "Granularity": granularity, "FileOID": f"ODM.{STUDY_OID}.{uuid.uuid4().hex}",
        "CreationDateTime": stamp(created), "AsOfDateTime": as_of, "ODMVersion": ODM_VERSION,
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
    return stamp(event[0].recorded_at) if event else None
