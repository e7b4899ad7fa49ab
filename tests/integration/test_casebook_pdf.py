"""The PDF casebook: text an inspector (and pypdf) can read, with every entry, change, query,
verification and signature, the subject id and page numbers on every page, and the log
position, head hash and checkpoint on the last page."""

from __future__ import annotations

import io
import re

import pypdf
import pytest
from click.testing import CliRunner

from ecrf.accounts.service import create_user, load_user
from ecrf.demo import seed_demo
from ecrf.exports.casebook_pdf import CHECKPOINT_FIELDS, as_entered, build_casebook_pdf
from ecrf.exports.sdtm.build import casebooks
from events.checkpoints import checkpoint_problem
from tests.api.conftest import PASSWORD
from tests.scenario import Subject, at


def _pages(data: bytes) -> list[str]:
    """The text of each page, with line breaks and runs of spaces made single spaces."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    return [" ".join(page.extract_text().split()) for page in reader.pages]


@pytest.fixture
def signed(store, as_user):
    one = Subject(store, "ITP-001")
    one.screening_labs()
    count = one.form("platelet_count", visit="D7", collected_at="2026-02-13T09:30:00+02:00",
                     platelets=42, hemoglobin=110, hemoglobin_lln=120)
    fixed = one.correct(count, "transcription error: 45 on the lab report", platelets=45)
    voided = one.platelets(14, 80)
    one.void(voided, "entered for the wrong subject")
    one.adverse_event("Pyrexia", 2, serious=True)
    monitor, staff = as_user("monitor"), as_user("staff")
    query = monitor.post("/subjects/ITP-001/queries", {
        "entry_id": count, "field": "platelets", "text": "Please confirm 45 on the report"})
    assert query.status_code == 201
    assert staff.post(f"/subjects/ITP-001/queries/{query.json['query_id']}/answer",
                      {"text": "Confirmed against the lab printout"}).status_code == 201
    assert monitor.post(f"/subjects/ITP-001/entries/{count}/verify").status_code == 201
    sign = as_user("investigator").post("/subjects/ITP-001/signatures",
                                        {"password": PASSWORD, "meaning": "approval"})
    assert sign.status_code == 201, sign.json
    return {"count": count, "fixed": fixed.position, "voided": voided}


def test_the_casebook_has_every_entry_change_query_verification_and_signature(
        as_user, store, signed):
    reply = as_user("investigator").get("/subjects/ITP-001/casebook.pdf")
    assert reply.status_code == 200 and reply.mimetype == "application/pdf"
    pages = _pages(reply.data)
    text = "\n".join(pages)
    total = len(pages)
    assert total >= 2
    for n, page in enumerate(pages, 1):
        assert "ITP-001" in page and f"page {n} of {total}" in page
    assert "Platelet count" in text and "Screening laboratory tests" in text
    assert "platelet count [platelets]: 45.0 10^9/L" in text
    assert "hemoglobin [hemoglobin]: 110.0 g/L" in text
    stored = store.read_stream("ITP-001")[2].data["values"]["collected_at"]
    assert f"[collected_at]: {as_entered(stored)}" in text  # as stored, and in UTC
    assert "platelets changed from 42.0 to 45.0" in text
    assert "transcription error: 45 on the lab report" in text
    assert f"position {signed['fixed']}" in text and "scenario.staff (site_staff)" in text
    assert "[VOIDED]" in text and "entered for the wrong subject" in text
    assert "Please confirm 45 on the report" in text
    assert "Confirmed against the lab printout" in text and "answered by staff" in text
    assert "Source data verification: verified; by monitor" in text
    assert "Signed by Investigator (investigator)" in text
    assert "approve the data of this casebook" in text
    assert "Pyrexia" in text
    recorded = store.read_stream("audit-log")[-1]  # appended after the PDF was made
    printed_head = next(e for e in store.read_all() if e.position == recorded.position - 1)
    last = pages[-1]
    assert f"position: {printed_head.position}" in last and f"hash: {printed_head.hash}" in last
    printed = dict(re.findall(rf"\b({'|'.join(CHECKPOINT_FIELDS)}): (\S+)", last))
    printed["position"] = int(printed["position"])
    signer = store.signer
    assert checkpoint_problem(printed, {signer.key_id: signer.public_key}) is None  # signed
    assert store.read_stream("audit-log")[-1].data["kind"] == "casebook_pdf"


def test_the_last_page_prints_the_checkpoint_it_is_given(store, signed):
    book = next(iter(casebooks(store, load_user(store, "dm"), store.head().position)))
    events = store.read_stream(book.subject_id)
    checkpoint = {"position": 4242, "hash": "ab" * 32, "recorded_at": at(1),
                  "signed_at": at(2), "key_id": "key-2026-01", "signature": "c2lnbmF0dXJl"}
    last = _pages(build_casebook_pdf(book, events, checkpoint))[-1]
    for name, value in checkpoint.items():
        assert f"{name}: {value}" in last
    unsigned = _pages(build_casebook_pdf(book, events, {"position": 7, "hash": "ff"}))[-1]
    assert "signature: (not signed)" in unsigned


@pytest.mark.parametrize("widest", ["W", "M", "m", "/"])
def test_a_checkpoint_value_of_the_widest_characters_prints_unbroken(store, signed, widest):
    """The CI run that found this: a real signature whose letters happened to be wide ran past
    the line, was cut in two, and the printed checkpoint no longer verified."""
    book = next(iter(casebooks(store, load_user(store, "dm"), store.head().position)))
    events = store.read_stream(book.subject_id)
    signature = widest * 86 + "=="  # 88 characters, as an Ed25519 signature in base64
    checkpoint = {"position": 10 ** 12, "hash": "f" * 64, "recorded_at": at(1),
                  "signed_at": at(2), "key_id": "W" * 16, "signature": signature}
    last = _pages(build_casebook_pdf(book, events, checkpoint))[-1]
    printed = dict(re.findall(rf"\b({'|'.join(CHECKPOINT_FIELDS)}): (\S+)", last))
    assert printed["signature"] == signature and printed["hash"] == "f" * 64
    assert printed["key_id"] == "W" * 16


def test_another_site_gets_404_and_nothing_is_appended(as_user, store, signed):
    before = store.count()
    api = as_user("staff2")
    before = store.count()
    reply = api.get("/subjects/ITP-001/casebook.pdf")
    assert reply.status_code == 404 and reply.json["error"]["code"]
    assert store.count() == before
    assert api.get("/subjects/NOPE/casebook.pdf").status_code == 404
    assert store.count() == before


def test_a_past_position_prints_the_casebook_as_it_stood(as_user, store, signed):
    reply = as_user("dm").get(f"/subjects/ITP-001/casebook.pdf?position={signed['fixed'] - 1}")
    text = "\n".join(_pages(reply.data))
    assert "[platelets]: 42.0 10^9/L" in text and "changed from 42" not in text
    assert "The casebook has not been signed." in text


def test_demo_casebooks_entries_match_the_sdtm_rows(app, store, as_user):
    users = {name: load_user(store, name) for name in ("staff", "investigator", "monitor")}
    site2 = create_user(store, "staff.two", PASSWORD, "site_staff", ["SITE-02"])
    seed_demo(store, users["staff"], users["investigator"], users["monitor"], site2, PASSWORD)
    auditor = as_user("auditor")
    reply = auditor.get("/subjects/ITP-006/casebook.pdf")
    text = "\n".join(_pages(reply.data))
    book = auditor.get("/subjects/ITP-006").json
    adverse = [e for e in book["entries"] if e["form"] == "adverse_event" and not e["voided"]]
    assert adverse and text.count("Adverse event - visit") == len(adverse)
    assert text.count("Lymphodepletion (one day) - visit") == len(
        [e for e in book["entries"] if e["form"] == "lymphodepletion"])


def test_the_cli_writes_one_casebook_per_subject(tmp_path, monkeypatch):
    from ecrf.cli import main
    from ecrf.schema import upgrade
    from events import EventStore, make_engine

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ECRF_SECRET_KEY", "cli-test")
    store = EventStore(make_engine(url))
    upgrade(store.engine)
    Subject(store, "ITP-001").screening_labs()
    Subject(store, "ITP-002", site_id="SITE-02").screening_labs()
    result = CliRunner().invoke(main, ["export", "casebooks", str(tmp_path / "out")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "casebook-ITP-001.pdf", "casebook-ITP-002.pdf"]
    assert "ITP-002" in _pages((tmp_path / "out" / "casebook-ITP-002.pdf").read_bytes())[0]
    assert store.read_stream("audit-log")[-1].data["kind"] == "casebook_pdf"


def test_a_datetime_prints_as_entered_and_in_utc():
    assert as_entered("2026-10-03T01:30:00+02:00") == (
        "2026-10-03T01:30:00+02:00 (UTC 2026-10-02T23:30:00Z)")
    assert as_entered("2026-10-03") == "2026-10-03"
    assert as_entered(True) == "yes" and as_entered(None) == "(blank)"
    assert as_entered(["hospitalization"]) == '["hospitalization"]'


def test_text_the_font_lacks_prints_as_code_points_not_nothing(store, as_user):
    one = Subject(store, "ITP-001")
    one.adverse_event("Fièvre Ωμέγα Жар 発熱", 1)
    text = _pages(as_user("dm").get("/subjects/ITP-001/casebook.pdf").data)
    joined = " ".join(text)
    assert "Fièvre Ωμέγα Жар [U+767A][U+71B1]" in joined
