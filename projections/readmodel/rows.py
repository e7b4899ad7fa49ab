"""From one subject's casebook to its read-model rows (pure: no database)."""

from __future__ import annotations

from datetime import date
from typing import Any

from projections.casebook import Casebook
from projections.efficacy import response_summary
from projections.eligibility import eligibility
from projections.safety import safety_summary
from projections.schedule import schedule
from projections.trial_config import DEFAULT_TRIAL, TrialConfig

OPEN_OUTCOMES = ("recovering", "not_recovered", "unknown")


def subject_rows(book: Casebook, *, config: TrialConfig = DEFAULT_TRIAL
                 ) -> dict[str, list[dict[str, Any]]]:
    """Return the rows of every read-model table for one subject."""
    best_response, response_at_w12 = response_summary(book, config=config)
    saf = safety_summary(book)
    aes = book.current("adverse_event")
    # as of date.min no window has passed: a visit not done is stored "due" with its
    # window_end, and the summary decides "overdue" at request time (window_end < today)
    plan = schedule(book, today=date.min, response_at_w12=response_at_w12, config=config)
    return {
        "rm_subjects": [{
            "subject_id": book.subject_id, "site_id": book.site_id, "status": book.status,
            "eligibility_status": eligibility(book, config=config)["status"],
            "infused": book.infusion is not None,
            "best_response": best_response, "response_at_w12": response_at_w12,
            "max_ae_grade": saf["max_grade"], "crs_max_grade": saf["crs_max_grade"],
            "icans_max_grade": saf["icans_max_grade"],
            "open_saes": sum(1 for e in aes if e.values.get("serious")
                             and e.values.get("outcome") in OPEN_OUTCOMES),
            "position": book.position,
        }],
        "rm_adverse_events": [{
            "entry_id": e.entry_id, "subject_id": book.subject_id, "site_id": book.site_id,
            "term": e.values["term"], "category": e.values["category"],
            "grade": e.values["ctcae_grade"], "serious": bool(e.values["serious"]),
            "outcome": e.values["outcome"],
        } for e in aes],
        "rm_visits": [{
            "subject_id": book.subject_id, "visit": v["visit"], "site_id": book.site_id,
            "window_end": date.fromisoformat(v["window_end"]) if v["window_end"] else None,
            "status": v["status"],
        } for v in plan["visits"]],
    }
