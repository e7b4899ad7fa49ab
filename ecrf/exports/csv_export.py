"""The CSV export: one CSV per form with current values, plus the field-level audit trail, zipped.

Layout (docs/exports.md):

- ``<form>.csv`` for every form of ``FORMS`` (the header is written even when there are no rows):
  the key columns ``subject_id, site_id, entry_id, visit``, then one column per schema field in
  the schema's declaration order, read from the schema through ``ecrf.forms.describe`` (a field
  that is already a key column, such as ``visit``, is not repeated). One row per *current* entry:
  corrections applied, voided entries left out (they count for nothing; the audit trail keeps
  them). Empty visit for forms without one.
- ``audit_trail.csv``: long format, one row per field change (entered, corrected, cleared) and
  one row per void (field empty), for every entry (voided ones included) of every subject the
  user may see; the rows are those of ``projections.audit_trail`` (the one fold of the trail),
  less the workflow steps.
- ``README.txt``: what each file holds, the log position the data stand at and the export time.

Cells are written as stored in the events' JSON (a text that could start a spreadsheet formula
gets a leading ``'``, ``ecrf.exports.csv_cells``): dates ISO (``2026-01-05``), date-times ISO as
entered, offset included (``2026-10-03T01:30:00+02:00``), booleans ``true``/``false``, numbers
as JSON numbers, null as an empty cell, lists and objects (``prior_therapies``, ``sites``,
``answers``) as compact JSON text in one cell.

The whole export is one consistent snapshot: every subject is folded up to the same position
(the requested one, or the log head when the export starts).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ecrf.accounts.model import User
from ecrf.exports.csv_cells import text_cell
from ecrf.exports.csv_dictionary import extra_files, readme_lines
from ecrf.forms.describe import describe_form
from ecrf.forms.registry import FORMS, FormDef
from ecrf.permissions import require
from events import EventStore, RecordedEvent
from projections.audit_trail import audit_rows
from projections.casebook import REGISTRATION, Casebook, fold_casebook

KEY_COLUMNS = ("subject_id", "site_id", "entry_id", "visit")
AUDIT_FILE = "audit_trail.csv"
AUDIT_COLUMNS = ("position", "recorded_at", "subject_id", "site_id", "entry_id", "form", "visit",
                 "field", "old_value", "new_value", "action", "actor", "role", "reason")
ENTRY_ACTIONS = ("entered", "corrected", "cleared", "voided")


@dataclass(frozen=True)
class Subject:
    """A visible subject: its casebook and the events it was folded from (same position)."""

    book: Casebook
    events: list[RecordedEvent]


@dataclass(frozen=True)
class CsvExport:
    """A built export: the zip and what it covers (recorded with the ExportGenerated event)."""

    data: bytes
    position: int
    subject_ids: tuple[str, ...]
    exported_at: datetime


def build_csv_zip(store: EventStore, *, user: User, up_to_position: int | None = None) -> bytes:
    """Return the zip of the form CSVs, the audit trail and a README, as the user may see it."""
    return build_csv_export(store, user=user, up_to_position=up_to_position).data


def build_csv_export(store: EventStore, *, user: User, up_to_position: int | None = None,
                     now: datetime | None = None) -> CsvExport:
    """Build the export and say which position and subjects it covers."""
    require(user.role, "export.csv")
    exported_at = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    position, subjects = visible_subjects(store, user, up_to_position)
    books = [subject.book for subject in subjects]
    files: dict[str, str] = {"README.txt": ""}
    for form in FORMS.values():
        files[f"{form.name}.csv"] = _csv([form_header(form), *form_rows(form, books)])
    files[AUDIT_FILE] = _csv([AUDIT_COLUMNS, *audit_trail_rows(subjects)])
    headers = {form.name: form_header(form) for form in FORMS.values()}
    files.update({name: _csv(rows) for name, rows in extra_files(books, headers, cell).items()})
    files["README.txt"] = _readme(position, books, exported_at, user) + "\n".join(
        readme_lines())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            info = zipfile.ZipInfo(name, date_time=exported_at.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text.encode("utf-8"))
    return CsvExport(buffer.getvalue(), position, tuple(b.subject_id for b in books), exported_at)


def visible_subjects(store: EventStore, user: User, up_to_position: int | None
                     ) -> tuple[int, list[Subject]]:
    """Fold every subject the user may see (site isolation), all up to one position.

    Without a requested position the log head at the start is used, so that the files of one
    export agree with each other even while data are being entered.
    """
    head = store.head()
    latest = head.position if head else 0
    position = latest if up_to_position is None else min(up_to_position, latest)
    subjects = []
    for subject_id in store.stream_ids(REGISTRATION):
        events = store.read_stream(subject_id, up_to_position=position)
        book = fold_casebook(events)
        if book is not None and user.sees_site(book.site_id):
            subjects.append(Subject(book, events))
    return position, subjects


# -- the form files ----------------------------------------------------------------------------


def item_columns(form: FormDef) -> list[str]:
    """The form's fields in schema order, from the schema itself, less the key columns."""
    return [f["name"] for f in describe_form(form)["fields"] if f["name"] not in KEY_COLUMNS]


def form_header(form: FormDef) -> list[str]:
    return [*KEY_COLUMNS, *item_columns(form)]


def form_rows(form: FormDef, books: Iterable[Casebook]) -> Iterator[list[str]]:
    """One row per current (not voided) entry of the form, subjects in registration order."""
    columns = item_columns(form)
    for book in books:
        for entry in book.current(form.name):
            yield [book.subject_id, book.site_id, entry.entry_id, cell(entry.visit),
                   *(cell(entry.values.get(name)) for name in columns)]


# -- the audit trail ---------------------------------------------------------------------------


def audit_trail_rows(subjects: Iterable[Subject]) -> list[list[str]]:
    """The entry changes of the subjects' audit trails (projections.audit_trail), in log order.

    Workflow steps (queries, verification, signatures, locks) are left out: this file holds the
    values; the full trail is ``GET /api/v1/audit?format=csv``.
    """
    rows = [row for subject in subjects for row in audit_rows(subject.events)
            if row["action"] in ENTRY_ACTIONS]
    rows.sort(key=lambda row: row["position"])  # stable: field order kept within an event
    return [[cell(row.get(column)) for column in AUDIT_COLUMNS] for row in rows]


# -- cells and files ---------------------------------------------------------------------------


def cell(value: Any) -> str:
    """Write a stored JSON value in one CSV cell (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return text_cell(value)
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _csv(rows: Iterable[Iterable[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def _readme(position: int, books: list[Casebook], exported_at: datetime, user: User) -> str:
    sites = sorted({b.site_id for b in books})
    lines = [
        "eCRF export: CAR-T in chronic or refractory primary ITP",
        "",
        f"Exported at:      {exported_at.isoformat()} (UTC)",
        f"Exported by:      {user.username} ({user.role})",
        f"As of position:   {position} (event log position; later events are not included)",
        f"Subjects:         {len(books)} (sites: {', '.join(sites) or 'none'}; only the sites"
        " of the exporting user)",
        "",
        "Files (UTF-8, comma-separated, RFC 4180 quoting, header row always present):",
        "",
    ]
    for form in FORMS.values():
        lines.append(f"{form.name}.csv")
        lines.append(f"    {form.title}: one row per current entry (corrections applied, voided"
                     " entries left out).")
        lines.append(f"    Columns: {', '.join(form_header(form))}")
    lines += [
        AUDIT_FILE,
        "    The field-level audit trail in long format: one row per field entered, corrected"
        " or cleared, and one row per voided entry (field empty), for every entry including"
        " voided ones, in log order.",
        f"    Columns: {', '.join(AUDIT_COLUMNS)}",
        "    action: entered (original submission; old_value empty), corrected (old -> new),"
        " cleared (new_value empty), voided.",
        "README.txt",
        "    This file.",
        "",
        "Values: as stored. Dates ISO 8601 (2026-01-05); date-times ISO 8601 as entered, with"
        " the offset the site gave (2026-10-03T01:30:00+02:00); booleans true/false; empty"
        " cell = no value; lists and objects (e.g. prior_therapies) as JSON text in one cell."
        " Units are those of the CRF specification (platelets in 10^9/L).",
        "",
    ]
    return "\n".join(lines)
