"""The ODM file's constants and XML helpers, shared by the metadata and clinical data writers."""

from __future__ import annotations

import importlib.metadata
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

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


def oid(*parts: str) -> str:
    """Build an OID from a prefix and names, upper-cased: ``IT.PLATELET_COUNT.PLATELETS``."""
    return ".".join(part.upper() for part in parts)


def user_oid(username: str) -> str:
    return f"USR.{username}"


def location_oid(site_id: str) -> str:
    return f"LOC.{site_id}"


def signature_oid(meaning: str) -> str:
    return oid("SD", meaning)


def el(parent: ET.Element | None, tag: str, attrs: dict[str, Any] | None = None,
       text: str | None = None) -> ET.Element:
    """Make an ODM element (attributes that are None are left out).

    Tags are written unqualified: the root's ``xmlns`` puts them all in the ODM namespace.
    """
    attrib = {k: str(v) for k, v in (attrs or {}).items() if v is not None}
    node = ET.Element(tag, attrib) if parent is None else ET.SubElement(parent, tag, attrib)
    if text is not None:
        node.text = text
    return node


def translated(parent: ET.Element, tag: str, text: str) -> None:
    el(el(parent, tag), "TranslatedText", {XML_LANG: "en"}, text)


def stamp(moment: datetime) -> str:
    """An ISO 8601 UTC date-time with the Z suffix."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def decimal(value: float | int) -> str:
    """A number as an xs:decimal (never in exponent notation)."""
    if isinstance(value, int):
        return str(value)
    return format(Decimal(repr(float(value))), "f")
