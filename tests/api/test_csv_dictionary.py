"""The CSV zip's data dictionary, list files and derived values (ecrf/exports/csv_dictionary.py)."""

from __future__ import annotations

from ecrf.forms.describe import describe_form
from ecrf.forms.registry import FORMS
from tests.api.test_csv_and_chart import unzip, world  # noqa: F401  (the fixture)


def test_the_dictionary_lists_every_column_of_every_csv_with_label_type_unit_and_codes(
        as_user, world):  # noqa: F811
    files = unzip(as_user("dm").get("/export/csv"))
    dictionary = files["data_dictionary.csv"]
    described = {(r["file"], r["column"]) for r in dictionary}
    for name, rows in files.items():
        if not name.endswith(".csv") or name in ("audit_trail.csv", "data_dictionary.csv",
                                                 "derived_values.csv"):
            continue
        archive_header = rows[0].keys() if rows else None
        if archive_header is not None:
            assert {(name, c) for c in archive_header} <= described, name
    for form in FORMS.values():
        for field in describe_form(form)["fields"]:
            assert (f"{form.name}.csv", field["name"]) in described
    platelets = next(r for r in dictionary if (r["file"], r["column"]) == (
        "platelet_count.csv", "platelets"))
    assert (platelets["type"], platelets["unit"], platelets["required"]) == (
        "number", "10^9/L", "true")
    outcome = next(r for r in dictionary if (r["file"], r["column"]) == (
        "adverse_event.csv", "outcome"))
    assert outcome["code_list"].split("|")[:2] == ["recovered", "recovering"]
    derived = {r["column"] for r in dictionary if r["file"] == "derived_values.csv"}
    assert "value where form=lymphodepletion and name=bsa_m2" in derived
    assert "value where form=lymphodepletion and name=fludarabine_mg_m2" in derived
    assert "data_dictionary.csv" in files["README.txt"]


def test_lists_are_rows_of_their_own_and_derived_values_are_included(as_user, world):  # noqa: F811
    files = unzip(as_user("dm").get("/export/csv"))
    therapies = files["itp_history__prior_therapies.csv"]
    assert [(r["subject_id"], r["element"], r["agent"], r["line"]) for r in therapies] == [
        ("ITP-001", "1", "prednisone", "1")]
    assert therapies[0]["entry_id"] == world["history"]
    derived = files["derived_values.csv"]
    bsa = [r for r in derived if r["name"] == "bsa_m2"]
    assert len(bsa) == 3 and {r["value"] for r in bsa} == {"1.66"}  # 165 cm, 60 kg
    doses = {r["value"] for r in derived if r["name"] == "fludarabine_mg_m2"}
    assert doses == {"30.12"}  # 50 mg / 1.66 m2
    assert {"ie_checklist__answers.csv", "adverse_event__seriousness.csv",
            "bleeding_assessment__sites.csv"} <= set(files)
    sites = files["bleeding_assessment__sites.csv"]
    assert all(r["entry_id"] == world["bleeding"] for r in sites)


def test_a_site_user_gets_only_their_sites_list_rows(as_user, store, world):  # noqa: F811
    from ecrf.accounts.service import create_user
    from tests.api.conftest import PASSWORD
    from tests.scenario import Subject

    two = Subject(store, "ITP-102", "SITE-02")
    two.form("itp_history", visit="SCR", diagnosis_date="2019-03-01", primary_itp=True,
             secondary_cause_excluded=True, refractory=True, splenectomy=False,
             prior_therapies=[{"agent": "romiplostim", "line": 1, "start_date": "2019-03-05",
                               "best_response": "NR", "intolerance": False}])
    create_user(store, "dm1", PASSWORD, "data_manager", ["SITE-01"], "Site One DM")
    files = unzip(as_user("dm1").get("/export/csv"))
    assert {r["subject_id"] for r in files["itp_history__prior_therapies.csv"]} == {"ITP-001"}
    assert {r["subject_id"] for r in files["derived_values.csv"]} <= {"ITP-001"}
