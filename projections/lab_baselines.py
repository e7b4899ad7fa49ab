"""The CTCAE baseline of each lab test: the last value of that test before treatment.

Trial setting ``lab_baseline`` (projections/trial_config.py):

- ``"last_before_treatment"`` (default): per test, the most recent value of that test, from any
  form that records it (screening labs, chemistry, platelet count), whose clinical date is on or
  before the first lymphodepletion day; without lymphodepletion, collected no later than the
  infusion; with neither, none yet. The same anchor as the IWG platelet baseline.
- ``"screening"``: the latest screening labs entry, as before the second pass.

A value is graded against the baseline only when collected after the baseline value (the
baseline itself and earlier values are graded on their limits alone).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from projections.casebook import Casebook, Entry
from projections.dates import as_date, as_moment
from projections.trial_config import DEFAULT_TRIAL, TrialConfig

BASELINE_RULES = ("last_before_treatment", "screening")


@dataclass(frozen=True)
class LabBaseline:
    """The baseline of one test: the value, when it was collected and the entry it is from."""

    test: str
    value: float
    collected_at: str
    entry_id: str
    form: str

    @property
    def moment(self) -> datetime:
        return as_moment(self.collected_at)

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "collected_at": self.collected_at,
                "date": as_date(self.collected_at).isoformat(),  # type: ignore[union-attr]
                "entry_id": self.entry_id, "form": self.form}


def lab_baselines(book: Casebook, lab_forms: Mapping[str, Iterable[str]], *,
                  config: TrialConfig = DEFAULT_TRIAL) -> dict[str, LabBaseline]:
    """Return test -> baseline for every test with a value in the baseline period."""
    if config.lab_baseline not in BASELINE_RULES:
        raise ValueError(f"unknown lab_baseline {config.lab_baseline!r} "
                         f"(defined: {', '.join(BASELINE_RULES)})")
    if config.lab_baseline == "screening":
        screening = book.latest("screening_labs")
        candidates = [("screening_labs", screening)] if screening else []
        in_period = lambda entry: True  # noqa: E731
    else:
        candidates = [(form, e) for form in lab_forms for e in book.current(form)]
        in_period = _before_treatment(book)
    chosen: dict[str, LabBaseline] = {}
    for form, entry in candidates:
        if not in_period(entry):
            continue
        for test in lab_forms[form]:
            value = entry.values.get(test)
            if value is None:
                continue
            current = chosen.get(test)
            moment = as_moment(entry.values["collected_at"])
            if current is None or moment >= current.moment:
                chosen[test] = LabBaseline(test, value, entry.values["collected_at"],
                                           entry.entry_id, form)
    return chosen


def _before_treatment(book: Casebook):
    """The test of the baseline period: on or before the first LD day, else by the infusion."""
    ld_days = [as_date(e.values["administered_on"]) for e in book.current("lymphodepletion")]
    first_ld: date | None = min((d for d in ld_days if d is not None), default=None)
    infusion = book.infusion
    if first_ld is not None:
        return lambda entry: as_date(entry.values["collected_at"]) <= first_ld
    if infusion is not None:
        infused = as_moment(infusion.values["infused_at"])
        return lambda entry: as_moment(entry.values["collected_at"]) <= infused
    return lambda entry: False


def baseline_for(entry: Entry, test: str, baselines: Mapping[str, LabBaseline]
                 ) -> LabBaseline | None:
    """The baseline a value is graded against: only for a value collected after it."""
    baseline = baselines.get(test)
    if baseline is None or baseline.entry_id == entry.entry_id:
        return None
    if as_moment(entry.values["collected_at"]) <= baseline.moment:
        return None
    return baseline
