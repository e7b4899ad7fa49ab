"""Build the SDTM datasets of the subjects a user may see, as of one log position.

Each domain's records get their --SEQ (1, 2, ... within USUBJID, in record order); each record
that came from an entry gets two supplemental qualifiers in SUPP--, ``ENTRYID`` (the entry id)
and ``LOGPOS`` (the log position of the entry version it shows: the last correction's), next to
the domain's own qualifiers. From a row an inspector goes to the entry's audit trail
(GET /api/v1/subjects/{id}/entries/{entry_id}) and to the event at that position.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ecrf.accounts.model import User
from ecrf.exports.sdtm import domains_events, domains_findings, domains_interventions
from ecrf.exports.sdtm import domains_special as special
from ecrf.exports.sdtm.mapping import DOMAINS, SUPP_VARIABLES, TRACE_QUALIFIERS
from ecrf.exports.sdtm.model import STUDYID, Domain, Record, SubjectContext
from ecrf.permissions import require
from events import EventStore
from projections.casebook import REGISTRATION, Casebook, fold_casebook
from projections.trial_config import DEFAULT_TRIAL, TrialConfig

MAX_CHAR = 200  # bytes of a character value in SAS transport v5 and SDTM
BUILDERS: dict[str, Callable[[SubjectContext], list[Record]]] = {
    "DM": special.dm, "DS": special.ds, "IE": special.ie, "MH": special.mh,
    "CM": domains_interventions.cm, "PR": domains_interventions.pr,
    "EX": domains_interventions.ex, "LB": domains_findings.lb, "VS": domains_findings.vs,
    "AE": domains_events.ae, "QS": domains_findings.qs, "RS": domains_findings.rs,
    "SV": special.sv,
}


@dataclass
class Dataset:
    """One dataset: its domain definition and its rows (values by variable name)."""

    domain: Domain
    rows: list[dict[str, Any]]

    @property
    def name(self) -> str:
        return self.domain.code


@dataclass
class SdtmPackage:
    """The datasets of one export and what they cover (for the ExportGenerated event)."""

    datasets: dict[str, Dataset]
    position: int
    subject_ids: tuple[str, ...]
    created_at: datetime
    last_modified: datetime | None = None  # when the event at ``position`` was recorded


def casebooks(store: EventStore, user: User, position: int) -> Iterable[Casebook]:
    """The casebooks the user may see, as they stood after ``position``."""
    for subject_id in store.stream_ids(REGISTRATION):
        book = fold_casebook(store.read_stream(subject_id, up_to_position=position),
                             up_to_position=position)
        if book is not None and user.sees_site(book.site_id):
            yield book


def build_sdtm(store: EventStore, *, user: User, up_to_position: int | None = None,
               config: TrialConfig = DEFAULT_TRIAL, now: datetime | None = None,
               progress: Callable[[int], None] | None = None) -> SdtmPackage:
    """Build every domain from the casebooks (``progress`` is told of each subject done)."""
    require(user.role, "export.sdtm")
    head = store.head()
    latest = head.position if head else 0
    position = latest if up_to_position is None else min(up_to_position, latest)
    records: dict[str, list[Record]] = {code: [] for code in BUILDERS}
    subjects = []
    for book in casebooks(store, user, position):
        ctx = SubjectContext(book, config)
        for code, builder in BUILDERS.items():
            records[code] += builder(ctx)
        subjects.append(book.subject_id)
        if progress is not None:
            progress(1)
    records["TS"] = special.ts(len(subjects), config)
    datasets: dict[str, Dataset] = {}
    for code, domain in DOMAINS.items():
        rows, supp = _number(domain, records[code])
        datasets[code] = Dataset(domain, rows)
        if supp:
            datasets[f"SUPP{code}"] = Dataset(supp_domain(code), supp)
    at_position = store.read_all(after=position - 1, limit=1) if position > 0 else []
    return SdtmPackage(datasets, position, tuple(subjects),
                       (now or datetime.now(UTC)).astimezone(UTC),
                       at_position[0].recorded_at if at_position else None)


def _number(domain: Domain, records: list[Record]
            ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Give each record its --SEQ, in variable order; collect its SUPP-- rows."""
    seq_name = f"{domain.code}SEQ"
    has_seq = any(v.name == seq_name for v in domain.variables)
    names = [v.name for v in domain.variables]
    counters: dict[str, int] = {}
    rows, supp = [], []
    for record in records:
        row = {name: record.values.get(name) for name in names}
        usubjid = row.get("USUBJID")
        idvar, idval = "", ""
        if has_seq:
            counters[usubjid] = counters.get(usubjid, 0) + 1
            row[seq_name] = float(counters[usubjid])
            idvar, idval = seq_name, str(counters[usubjid])
        qualifiers = dict(record.supp)
        for variable in domain.variables:  # SDTMIG 4.5.3.2: text beyond 200 goes to SUPP--
            value = row[variable.name]
            if not variable.numeric and value is not None and _utf8(str(value)) > MAX_CHAR:
                first, *rest = split_text(str(value))
                row[variable.name] = first
                for n, part in enumerate(rest, 1):
                    qualifiers[f"{variable.name[:7]}{n}"] = (
                        f"{variable.label[:36]} {n}", part)
        rows.append(row)
        if record.entry_id is not None:
            qualifiers["ENTRYID"] = (TRACE_QUALIFIERS["ENTRYID"], record.entry_id)
            qualifiers["LOGPOS"] = (TRACE_QUALIFIERS["LOGPOS"], record.position)
        for qnam, (label, value) in qualifiers.items():
            supp.append({"STUDYID": STUDYID, "RDOMAIN": domain.code, "USUBJID": usubjid,
                         "IDVAR": idvar, "IDVARVAL": idval, "QNAM": qnam, "QLABEL": label,
                         "QVAL": str(value),
                         "QORIG": "DERIVED" if qnam in TRACE_QUALIFIERS or qnam in (
                             "ASTCTGR", "BSA") else "CRF"})
    return rows, supp


def _utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def split_text(text: str, limit: int = MAX_CHAR) -> list[str]:
    """Cut a text into parts of at most ``limit`` UTF-8 bytes, before a space where one is near
    (a part never ends in a space: SAS drops trailing blanks; joined, the parts are the text)."""
    parts: list[str] = []
    while _utf8(text) > limit:
        cut = len(text.encode("utf-8")[:limit].decode("utf-8", "ignore"))
        space = text.rfind(" ", 0, cut)
        if space > cut // 2:
            cut = space
        parts.append(text[:cut])
        text = text[cut:]
    return [*parts, text]


def supp_domain(code: str) -> Domain:
    return Domain(f"SUPP{code}", f"Supplemental Qualifiers for {code}", "RELATIONSHIP",
                  "One record per IDVAR, IDVARVAL, and QNAM value per subject",
                  ("STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM"),
                  SUPP_VARIABLES)
