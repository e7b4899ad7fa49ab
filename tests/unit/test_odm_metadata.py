"""ItemDef Length and SASFieldName, derived from the schemas (no database)."""

from __future__ import annotations

from marshmallow import fields, validate

from ecrf.exports.odm_metadata import ItemSpec, SasNames, _max_length, sas_name


def test_a_length_validator_of_the_schema_sets_the_text_length():
    limited = fields.String(validate=validate.Length(max=60))
    assert _max_length(limited) == 60
    assert _max_length(fields.String()) is None
    described = {"type": "string", "description": "term"}
    assert ItemSpec("IT.X", "x", "text", False, described, max_length=60).length == 60
    assert ItemSpec("IT.X", "x", "text", False, described).length == 200  # SDTM's maximum


def test_number_lengths_come_from_the_bounds():
    spec = ItemSpec("IT.X", "x", "integer", True, {"type": "integer", "minimum": 0,
                                                  "maximum": 5})
    assert spec.length == 1
    signed = ItemSpec("IT.X", "x", "float", True, {"type": "number", "minimum": -40,
                                                  "maximum": 1000})
    assert signed.length == 4 + 1 + 3 and signed.significant_digits == 3


def test_sas_names_are_short_upper_case_and_unique_within_a_form():
    assert sas_name("hemoglobin_lln") == "HEMOGLLN"
    assert sas_name("platelets") == "PLATELET"
    assert sas_name("2nd_line") == "X2NDLINE"
    names = SasNames()
    taken = [names.take(n) for n in ("neutrophils", "neutrophils_lln", "neutrophil_s")]
    assert len(set(taken)) == 3 and all(len(t) <= 8 and t.isupper() for t in taken)
