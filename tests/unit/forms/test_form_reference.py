"""docs/forms.md is generated from the form schemas and cannot drift (#14 item 7)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from ecrf.cli import main
from ecrf.forms.reference import form_reference
from ecrf.forms.registry import FORMS

COMMITTED = Path(__file__).resolve().parents[3] / "docs" / "forms.md"


def test_the_committed_reference_equals_the_generated_one():
    assert COMMITTED.read_text(encoding="utf-8") == form_reference(), (
        "docs/forms.md is out of date: run `ecrf form-reference`")


def test_the_reference_names_every_form_and_field():
    text = form_reference()
    for form in FORMS.values():
        assert f"## {form.title} (`{form.name}`)" in text
        assert f"Recorded as `{form.event_type}`" in text
        for name in form.schema.fields:
            assert f"| `{name}` |" in text, (form.name, name)


def test_the_reference_says_who_enters_each_form():
    text = form_reference()
    checklist = text.split("## Inclusion and exclusion checklist")[1].split("\n## ")[0]
    assert "Entered by: investigator." in checklist
    assert "Entered by: site_staff, investigator." in text


def test_the_command_writes_the_file_and_checks_it(tmp_path):
    runner, target = CliRunner(), tmp_path / "forms.md"
    assert runner.invoke(main, ["form-reference", "--check", str(target)]).exit_code == 1
    written = runner.invoke(main, ["form-reference", str(target)])
    assert written.exit_code == 0, written.output
    assert target.read_text(encoding="utf-8") == form_reference()
    assert runner.invoke(main, ["form-reference", "--check", str(target)]).exit_code == 0
    target.write_text(form_reference().replace("platelets", "plates"), encoding="utf-8")
    stale = runner.invoke(main, ["form-reference", "--check", str(target)])
    assert stale.exit_code == 1 and "out of date" in stale.output
