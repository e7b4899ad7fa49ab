"""Every CSV writer neutralises cells that a spreadsheet would run as a formula (OWASP)."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest

from ecrf.api.audit import _cell
from ecrf.exports.csv_cells import text_cell
from ecrf.exports.csv_export import cell
from tests.api.examples import valid

ATTACKS = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)",
           "\t=1+1"]


@pytest.mark.parametrize("text", ATTACKS)
def test_a_text_that_could_start_a_formula_gets_a_leading_quote(text):
    assert text_cell(text) == "'" + text
    assert cell(text) == "'" + text
    assert _cell(text) == "'" + text


@pytest.mark.parametrize(("value", "written"), [(-5, "-5"), (-0.5, "-0.5"), (42, "42"),
                                                ("Cytokine release", "Cytokine release"),
                                                ("a=b", "a=b"), (None, "")])
def test_numbers_and_ordinary_texts_are_untouched(value, written):
    assert cell(value) == written
    assert _cell(value) == written


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_csv_zip_and_the_audit_csv_quote_an_injected_term(as_user, staff, subject):
    term = ATTACKS[0]
    reply = staff.post(f"/subjects/{subject}/forms/adverse_event",
                       valid("adverse_event", term=term, action="-tocilizumab"))
    assert reply.status_code == 201, reply.json
    dm = as_user("dm")
    archive = zipfile.ZipFile(io.BytesIO(dm.get("/export/csv").data))
    events = rows(archive.read("adverse_event.csv").decode())
    assert events[0]["term"] == "'" + term and events[0]["action"] == "'-tocilizumab"
    assert events[0]["ctcae_grade"] == "2"
    trail = rows(archive.read("audit_trail.csv").decode())
    assert {"'" + term, "'-tocilizumab"} <= {r["new_value"] for r in trail}
    for path in ("/audit?format=csv", f"/subjects/{subject}/audit-trail?format=csv"):
        audit = rows(dm.get(path).get_data(as_text=True))
        values = {r["new_value"] for r in audit}
        assert "'" + term in values and term not in values, path
