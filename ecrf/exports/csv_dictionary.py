"""What the CSV zip adds beside the form files: a data dictionary, the lists as rows, and the
derived values.

- ``data_dictionary.csv``: one row per column of every CSV of the zip (form files, list files,
  ``derived_values.csv``), with its label, type, unit, code list (the allowed values joined by
  ``|``), whether it is required and where it comes from (``form``, ``key``, ``list`` or
  ``derived``), read from the form schemas through ``ecrf.forms.describe``.
- ``<form>__<field>.csv`` for each list or keyed field (``itp_history__prior_therapies.csv``,
  ``ie_checklist__answers.csv``, ``adverse_event__seriousness.csv`` ...): one row per element
  (``element`` is its 1-based index) or key, so no cell holds JSON that a reader must parse.
- ``derived_values.csv``: the values the server derives at entry (body surface area, doses per
  m2, flags), one row per entry and value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ecrf.forms.describe import describe_form
from ecrf.forms.registry import FORMS
from projections.casebook import Casebook

DICTIONARY_FILE = "data_dictionary.csv"
DERIVED_FILE = "derived_values.csv"
DICTIONARY_COLUMNS = ("file", "column", "label", "type", "unit", "code_list", "required",
                      "source")
KEYS = ("subject_id", "site_id", "entry_id")
KEY_LABELS = {"subject_id": "subject identifier", "site_id": "site identifier",
              "entry_id": "entry identifier (the API's and the audit trail's)",
              "visit": "visit code from the schedule, or UNSCHEDULED",
              "element": "1-based position of the element in the list",
              "key": "the key of the value", "form": "form name", "name": "derived value name",
              "value": "the value"}
# form -> derived value -> (label, type, unit): what ecrf/commands/derived.py stores
DERIVED: dict[str, dict[str, tuple[str, str, str | None]]] = {
    "lymphodepletion": {
        "bsa_m2": ("body surface area (Mosteller), rounded to 0.01", "number", "m2"),
        "fludarabine_mg_m2": ("fludarabine dose per m2 of body surface area", "number", "mg/m2"),
        "cyclophosphamide_mg_m2": ("cyclophosphamide dose per m2 of body surface area", "number",
                                   "mg/m2"),
    },
    "*": {"flags": ("flags set at entry (off-protocol dose, course length, visit window), "
                    "one row each", "enum", None)},
}


def _join(choices: Iterable[Any] | None) -> str:
    return "|".join(str(c) for c in choices or [])


def list_fields(form_name: str) -> list[dict[str, Any]]:
    """The form's list fields and keyed objects, each of which gets its own file."""
    return [f for f in describe_form(FORMS[form_name])["fields"]
            if f["type"] == "list" or (f["type"] == "object" and f.get("keys"))]


def list_file(form_name: str, field: dict[str, Any]) -> str:
    return f"{form_name}__{field['name']}.csv"


def _list_columns(field: dict[str, Any]) -> list[str]:
    if field["type"] == "object":
        return [*KEYS, "key", "value"]
    if field.get("fields"):
        return [*KEYS, "element", *(sub["name"] for sub in field["fields"])]
    return [*KEYS, "element", "value"]


def dictionary_rows(form_headers: dict[str, list[str]]) -> list[list[str]]:
    """The dictionary: every column of every form file, list file and the derived file."""
    rows: list[list[str]] = []
    for form in FORMS.values():
        described = {f["name"]: f for f in describe_form(form)["fields"]}
        file = f"{form.name}.csv"
        for column in form_headers[form.name]:
            field = described.get(column)
            if field is None:
                rows.append([file, column, KEY_LABELS.get(column, column), "string", "", "",
                             "true", "key"])
                continue
            kind = field["type"]
            note = (f"; one row per element in {list_file(form.name, field)}"
                    if column in {f["name"] for f in list_fields(form.name)} else "")
            rows.append([file, column, field["description"] + note, kind, field.get("unit") or "",
                         _join(field.get("choices")), str(bool(field["required"])).lower(),
                         "form"])
        for field in list_fields(form.name):
            file = list_file(form.name, field)
            subs = {s["name"]: s for s in field.get("fields") or []}
            for column in _list_columns(field):
                if column in KEYS or column in ("element", "key"):
                    choices = field.get("keys") if column == "key" else None
                    rows.append([file, column, KEY_LABELS[column], "string" if column != "element"
                                 else "integer", "", _join(choices), "true", "key"])
                elif column in subs:
                    sub = subs[column]
                    rows.append([file, column, sub["description"], sub["type"],
                                 sub.get("unit") or "", _join(sub.get("choices")),
                                 str(bool(sub["required"])).lower(), "list"])
                else:
                    rows.append([file, column, field["description"],
                                 field.get("items") or "enum", field.get("unit") or "",
                                 _join(field.get("choices")), "true", "list"])
    for column in (*KEYS, "form", "name", "value"):
        rows.append([DERIVED_FILE, column, KEY_LABELS[column], "string", "", "", "true",
                     "key" if column != "value" else "derived"])
    for form, values in DERIVED.items():
        for name, (label, kind, unit) in values.items():
            where = "every form" if form == "*" else form
            rows.append([DERIVED_FILE, f"value where form={where} and name={name}", label, kind,
                         unit or "", "", "false", "derived"])
    return rows


def list_rows(form_name: str, field: dict[str, Any], books: Iterable[Casebook], cell
              ) -> list[list[str]]:
    """One row per element (or key) of the field in every current entry of the form."""
    rows: list[list[str]] = [_list_columns(field)]
    subs = [s["name"] for s in field.get("fields") or []]
    for book in books:
        for entry in book.current(form_name):
            value = entry.values.get(field["name"])
            keys = [book.subject_id, book.site_id, entry.entry_id]
            if isinstance(value, dict):
                rows += [[*keys, key, cell(answer)] for key, answer in value.items()]
            elif isinstance(value, list):
                for n, element in enumerate(value, 1):
                    if subs and isinstance(element, dict):
                        rows.append([*keys, str(n), *(cell(element.get(s)) for s in subs)])
                    else:
                        rows.append([*keys, str(n), cell(element)])
    return rows


def derived_rows(books: Iterable[Casebook], cell) -> list[list[str]]:
    rows: list[list[str]] = [[*KEYS, "form", "name", "value"]]
    for book in books:
        for entry in book.current():
            for name, value in (entry.derived or {}).items():
                values = value if isinstance(value, list) else [value]
                rows += [[book.subject_id, book.site_id, entry.entry_id, entry.form, name,
                          cell(v)] for v in values]
    return rows


def extra_files(books: list[Casebook], form_headers: dict[str, list[str]], cell
                ) -> dict[str, list[list[str]]]:
    """The files this module adds to the zip: name -> rows (header first)."""
    files: dict[str, list[list[str]]] = {
        DICTIONARY_FILE: [list(DICTIONARY_COLUMNS), *dictionary_rows(form_headers)]}
    for form in FORMS.values():
        for field in list_fields(form.name):
            files[list_file(form.name, field)] = list_rows(form.name, field, books, cell)
    files[DERIVED_FILE] = derived_rows(books, cell)
    return files


def readme_lines() -> list[str]:
    """The README's paragraph on the added files."""
    return [
        DICTIONARY_FILE,
        "    One row per column of every CSV in this zip: label, type, unit, code list (the"
        " allowed values joined by |), required, source (key, form, list or derived).",
        "<form>__<field>.csv",
        "    One per list or keyed field (e.g. itp_history__prior_therapies.csv,"
        " ie_checklist__answers.csv): one row per list element (element = 1-based index) or"
        " key of every current entry, so that no JSON cell has to be parsed.",
        DERIVED_FILE,
        "    The values derived at entry (body surface area, doses per m2, flags), one row per"
        " entry and value.",
        "",
    ]
