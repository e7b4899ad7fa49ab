"""Timeliness of serious adverse event reports (EU CTR 536/2014 Art. 41, 21 CFR 312.64(b))."""

from datetime import datetime, timedelta

from projections.trial_config import DEFAULT_TRIAL, TrialConfig


def is_late_sae_report(
    aware_at: datetime, first_recorded_at: datetime, *, config: TrialConfig = DEFAULT_TRIAL
) -> bool:
    """Tell whether an SAE was first recorded after the reporting deadline, to flag it late."""
    for name, moment in (("aware_at", aware_at), ("first_recorded_at", first_recorded_at)):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware, got {moment!r}")
    return first_recorded_at - aware_at > timedelta(hours=config.sae_report_hours)
