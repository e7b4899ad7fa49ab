"""The CSV export (one file per form, the audit trail, a README, zipped) and the platelet chart.

Both are recorded as ``ExportGenerated`` events; both respect roles and site isolation.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime
from xml.etree import ElementTree

import pytest

from ecrf.accounts.service import create_user
from ecrf.exports.csv_export import build_csv_zip
from ecrf.exports.platelet_chart import platelet_chart_svg
from ecrf.forms.registry import FORMS
from events import RecordedEvent
from projections.casebook import fold_casebook
from tests.api.conftest import PASSWORD
from tests.scenario import Subject

KEYS = ["subject_id", "site_id", "entry_id", "visit"]
ITP_HISTORY = {
    "visit": "SCR", "diagnosis_date": "2019-03-01", "primary_itp": True,
    "secondary_cause_excluded": True, "refractory": True, "splenectomy": False,
    "prior_therapies": [{"agent": "prednisone", "line": 1, "start_date": "2019-03-05",
                         "best_response": "R", "intolerance": False}],
}


@pytest.fixture
def world(store):
    """A responder at SITE-01 whose record was corrected, cleared and voided; one at SITE-02."""
    one = Subject(store, "ITP-001", "SITE-01")
    ids = {"labs": one.screening_labs(platelets=12)}
    ids["screened"] = store.head().position
    ids["history"] = one.form("itp_history", **ITP_HISTORY)
    one.lymphodepletion()
    ids["infusion"] = one.infuse()
    ids["d7"] = one.platelets(7, 40)
    ids["d14"] = one.platelets(14, 60, transfused_within_72h=False)
    ids["d21"] = one.platelets(21, 130)
    one.platelets(28, 140)
    one.platelets(35, 150)
    ids["rescue"] = one.rescue(38)
    one.platelets(42, 90)  # within the rescue window: not evaluable
    ids["bleeding"] = one.bleeding(7, 2)
    ids["mistaken"] = one.platelets(30, 999)
    ids["before_correction"] = store.head().position
    ids["correction"] = one.correct(ids["d7"], platelets=44).position
    one.correct(ids["d14"], transfused_within_72h=None, reason="not documented")
    one.void(ids["mistaken"])
    two = Subject(store, "ITP-101", "SITE-02")
    ids["other_labs"] = two.screening_labs(platelets=20)
    return ids


def unzip(reply) -> dict[str, list[dict[str, str]] | str]:
    assert reply.status_code == 200, reply.json
    assert reply.mimetype == "application/zip"
    assert reply.headers["Content-Disposition"] == "attachment; filename=ecrf-export.zip"
    archive = zipfile.ZipFile(io.BytesIO(reply.data))
    files: dict[str, list[dict[str, str]] | str] = {}
    for name in archive.namelist():
        text = archive.read(name).decode("utf-8")
        files[name] = list(csv.DictReader(io.StringIO(text))) if name.endswith(".csv") else text
    return files


def header(reply, name: str) -> list[str]:
    archive = zipfile.ZipFile(io.BytesIO(reply.data))
    return next(csv.reader(io.StringIO(archive.read(name).decode("utf-8"))))


def exports(store, kind: str | None = None) -> list[RecordedEvent]:
    return [e for e in store.read_all(types=["ExportGenerated"])
            if kind is None or e.data["kind"] == kind]


# -- CSV -------------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["dm", "auditor"])
def test_csv_export_has_one_file_per_form_with_the_schema_as_header(as_user, world, username):
    reply = as_user(username).get("/export/csv")
    files = unzip(reply)
    added = {name for name in files if "__" in name} | {"data_dictionary.csv",
                                                         "derived_values.csv"}
    assert set(files) == {f"{name}.csv" for name in FORMS} | {"audit_trail.csv",
                                                              "README.txt"} | added
    for name, form in FORMS.items():
        expected = KEYS + [f for f in form.schema.fields if f not in KEYS]
        assert header(reply, f"{name}.csv") == expected, name
    assert files["neuro_assessment.csv"] == []  # header only: no entries of that form
    assert {r["subject_id"] for r in files["registration.csv"]} == {"ITP-001", "ITP-101"}


def test_form_rows_hold_current_values(as_user, world):
    files = unzip(as_user("dm").get("/export/csv"))
    counts = {r["entry_id"]: r for r in files["platelet_count.csv"]}
    assert counts[world["d7"]]["platelets"] == "44.0"  # the corrected value
    assert world["mistaken"] not in counts  # voided: not a current value
    assert counts[world["d14"]]["transfused_within_72h"] == ""  # cleared
    assert counts[world["d7"]]["visit"] == "UNSCHEDULED"
    assert (counts[world["d7"]]["subject_id"], counts[world["d7"]]["site_id"]) == (
        "ITP-001", "SITE-01")
    [history] = files["itp_history.csv"]
    assert history["primary_itp"] == "true" and history["splenectomy"] == "false"
    assert json.loads(history["prior_therapies"]) == ITP_HISTORY["prior_therapies"]
    [infusion] = files["car_t_infusion.csv"]
    assert infusion["infused_at"] == "2026-02-06T10:00:00+00:00"  # as entered
    [rescue] = files["rescue_therapy.csv"]
    assert (rescue["visit"], rescue["start_date"]) == ("", "2026-03-16")  # no visit; ISO date
    assert {r["subject_id"] for r in files["screening_labs.csv"]} == {"ITP-001", "ITP-101"}


def test_audit_trail_csv_has_every_kind_of_change_with_who_and_why(as_user, world):
    files = unzip(as_user("auditor").get("/export/csv"))
    rows = files["audit_trail.csv"]
    assert list(rows[0]) == ["position", "recorded_at", "subject_id", "site_id", "entry_id",
                             "form", "visit", "field", "old_value", "new_value", "action",
                             "actor", "role", "reason"]
    assert {r["action"] for r in rows} == {"entered", "corrected", "cleared", "voided"}
    assert [int(r["position"]) for r in rows] == sorted(int(r["position"]) for r in rows)
    entered = [r for r in rows if r["entry_id"] == world["d7"] and r["action"] == "entered"]
    assert {(r["field"], r["old_value"], r["new_value"]) for r in entered} >= {
        ("platelets", "", "40.0"), ("visit", "", "UNSCHEDULED")}
    [corrected] = [r for r in rows if r["action"] == "corrected"]
    assert (corrected["entry_id"], corrected["field"], corrected["old_value"],
            corrected["new_value"]) == (world["d7"], "platelets", "40.0", "44.0")
    assert (corrected["actor"], corrected["role"], corrected["reason"]) == (
        "scenario.staff", "site_staff", "transcription error")
    assert corrected["position"] == str(world["correction"])
    assert datetime.fromisoformat(corrected["recorded_at"]).utcoffset().total_seconds() == 0
    [cleared] = [r for r in rows if r["action"] == "cleared"]
    assert (cleared["field"], cleared["old_value"], cleared["new_value"], cleared["reason"]) == (
        "transfused_within_72h", "false", "", "not documented")
    [voided] = [r for r in rows if r["action"] == "voided"]
    assert (voided["entry_id"], voided["field"], voided["reason"]) == (
        world["mistaken"], "", "entered for the wrong subject")
    assert {r["subject_id"] for r in rows} == {"ITP-001", "ITP-101"}


def test_readme_says_what_each_file_holds_and_as_of_when(as_user, world, store):
    dm = as_user("dm")  # the login is an event too
    head = store.head().position
    files = unzip(dm.get("/export/csv"))
    readme = files["README.txt"]
    assert f"As of position:   {head}" in readme
    assert "Exported at:" in readme and "audit_trail.csv" in readme
    assert all(f"{name}.csv" in readme for name in FORMS)


def test_the_export_is_recorded_as_exactly_one_event(as_user, world, store):
    dm = as_user("dm")
    head = store.head().position
    before = store.count()
    unzip(dm.get("/export/csv"))
    assert store.count() == before + 1
    [event] = exports(store)
    assert event.stream_id == "audit-log"
    assert event.data == {"kind": "csv", "filters": {}, "subject_ids": ["ITP-001", "ITP-101"],
                          "up_to_position": head}
    assert (event.metadata["actor"], event.metadata["role"]) == ("dm", "data_manager")


def test_a_site_user_exports_only_the_subjects_of_their_site(as_user, world, store):
    create_user(store, "dm.site1", PASSWORD, "data_manager", ["SITE-01"], "Site One DM")
    files = unzip(as_user("dm.site1").get("/export/csv"))
    for name, rows in files.items():
        if name.endswith(".csv") and name != "data_dictionary.csv":  # the one without subjects
            assert {r["subject_id"] for r in rows} <= {"ITP-001"}, name
            assert {r["site_id"] for r in rows} <= {"SITE-01"}, name
    assert world["other_labs"] not in {r["entry_id"] for r in files["screening_labs.csv"]}
    assert exports(store)[-1].data["subject_ids"] == ["ITP-001"]


def test_build_csv_zip_isolates_sites_without_the_api(world, store):
    user = create_user(store, "dm.site2", PASSWORD, "data_manager", ["SITE-02"])
    archive = zipfile.ZipFile(io.BytesIO(build_csv_zip(store, user=user)))
    rows = list(csv.DictReader(io.StringIO(archive.read("audit_trail.csv").decode())))
    assert rows and {r["subject_id"] for r in rows} == {"ITP-101"}


@pytest.mark.parametrize("username", ["staff", "investigator", "monitor"])
def test_csv_export_is_refused_to_other_roles_and_records_nothing(as_user, world, store,
                                                                  username):
    api = as_user(username)  # log in first: a login appends its own event
    before = store.count()
    reply = api.get("/export/csv")
    assert reply.status_code == 403, reply.json
    assert reply.json["error"]["code"] == "forbidden"
    assert store.count() == before


def test_position_before_a_correction_exports_the_old_value(as_user, world, store):
    dm = as_user("dm")
    position = world["before_correction"]
    files = unzip(dm.get(f"/export/csv?position={position}"))
    counts = {r["entry_id"]: r for r in files["platelet_count.csv"]}
    assert counts[world["d7"]]["platelets"] == "40.0"
    assert counts[world["mistaken"]]["platelets"] == "999.0"  # not voided yet then
    assert not [r for r in files["audit_trail.csv"] if r["action"] != "entered"]
    assert "ITP-101" not in {r["subject_id"] for r in files["registration.csv"]}
    assert f"As of position:   {position}" in files["README.txt"]
    event = exports(store)[-1]
    assert event.data["filters"] == {"position": str(position)}
    assert event.data["up_to_position"] == position
    assert event.data["subject_ids"] == ["ITP-001"]


def test_as_of_a_moment_and_bad_arguments(as_user, world, store):
    dm = as_user("dm")
    files = unzip(dm.get("/export/csv", query_string={"as_of": "2000-01-01T00:00:00Z"}))
    assert all(rows == [] for name, rows in files.items()
               if name.endswith(".csv") and name != "data_dictionary.csv")
    before = store.count()
    reply = dm.get("/export/csv?position=abc")
    assert reply.status_code == 400 and store.count() == before


# -- the platelet chart ----------------------------------------------------------------------


def svg_text(svg: bytes) -> str:
    root = ElementTree.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return " ".join("".join(e.itertext()) for e in root.iter()
                    if e.tag == "{http://www.w3.org/2000/svg}text")


def test_platelet_chart_of_a_responder(as_user, world, store):
    staff = as_user("staff")
    before = store.count()
    reply = staff.get("/subjects/ITP-001/platelets.svg")
    assert reply.status_code == 200
    assert reply.mimetype == "image/svg+xml"
    text = svg_text(reply.data)
    for label in ("100 \u00d710\u2079/L (CR)", "30 \u00d710\u2079/L (R)", "baseline 12",
                  "infusion (day 0)",
                  "rescue therapy", "WHO 2", "confirmed CR period", "confirmed R period",
                  "count (not evaluable)", "best response CR"):
        assert label in text, label
    assert store.count() == before + 1
    [event] = exports(store, "platelet_chart")
    assert event.data["subject_ids"] == ["ITP-001"]
    assert (event.metadata["actor"], event.metadata["role"]) == ("staff", "site_staff")


def test_platelet_chart_as_of_a_position_and_for_every_reader(as_user, world, store):
    for username in ("investigator", "monitor", "dm", "auditor"):
        assert as_user(username).get("/subjects/ITP-001/platelets.svg").status_code == 200
    reply = as_user("dm").get(f"/subjects/ITP-001/platelets.svg?position={world['screened']}")
    assert reply.status_code == 200, reply.json
    assert "not infused yet" in svg_text(reply.data)
    assert exports(store, "platelet_chart")[-1].data["filters"] == {
        "position": str(world["screened"])}


def test_platelet_chart_of_another_sites_subject_is_not_found(as_user, world, store):
    staff, staff2 = as_user("staff"), as_user("staff2")
    before = store.count()
    for api, subject_id in ((staff, "ITP-101"), (staff2, "ITP-001"), (staff, "ITP-999")):
        reply = api.get(f"/subjects/{subject_id}/platelets.svg")
        assert reply.status_code == 404, reply.json
        assert reply.json["error"]["code"] == "subject_not_found"
    assert store.count() == before


# -- the chart without the API ---------------------------------------------------------------


def event(position: int, type_: str, data: dict) -> RecordedEvent:
    return RecordedEvent(position, "ITP-900", position, type_, 1, data,
                         {"actor": "unit", "role": "site_staff"},
                         datetime(2026, 3, 1, tzinfo=UTC), f"h{position}")


def entry(position: int, form: str, **values) -> RecordedEvent:
    return event(position, FORMS[form].event_type,
                 {"entry_id": f"E{position}", "form": form, "values": values})


REGISTERED = entry(1, "registration", subject_id="ITP-900", site_id="SITE-09", sex="M",
                   birth_date="1970-01-01", consent_date="2026-01-05",
                   screening_date="2026-01-06")
SCREENED = entry(2, "screening_labs", visit="SCR", collected_at="2026-01-06T08:00:00+00:00",
                 platelets=10)


def test_chart_unit_responder_is_deterministic_and_marks_what_it_should():
    events = [REGISTERED, SCREENED,
              entry(3, "lymphodepletion", visit="LD", administered_on="2026-02-01",
                    height_cm=170, weight_kg=70, fludarabine_mg=50, cyclophosphamide_mg=500),
              entry(4, "car_t_infusion", visit="D0", infused_at="2026-02-06T10:00:00+00:00",
                    product_lot="L", dose_cells_per_kg=1e6, weight_kg=70),
              *(entry(5 + i, "platelet_count", visit="UNSCHEDULED",
                      collected_at=f"2026-02-{6 + day:02d}T08:00:00+00:00", platelets=value)
                for i, (day, value) in enumerate([(3, 0), (7, 35), (14, 110), (21, 120)])),
              entry(9, "bleeding_assessment", visit="UNSCHEDULED", assessed_on="2026-02-09",
                    who_grade=1),
              entry(10, "rescue_therapy", agent="IVIG", category="immunoglobulin",
                    start_date="2026-03-01", end_date="2026-03-02")]
    book = fold_casebook(events)
    assert book is not None
    svg = platelet_chart_svg(book)
    assert svg == platelet_chart_svg(book)  # no date, fixed hash salt
    text = svg_text(svg)
    for label in ("100 \u00d710\u2079/L (CR)", "30 \u00d710\u2079/L (R)", "baseline 10",
                  "infusion (day 0)",
                  "WHO 1", "rescue window (28 d, not evaluable)", "confirmed CR period",
                  "count (evaluable)", "subject ITP-900 (site SITE-09)",
                  "Study day (day 0 = infusion, 2026-02-06)"):
        assert label in text, label


def test_chart_unit_subject_not_infused_yet_is_drawn_from_the_screening_date():
    book = fold_casebook([REGISTERED, SCREENED])
    assert book is not None
    text = svg_text(platelet_chart_svg(book))
    assert "not infused yet" in text
    assert "Days from screening (day 0 = screening date, 2026-01-06)" in text
    assert "confirmed" not in text and "infusion (day 0)" not in text


def test_chart_unit_subject_without_counts():
    book = fold_casebook([REGISTERED])
    assert book is not None
    assert "no platelet counts recorded" in svg_text(platelet_chart_svg(book))


# -- issue #14 item 6 and #15 item 5 ---------------------------------------------------------


def _responder_events(*extra: RecordedEvent) -> list[RecordedEvent]:
    return [REGISTERED, SCREENED,
            entry(3, "car_t_infusion", visit="D0", infused_at="2026-02-06T10:00:00+00:00",
                  product_lot="L", dose_cells_per_kg=1e6, weight_kg=70),
            *(entry(4 + i, "platelet_count", visit="UNSCHEDULED",
                    collected_at=f"2026-02-{6 + day:02d}T08:00:00+00:00", platelets=value)
              for i, (day, value) in enumerate([(7, 120), (14, 130), (21, 140)])),
            *extra]


def test_chart_title_gives_the_date_of_the_data_not_a_position():
    late = RecordedEvent(9, "ITP-900", 9, FORMS["platelet_count"].event_type, 1,
                         {"entry_id": "E9", "form": "platelet_count",
                          "values": {"visit": "UNSCHEDULED", "platelets": 150,
                                     "collected_at": "2026-03-01T08:00:00+00:00"}},
                         {"actor": "unit", "role": "site_staff"},
                         datetime(2026, 3, 2, 23, 30, tzinfo=UTC), "h9")
    text = svg_text(platelet_chart_svg(fold_casebook(_responder_events(late))))
    assert "best response CR (data as of 2026-03-02)" in text
    assert "position" not in text
    registered_only = svg_text(platelet_chart_svg(fold_casebook([REGISTERED])))
    assert "not infused yet (data as of 2026-03-01)" in registered_only


def test_chart_says_when_there_are_no_bleeding_assessments():
    assert "no bleeding assessments" in svg_text(platelet_chart_svg(
        fold_casebook(_responder_events())))
    with_bleeding = _responder_events(entry(9, "bleeding_assessment", visit="UNSCHEDULED",
                                            assessed_on="2026-02-09", who_grade=1))
    assert "no bleeding assessments" not in svg_text(platelet_chart_svg(
        fold_casebook(with_bleeding)))


def test_chart_units_are_typeset_with_a_superscript():
    text = svg_text(platelet_chart_svg(fold_casebook(_responder_events())))
    assert "Platelets (\u00d710\u2079/L)" in text
    assert "10^9" not in text


def test_chart_legend_says_an_ongoing_response_duration_is_censored():
    text = svg_text(platelet_chart_svg(fold_casebook(_responder_events())))
    assert "duration of response 14 d, censored: ongoing at the last evaluable count" in text


def test_chart_legend_gives_the_loss_date_of_a_lost_response():
    lost = [entry(9 + i, "platelet_count", visit="UNSCHEDULED",
                  collected_at=f"2026-03-{day:02d}T08:00:00+00:00", platelets=5)
            for i, day in enumerate((1, 3))]
    text = svg_text(platelet_chart_svg(fold_casebook(_responder_events(*lost))))
    assert "duration of response 16 d, to the loss of response on 2026-03-01" in text
    assert "censored" not in text
