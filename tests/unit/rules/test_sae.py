"""SAE reporting within 24 hours of awareness (clinical-rules.md "Serious adverse events")."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from projections.rules.sae import is_late_sae_report
from projections.trial_config import TrialConfig

AWARE = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("delay", "late"),
    [
        (timedelta(0), False),
        (timedelta(hours=23, minutes=59), False),
        (timedelta(hours=24), False),
        (timedelta(hours=24, seconds=1), True),
        (timedelta(days=3), True),
    ],
)
def test_sae_recorded_more_than_24_hours_after_awareness_is_late(
    delay: timedelta, late: bool
) -> None:
    assert is_late_sae_report(AWARE, AWARE + delay) is late


def test_sae_recorded_before_awareness_is_not_late() -> None:
    assert is_late_sae_report(AWARE, AWARE - timedelta(hours=1)) is False


def test_sae_deadline_compares_instants_across_time_zones() -> None:
    recorded = datetime(2025, 3, 2, 10, 30, tzinfo=timezone(timedelta(hours=2)))  # 08:30 UTC
    assert is_late_sae_report(AWARE, recorded) is False


def test_sae_report_hours_is_a_trial_setting() -> None:
    config = TrialConfig(sae_report_hours=48)
    assert is_late_sae_report(AWARE, AWARE + timedelta(hours=30), config=config) is False
    assert is_late_sae_report(AWARE, AWARE + timedelta(hours=49), config=config) is True


@pytest.mark.parametrize(
    ("aware", "recorded"),
    [(AWARE.replace(tzinfo=None), AWARE), (AWARE, AWARE.replace(tzinfo=None))],
)
def test_sae_times_must_be_timezone_aware(aware: datetime, recorded: datetime) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_late_sae_report(aware, recorded)
