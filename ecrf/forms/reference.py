"""The form reference (docs/forms.md), written from the form schemas so it cannot drift.

``ecrf form-reference`` writes it; a test checks that the committed file equals what this
module generates, so a schema change without a regenerated reference fails the suite.
"""

from __future__ import annotations

from typing import Any

from ecrf.forms.describe import describe_all
from ecrf.permissions import FORM_ACTIONS, PERMISSIONS, ROLES

HEADER = """# Form reference

Generated from the form schemas by `ecrf form-reference` (module `ecrf.forms.reference`): do
not edit by hand; a test fails when this file and the schemas disagree. `GET /api/v1/forms`
returns the same descriptions as JSON.

Every form is submitted with `POST /api/v1/subjects/{subject_id}/forms/{form}` (registration:
`POST /api/v1/subjects`). Dates are `YYYY-MM-DD`; date-times are ISO 8601 with their offset,
e.g. `2026-11-04T08:30:00+01:00`. A field may be required only under a condition ("required
when"); ranges are inclusive unless marked exclusive.
"""


def form_reference() -> str:
    """The whole reference as Markdown, in the registry's (crf-spec) order."""
    parts = [HEADER, "## Forms\n", *(f"- [{f['title']}](#{f['name']}) (`{f['name']}`)"
                                     for f in describe_all()), ""]
    for form in describe_all():
        parts.append(_form(form))
    return "\n".join(parts).rstrip() + "\n"


def _form(form: dict[str, Any]) -> str:
    lines = [f'<a id="{form["name"]}"></a>', f"## {form['title']} (`{form['name']}`)", "",
             f"Recorded as `{form['event_type']}`; family {form['family']}; "
             f"{'has' if form['has_visit'] else 'no'} visit code. Entered by: "
             f"{', '.join(_roles(form['name']))}.", "",
             "| Field | Type | Unit | Required | Range | Choices | Description |",
             "|---|---|---|---|---|---|---|"]
    for field in form["fields"]:
        lines += _rows(field, "")
    return "\n".join(lines) + "\n"


def _roles(form: str) -> list[str]:
    action = "subject.register" if form == "registration" else "form.submit"
    allowed = PERMISSIONS[action]
    if form in FORM_ACTIONS:
        allowed = allowed & PERMISSIONS[FORM_ACTIONS[form]]
    return [role for role in ROLES if role in allowed]


def _rows(field: dict[str, Any], prefix: str) -> list[str]:
    name = f"{prefix}{field['name']}"
    kind = field["type"] + (f" of {field['items']}" if field.get("items") else "")
    if field.get("keys"):
        kind += f" (keys: {', '.join(field['keys'])})"
    required = "yes" if field["required"] else (
        f"when {field['required_when']}" if field["required_when"] else "no")
    choices = ", ".join(f"`{c}`" for c in field["choices"] or [])
    if field.get("pattern"):
        choices = (choices + "; " if choices else "") + f"pattern `{field['pattern']}`"
    cells = [f"`{name}`", kind, field["unit"] or "", required, _range(field), choices,
             field["description"] or ""]
    rows = ["| " + " | ".join(_cell(c) for c in cells) + " |"]
    for sub in field.get("fields") or []:
        rows += _rows(sub, f"{name}[].")
    return rows


def _range(field: dict[str, Any]) -> str:
    low, high = field["minimum"], field["maximum"]
    if low is None and high is None:
        return ""
    left = "" if low is None else f"{'>' if field['exclusive_minimum'] else '≥'} {low:g}"
    right = "" if high is None else f"{'<' if field['exclusive_maximum'] else '≤'} {high:g}"
    return ", ".join(p for p in (left, right) if p)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
