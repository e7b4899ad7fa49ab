"""What an SDTM dataset is made of here: variables, domains, records and the subject context.

A ``Record`` is one row of a domain plus where it came from (the entry id and the log position
of the entry's version it shows) and any supplemental qualifiers; the builder numbers --SEQ and
writes the traces as SUPP-- datasets (docs/sdtm.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

from projections.casebook import Casebook, Entry
from projections.schedule import as_date
from projections.trial_config import TrialConfig

STUDYID = "CART-ITP"


@dataclass(frozen=True)
class Variable:
    """One SDTM variable: name (<= 8), label (<= 40), type and where its values come from."""

    name: str
    label: str
    type: str = "Char"  # Char | Num
    origin: str = "Derived"  # Collected | Derived | Assigned | Protocol
    source: str | None = None  # the ODM ItemOID it was collected in, or how it is derived
    codelist: str | None = None  # a terminology.CODELISTS name

    @property
    def numeric(self) -> bool:
        return self.type == "Num"


@dataclass(frozen=True)
class Domain:
    """An SDTM domain: its code, label, class, structure, keys and variables in order."""

    code: str
    label: str
    cls: str
    structure: str
    keys: tuple[str, ...]
    variables: tuple[Variable, ...]

    def variable(self, name: str) -> Variable:
        return next(v for v in self.variables if v.name == name)


@dataclass
class Record:
    """One row of a domain and the entry (and its version's log position) it shows."""

    values: dict[str, Any]
    entry_id: str | None = None
    position: int | None = None
    supp: dict[str, tuple[str, Any]] = field(default_factory=dict)  # QNAM -> (QLABEL, QVAL)


@dataclass
class SubjectContext:
    """A casebook and what every domain needs of it: USUBJID, RFSTDTC and study days (computed
    once per subject: the casebook does not change while its domains are built)."""

    book: Casebook
    config: TrialConfig

    @property
    def usubjid(self) -> str:
        return f"{STUDYID}-{self.book.subject_id}"

    @cached_property
    def rfstdtc(self) -> str | None:
        """The CAR-T infusion date/time (the protocol's day 0), as entered."""
        infusion = self.book.infusion
        return infusion.values["infused_at"] if infusion else None

    @cached_property
    def day0(self) -> date | None:
        return as_date(self.rfstdtc) if self.rfstdtc else None

    def study_day(self, dtc: str | None) -> int | None:
        """SDTM --DY: day 1 is the infusion day, the day before is -1 (there is no day 0)."""
        if not dtc or self.day0 is None or len(dtc) < 10:
            return None
        days = (as_date(dtc[:10]) - self.day0).days
        return days + 1 if days >= 0 else days

    def epoch(self, dtc: str | None) -> str | None:
        """SCREENING before the first treatment, TREATMENT to day 0, FOLLOW-UP after."""
        if not dtc or len(dtc) < 10:
            return None
        when = as_date(dtc[:10])
        first = self.first_treatment
        if first is None or when < first:
            return "SCREENING"
        return "TREATMENT" if self.day0 is None or when <= self.day0 else "FOLLOW-UP"

    @cached_property
    def first_treatment(self) -> date | None:
        dates = [as_date(e.values["procedure_date"]) for e in self.book.current("leukapheresis")]
        dates += [as_date(e.values["administered_on"])
                  for e in self.book.current("lymphodepletion")]
        if self.day0:
            dates.append(self.day0)
        return min(dates, default=None)

    def visit(self, entry: Entry) -> tuple[str | None, float | None]:
        """(VISIT, VISITNUM) of an entry: the schedule's code and its 1-based order."""
        code = entry.visit
        if not code:
            return None, None
        codes = self.config.visit_codes
        if code in codes:
            return code, float(codes.index(code) + 1)
        return "UNSCHEDULED", None

    def base(self, domain: str, entry: Entry | None = None) -> dict[str, Any]:
        return {"STUDYID": STUDYID, "DOMAIN": domain, "USUBJID": self.usubjid}


def trace(entry: Entry) -> dict[str, Any]:
    """The Record keywords tracing a row to an entry: its id and its latest version's position."""
    return {"entry_id": entry.entry_id, "position": entry.versions[-1].position
            if entry.versions[-1].kind != "void" else entry.versions[-2].position}
