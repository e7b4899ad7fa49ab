"""docs/sdtm.md shows the mapping exactly as the code has it (no database)."""

from __future__ import annotations

from pathlib import Path

from ecrf.exports.sdtm.docs import mapping_markdown
from ecrf.exports.sdtm.domains_findings import NOT_RESULTS
from ecrf.exports.sdtm.mapping import DOMAINS
from ecrf.exports.sdtm.terminology import CODELISTS, FIELD_CODELISTS
from ecrf.forms.describe import describe_form
from ecrf.forms.registry import FORMS

DOC = Path(__file__).resolve().parents[2] / "docs" / "sdtm.md"


def test_docs_hold_the_generated_mapping_tables():
    assert mapping_markdown() in DOC.read_text(encoding="utf-8"), (
        "docs/sdtm.md is out of date: paste `python -m ecrf.exports.sdtm.docs` into it")


def test_every_mapped_field_and_value_exists_in_the_forms():
    for (form, field), name in FIELD_CODELISTS.items():
        described = {f["name"]: f for f in describe_form(FORMS[form])["fields"]}
        top, _, sub = field.partition(".")
        assert top in described, (form, field)
        spec = described[top]
        if sub:
            spec = next(s for s in spec["fields"] if s["name"] == sub)
        choices = spec.get("choices") or []
        if spec["type"] == "boolean":
            choices = ["true", "false"]
        missing = [c for c in choices if str(c) not in CODELISTS[name].values
                   and not (form == "screening_labs" and c in NOT_RESULTS)]  # LBSTAT / no row
        assert not missing, (form, field, missing)


def test_names_and_labels_fit_sas_transport():
    for domain in DOMAINS.values():
        assert len(domain.code) <= 4
        names = [v.name for v in domain.variables]
        assert len(names) == len(set(names)), domain.code
        for variable in domain.variables:
            assert variable.name.isupper() and len(variable.name) <= 8, variable.name
            assert len(variable.label) <= 40, variable.label
            assert variable.codelist is None or variable.codelist in CODELISTS
