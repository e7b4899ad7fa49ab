"""Build subjects through the real command path (no HTTP), for projection and property tests."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from ecrf.accounts.model import User
from ecrf.builder import SubjectBuilder
from events import EventStore

STAFF = User("scenario.staff", "site_staff", ("SITE-01", "SITE-02"), "Scenario Staff")
DAY0 = date(2026, 2, 6)


def at(day: int, hour: int = 8) -> str:
    """An ISO date-time on a study day (relative to DAY0), in UTC."""
    return f"{DAY0 + timedelta(days=day)}T{hour:02d}:00:00+00:00"


def on(day: int) -> str:
    return (DAY0 + timedelta(days=day)).isoformat()


class Subject(SubjectBuilder):
    """A subject of the test trial: day 0 on 2026-02-06, screened 2026-01-06."""

    def __init__(self, store: EventStore, subject_id: str, site_id: str = "SITE-01",
                 **registration: Any) -> None:
        registration = {"consent_date": "2026-01-05", "screening_date": "2026-01-06",
                        **registration}
        super().__init__(store, subject_id, user=STAFF, day0=DAY0, site_id=site_id,
                         **registration)

    def screening_labs(self, platelets: float = 15, **changes: Any) -> str:
        return super().screening_labs(platelets, **{"collected_at": at(-31), **changes})
