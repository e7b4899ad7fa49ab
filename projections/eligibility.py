"""The eligibility projection: the casebook's screening entries fed to the eligibility rules."""

from __future__ import annotations

from typing import Any

from projections.casebook import Casebook
from projections.rules.eligibility import EligibilityInputs, evaluate_eligibility
from projections.trial_config import DEFAULT_TRIAL, TrialConfig
from projections.values import entry_values


def eligibility(book: Casebook, *, config: TrialConfig = DEFAULT_TRIAL) -> dict[str, Any]:
    """Return status, criteria and discrepancies from the subject's current entries."""

    def latest(form: str) -> dict[str, Any] | None:
        entry = book.latest(form)
        return entry_values(entry) if entry else None

    inputs = EligibilityInputs(
        registration=latest("registration"),
        itp_history=latest("itp_history"),
        medical_history=latest("medical_history"),
        screening_labs=latest("screening_labs"),
        ie_checklist=latest("ie_checklist"),
        concomitant_medications=[entry_values(e)
                                 for e in book.current("concomitant_medication")],
    )
    return evaluate_eligibility(inputs, config=config).to_dict()
