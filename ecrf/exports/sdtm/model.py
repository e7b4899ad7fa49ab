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
from projections.schedule import as_date, clinical_date
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
        """(VISIT, VISITNUM) of an entry: a scheduled visit's code and 1-based order; an
        unscheduled one is ``UNSCHEDULED`` numbered after the last scheduled visit before it."""
        code = entry.visit
        if not code:
            return None, None
        codes = self.config.visit_codes
        if code in codes:
            return code, float(codes.index(code) + 1)
        when = clinical_date(entry.values)
        return "UNSCHEDULED", self.unscheduled_numbers.get(when) if when else None

    @cached_property
    def scheduled_dates(self) -> dict[str, list[date]]:
        """Each scheduled visit with entries -> the clinical dates of its entries, sorted."""
        dates: dict[str, list[date]] = {}
        for entry in self.book.current():
            when = clinical_date(entry.values)
            if entry.visit in self.config.visit_codes and when is not None:
                dates.setdefault(entry.visit, []).append(when)
        return {code: sorted(found) for code, found in dates.items()}

    @cached_property
    def unscheduled_numbers(self) -> dict[date, float]:
        """The VISITNUM of each date with unscheduled entries: the number of the last
        scheduled visit that started on or before it plus 0.01, 0.02, ... (0.01, ... before
        any): SDTMIG's numbering of unscheduled visits, one per date."""
        codes = self.config.visit_codes
        starts = sorted((found[0], float(codes.index(code) + 1))
                        for code, found in self.scheduled_dates.items())
        days = sorted({when for entry in self.book.current()
                       if entry.visit and entry.visit not in codes
                       and (when := clinical_date(entry.values)) is not None})
        numbers: dict[date, float] = {}
        counts: dict[float, int] = {}
        for day in days:
            base = max((number for start, number in starts if start <= day), default=0.0)
            counts[base] = counts.get(base, 0) + 1
            numbers[day] = round(base + counts[base] / 100, 2)
        return numbers

    def base(self, domain: str, entry: Entry | None = None) -> dict[str, Any]:
        return {"STUDYID": STUDYID, "DOMAIN": domain, "USUBJID": self.usubjid}


def trace(entry: Entry) -> dict[str, Any]:
    """The Record keywords tracing a row to an entry: its id and its latest version's position."""
    return {"entry_id": entry.entry_id, "position": entry.versions[-1].position
            if entry.versions[-1].kind != "void" else entry.versions[-2].position}
