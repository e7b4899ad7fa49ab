"""The PDF casebook of one subject, for the site archive (fpdf2; text, not images).

Every entry with its values and units (voided ones marked, with the reason), every change with
the old and new value, who, role, when (UTC) and why, with date-times shown as entered and in
UTC; the queries with each step; source data verification; signatures with printed name, date
and time and meaning (21 CFR 11.50). The subject id and "page n of N" are on every page; the
last page gives the log position, the head hash and the checkpoint passed in (a dict
``{"position", "hash", "recorded_at", "signed_at", "key_id", "signature"}``; the signature
fields may be absent). The font is DejaVu Sans, shipped with matplotlib (a runtime dependency):
Latin, Greek, Cyrillic and many symbols print; a character it lacks (a CJK ideograph, a control
character) prints as its code point, ``[U+767A]``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from ecrf.exports.odm_admin import SIGNATURE_MEANINGS
from ecrf.exports.odm_xml import STUDY_NAME, stamp
from ecrf.forms.describe import describe_form
from ecrf.forms.registry import FORMS
from events import EventStore, RecordedEvent
from projections.audit_trail import audit_rows
from projections.casebook import Casebook, Entry

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONT = "DejaVu"
MONO = "DejaVuMono"  # the checkpoint's fields: every character the same width, so a signature
MONO_SIZE = 8        # of 88 base64 characters always fits one line and is copied whole
CHECKPOINT_FIELDS = ("position", "hash", "recorded_at", "signed_at", "key_id", "signature")


class _CasebookPdf(FPDF):
    def __init__(self, subject_id: str, site_id: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.subject_id, self.site_id = subject_id, site_id
        self.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.add_font(MONO, "", str(FONT_DIR / "DejaVuSansMono.ttf"))
        self.set_auto_page_break(auto=True, margin=18)
        self._widths: dict[tuple[str, str, float, str], float] = {}
        self.alias_nb_pages()

    def header(self) -> None:
        self.set_font(FONT, "", 8)
        self.cell(0, 5, f"Casebook of subject {self.subject_id} - site {self.site_id} - "
                        f"{STUDY_NAME}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(2)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(FONT, "", 8)
        self.cell(0, 5, f"Subject {self.subject_id} - page {self.page_no()} of {{nb}}",
                  align="C")

    def heading(self, text: str, size: int = 12) -> None:
        self.set_font(FONT, "B", size)
        width = self.w - self.r_margin - self.l_margin
        for line in self._wrap(text, width):
            self.cell(width, 6, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", 9)

    def line_text(self, text: str, indent: float = 0) -> None:
        """Write a paragraph, wrapped at spaces (fpdf2's multi_cell measures the growing line
        once per character, which makes a long casebook take seconds; words are measured once)."""
        width = self.w - self.r_margin - self.l_margin - indent
        for line in self._wrap(text, width):
            self.set_x(self.l_margin + indent)
            self.cell(width, 4.6, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def _width(self, word: str) -> float:
        key = (self.font_family, self.font_style, self.font_size_pt, word)
        found = self._widths.get(key)
        if found is None:
            found = self._widths[key] = self.get_string_width(word)
        return found

    def printable(self, text: str) -> str:
        """The text with each character the font cannot draw (a CJK ideograph, a control
        character) written as its code point, ``[U+767A]``, so that nothing entered is lost."""
        cmap = self.current_font.cmap
        return "".join(c if ord(c) in cmap or c in "\n " else f"[U+{ord(c):04X}]" for c in text)

    def _wrap(self, text: str, width: float) -> list[str]:
        text = self.printable(text)
        lines: list[str] = []
        space = self._width(" ")
        for paragraph in text.split("\n"):
            line, used = "", 0.0
            for word in paragraph.split(" "):
                size = self._width(word)
                while size > width and word:  # a word longer than the line: cut it
                    if line:
                        lines.append(line)
                        line, used = "", 0.0
                    cut = len(word)
                    while cut > 1 and self._width(word[:cut]) > width:
                        cut = max(1, int(cut * width / self._width(word[:cut])) - 1)
                    lines.append(word[:cut])
                    word = word[cut:]
                    size = self._width(word)
                if line and used + space + size > width:
                    lines.append(line)
                    line, used = word, size
                else:
                    line, used = (f"{line} {word}" if line else word,
                                  used + (space if line else 0) + size)
            lines.append(line)
        return lines


def as_entered(value: Any) -> str:
    """A value as entered; a date-time with an offset also in UTC."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if value is None:
        return "(blank)"
    text = str(value)
    if "T" in text and len(text) >= 19:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return text
        if moment.tzinfo is not None:
            return f"{text} (UTC {stamp(moment)})"
    return text


def build_casebook_pdf(book: Casebook, events: list[RecordedEvent],
                       checkpoint: dict[str, Any], *, now: datetime | None = None) -> bytes:
    """The casebook as a PDF; ``events`` are the subject's events up to the casebook's position."""
    created = (now or datetime.now(UTC)).astimezone(UTC)
    pdf = _CasebookPdf(book.subject_id, book.site_id)
    pdf.add_page()
    pdf.heading(f"Casebook of subject {book.subject_id}", 16)
    lock = (f"locked: {book.workflow.lock_reason or '-'}" if book.workflow.locked
            else "not locked")
    pdf.line_text(f"Site {book.site_id}; status {book.status}; {lock}.")
    pdf.line_text(f"Printed {stamp(created)} UTC from the subject's events up to log position "
                  f"{book.position}.")
    pdf.ln(3)
    changes = _changes_by_entry(events)
    for entry in book.entries.values():
        _entry(pdf, book, entry, changes.get(entry.entry_id, []))
    _signatures(pdf, book)
    _checkpoint(pdf, book, checkpoint)
    return bytes(pdf.output())


def _changes_by_entry(events: list[RecordedEvent]) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in audit_rows(events):
        if row["entry_id"] and row["action"] in ("corrected", "cleared", "voided"):
            rows.setdefault(row["entry_id"], []).append(row)
    return rows


def _entry(pdf: _CasebookPdf, book: Casebook, entry: Entry, changes: list[dict[str, Any]]
           ) -> None:
    form = FORMS.get(entry.form)
    title = form.title if form else entry.form
    first = entry.versions[0]
    pdf.heading(f"{title} - visit {entry.visit or '-'}" + ("  [VOIDED]" if entry.voided else ""),
                11)
    pdf.line_text(f"Entry {entry.entry_id}, entered by {first.actor} ({first.role}) at "
                  f"{stamp(first.recorded_at)} UTC, log position {first.position}.")
    if entry.voided:
        pdf.line_text(f"Voided: {entry.void_reason or '-'} (position "
                      f"{entry.versions[-1].position}, by {entry.versions[-1].actor}).")
    fields = describe_form(form)["fields"] if form else []
    units = {f["name"]: f.get("unit") for f in fields}
    labels = {f["name"]: f.get("description") or f["name"] for f in fields}
    for name in [f["name"] for f in fields] + [n for n in entry.values if n not in units]:
        if name not in entry.values:
            continue
        unit = f" {units[name]}" if units.get(name) else ""
        pdf.line_text(f"{labels.get(name, name)} [{name}]: {as_entered(entry.values[name])}"
                      f"{unit}", indent=4)
    for name, value in (entry.derived or {}).items():
        pdf.line_text(f"derived {name}: {as_entered(value)}", indent=4)
    verification = book.workflow.verifications.get(entry.entry_id)
    if verification is not None:
        state = ("verified" if verification.state == "verified" else
                 f"verification voided by the correction at position "
                 f"{verification.voided_by_position}")
        pdf.line_text(f"Source data verification: {state}; by {verification.verified_by} at "
                      f"{stamp(datetime.fromisoformat(verification.verified_at))} UTC "
                      f"(position {verification.position}).", indent=4)
    else:
        pdf.line_text("Source data verification: not verified.", indent=4)
    if changes:
        pdf.line_text("Changes:", indent=4)
    for row in changes:
        when = stamp(datetime.fromisoformat(row["recorded_at"]))
        if row["action"] == "voided":
            pdf.line_text(f"position {row['position']}, {when} UTC, {row['actor']} "
                          f"({row['role']}): voided the entry. Reason: {row['reason'] or '-'}",
                          indent=8)
            continue
        pdf.line_text(f"position {row['position']}, {when} UTC, {row['actor']} ({row['role']}): "
                      f"{row['field']} changed from {as_entered(row['old_value'])} to "
                      f"{as_entered(row['new_value'])}. Reason: {row['reason'] or '-'}",
                      indent=8)
    queries = [q for q in book.workflow.queries.values() if q.entry_id == entry.entry_id]
    for query in queries:
        pdf.line_text(f"Query on {query.field or 'the entry'} ({query.state}"
                      f"{', automatic: ' + query.automatic if query.automatic else ''}):",
                      indent=4)
        for step in query.history:
            pdf.line_text(f"{step['action'].removeprefix('Query').lower()} by {step['by']} "
                          f"({step.get('role') or '-'}) at "
                          f"{stamp(datetime.fromisoformat(step['at']))} UTC, position "
                          f"{step['position']}: {step.get('text') or '-'}", indent=8)
    pdf.ln(2)


def _signatures(pdf: _CasebookPdf, book: Casebook) -> None:
    pdf.heading("Electronic signatures (21 CFR 11.50)", 12)
    if not book.workflow.signatures:
        pdf.line_text("The casebook has not been signed.")
    for signature in book.workflow.signatures:
        valid = ("valid" if signature.invalidated_by_position is None else
                 f"invalidated by the later event at position "
                 f"{signature.invalidated_by_position}")
        meaning = SIGNATURE_MEANINGS.get(signature.meaning, signature.meaning)
        pdf.line_text(f"Signed by {signature.printed_name} ({signature.signer}) on "
                      f"{stamp(datetime.fromisoformat(signature.signed_at))} UTC. "
                      f"Meaning: {meaning} Covers the subject's events up to position "
                      f"{signature.covers_position} (hash {signature.covers_hash}); signature "
                      f"recorded at position {signature.position}; {valid}.")
    pdf.ln(2)


def _checkpoint(pdf: _CasebookPdf, book: Casebook, checkpoint: dict[str, Any]) -> None:
    pdf.add_page()
    pdf.heading("Integrity of this casebook", 12)
    pdf.line_text(f"This casebook shows the subject's events up to log position "
                  f"{book.position}.")
    pdf.line_text("Checkpoint of the event log at the moment the casebook was printed:")
    pdf.set_font(MONO, "", MONO_SIZE)
    for name in CHECKPOINT_FIELDS:
        value = checkpoint.get(name)
        if isinstance(value, datetime):
            value = stamp(value)
        pdf.line_text(f"{name}: {value if value is not None else '(not signed)'}", indent=4)
    pdf.set_font(FONT, "", 9)
    pdf.line_text("Anyone holding the database can check that the event at this position "
                  "still has this hash (ecrf verify), so nothing before it changed.")


def head_checkpoint(store: EventStore) -> dict[str, Any]:
    """The checkpoint printed on the last page: the log's head signed now with the server's
    key (ecrf.evidence.fresh_checkpoint); only a store without a key prints it unsigned."""
    from ecrf.evidence import fresh_checkpoint

    signed = fresh_checkpoint(store)
    if signed is not None:
        return signed
    head = store.head()
    return {"position": head.position if head else 0, "hash": head.hash if head else None,
            "recorded_at": head.recorded_at if head else None}
