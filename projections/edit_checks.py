"""Soft edit checks: findings that deserve a data query but never refuse an entry.

A finding is keyed by (check, entry_id, field); the command layer opens one automatic query
per key, once, and closes it when the data no longer trip the check.
"""

from __future__ import annotations

from dataclasses import dataclass

from projections.casebook import Casebook, Entry
from projections.eligibility import eligibility
from projections.safety_findings import unreported_ich
from projections.trial_config import DEFAULT_TRIAL, TrialConfig

#: Values accepted by the form but unexpected enough to ask the site to confirm them.
EXPECTED_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "platelet_count": {"platelets": (0, 1000), "hemoglobin": (40, 200)},
    "screening_labs": {"platelets": (0, 1000), "hemoglobin": (40, 200)},
    "vital_signs": {"temperature_c": (34.0, 41.5), "heart_rate": (30, 180),
                    "systolic_bp": (60, 220), "spo2": (70, 100)},
}
FLAG_FIELDS = {
    "outside_visit_window": "visit",
    "fludarabine_dose_deviation": "fludarabine_mg",
    "cyclophosphamide_dose_deviation": "cyclophosphamide_mg",
    "course_too_long": "administered_on",
    "course_too_short": "infused_at",
}


@dataclass(frozen=True)
class Finding:
    """One soft edit-check failure, with the text of the query it should raise."""

    check: str
    entry_id: str
    field: str
    text: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.check, self.entry_id, self.field)


def entry_findings(entry: Entry) -> tuple[Finding, ...]:
    """The findings of one entry on its own (its values against the expected ranges, the
    flags derived for it), remembered on the entry: every write runs the edit checks over
    the whole casebook, and all but the new entry answer as they did last time."""
    found = entry.memo.get("findings")
    if found is None:
        found = entry.memo["findings"] = tuple(_entry_findings(entry))
    return found


def _entry_findings(entry: Entry) -> list[Finding]:
    found: list[Finding] = []
    for name, (low, high) in EXPECTED_RANGES.get(entry.form, {}).items():
        value = entry.values.get(name)
        if value is not None and not low <= value <= high:
            found.append(Finding("unexpected_value", entry.entry_id, name,
                                 f"{name} = {value} is outside the expected range "
                                 f"{low}-{high}: please confirm against the source"))
    for flag in entry.derived.get("flags", []):
        found.append(Finding(flag, entry.entry_id, FLAG_FIELDS.get(flag, "visit"),
                             f"edit check '{flag}': please confirm or correct"))
    return found


def findings(book: Casebook, *, config: TrialConfig = DEFAULT_TRIAL) -> list[Finding]:
    """Return every soft edit-check failure of the casebook as it stands."""
    found: list[Finding] = list(book.entry_aggregate("edit_check_findings", entry_findings))
    for item in unreported_ich(book.current("neuro_assessment"), book.current("adverse_event")):
        found.append(Finding("ich_not_reported_as_ae", item["entry_id"],
                             "intracranial_hemorrhage",
                             f"intracranial hemorrhage recorded on {item['date']} with no adverse "
                             "event reporting it: please report it as an adverse event (graded "
                             "by CTCAE, not ICANS)"))
    checklist = book.latest("ie_checklist")
    if checklist is not None:
        for item in eligibility(book, config=config)["discrepancies"]:
            found.append(Finding("eligibility_discrepancy", checklist.entry_id,
                                 f"answers.{item['code']}", item["detail"]))
    return found
