"""The trial summary, read from the materialised tables (filtered to the caller's sites)."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from projections.readmodel.tables import adverse_events, subjects, visits


def trial_summary(engine: Engine, *, sites: list[str] | None, today: date) -> dict[str, Any]:
    """Summarise subjects, eligibility, W12 response, AEs, CRS/ICANS, open SAEs, overdue visits.

    ``sites`` None means every site.
    """
    def scoped(table: sa.Table) -> sa.Select:
        query = sa.select(table)
        return query if sites is None else query.where(table.c.site_id.in_(sites))

    with engine.connect() as conn:
        subject_rows = conn.execute(scoped(subjects)).mappings().all()
        ae_rows = conn.execute(scoped(adverse_events)).mappings().all()
        # "overdue" too: rows built before the fix stored every visit not done as overdue
        overdue = conn.execute(scoped(visits).where(
            visits.c.status.in_(("due", "overdue")), visits.c.window_end < today)
            .order_by(visits.c.window_end, visits.c.subject_id, visits.c.visit)
        ).mappings().all()
    infused = [r for r in subject_rows if r["infused"]]
    return {
        "subjects": len(subject_rows),
        "subjects_by_status": dict(Counter(r["status"] for r in subject_rows)),
        "eligibility": dict(Counter(r["eligibility_status"] for r in subject_rows)),
        "response_at_w12": dict(Counter(r["response_at_w12"] or "not_evaluable"
                                        for r in infused)),
        "adverse_events_by_term": _by_term(ae_rows),
        "crs_by_grade": _grades(subject_rows, "crs_max_grade"),
        "icans_by_grade": _grades(subject_rows, "icans_max_grade"),
        "open_saes": [{"subject_id": r["subject_id"], "entry_id": r["entry_id"],
                       "term": r["term"], "grade": r["grade"], "outcome": r["outcome"]}
                      for r in ae_rows if r["serious"] and r["outcome"] in (
                          "recovering", "not_recovered", "unknown")],
        "overdue_visits": [{"subject_id": r["subject_id"], "visit": r["visit"],
                            "window_end": r["window_end"].isoformat()} for r in overdue],
    }


def _by_term(rows: list) -> list[dict[str, Any]]:
    terms: dict[str, dict[str, Any]] = {}
    for row in rows:
        item = terms.setdefault(row["term"], {"term": row["term"], "events": 0,
                                              "subjects": set(), "worst_grade": 0})
        item["events"] += 1
        item["subjects"].add(row["subject_id"])
        item["worst_grade"] = max(item["worst_grade"], row["grade"])
    return sorted(({**t, "subjects": len(t["subjects"])} for t in terms.values()),
                  key=lambda t: (-t["worst_grade"], t["term"]))


def _grades(rows: list, column: str) -> dict[str, int]:
    counts = Counter(r[column] for r in rows if r[column])
    return {str(grade): counts[grade] for grade in sorted(counts)}
