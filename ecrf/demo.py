"""A realistic synthetic trial, entered through the same commands as the API (`ecrf demo`).

Twelve subjects at two sites cover what a new user should see in every projection: a screen
failure, complete and partial responders, a non-responder, a loss of response, rescue therapy,
CRS grade 2 without vasopressors, ICANS, a late SAE report, open queries, corrections,
source data verification and a signed casebook.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from ecrf.accounts.model import User
from ecrf.builder import SubjectBuilder
from ecrf.commands.workflow import open_query, sign_casebook, verify_entry
from events import EventStore

RESPONSE_DAYS = (7, 14, 21, 28, 42, 56, 70, 84)


def seed_demo(store: EventStore, staff: User, investigator: User, monitor: User,
              staff_site2: User, password: str, today: date | None = None,
              investigator_site2: User | None = None) -> list[str]:
    """Enter the demo subjects; return their ids. Dates are relative to ``today``.

    Only an investigator attests eligibility: ``investigator_site2`` attests SITE-02's
    checklists (without one, an investigator of SITE-02 with no account is named).
    """
    today = today or datetime.now(UTC).date()

    def subject(n: int, day0_ago: int, user: User = staff, site: str = "SITE-01",
                **registration) -> SubjectBuilder:
        return SubjectBuilder(store, f"ITP-{n:03d}", user=user, site_id=site,
                              day0=today - timedelta(days=day0_ago), **registration)

    def treated(n: int, platelets: list[float], baseline: float = 12, ago: int = 100,
                user: User = staff, site: str = "SITE-01", **registration) -> SubjectBuilder:
        s = subject(n, ago, user, site, **registration)
        s.full_screening(baseline, investigator if site == "SITE-01" else investigator_site2)
        s.treat()
        for day, value in zip(RESPONSE_DAYS, platelets, strict=False):
            visit = {7: "D7", 14: "D14", 21: "D21", 28: "D28", 42: "W6", 56: "W8", 70: "W10",
                     84: "W12"}[day]
            s.platelets(day, value, visit=visit)
        return s

    # 1: complete response, verified and signed
    cr = treated(1, [25, 60, 110, 150, 180, 170, 160, 175], sex="M", birth_date="1975-09-14")
    for entry_id in list(cr_entries(store, cr.subject_id))[:6]:
        verify_entry(store, monitor, cr.subject_id, entry_id)
    sign_casebook(store, investigator, cr.subject_id, password, "approval")
    # 2: response (R): at least 30 and twice baseline, never 100
    treated(2, [20, 35, 48, 52, 61, 58, 66, 70], baseline=10)
    # 3: no response
    treated(3, [9, 14, 12, 18, 15, 11, 16, 13])
    # 4: loss of response: R confirmed, then two failing counts on different days
    treated(4, [40, 55, 62, 58, 22, 19], baseline=14, sex="M", birth_date="1968-02-01")
    # 5: rescue therapy (IVIG on day 30): the counts of the next 28 days are not evaluable
    rescue = treated(5, [15, 20, 18, 25, 120, 140, 90, 60])
    rescue.rescue(30)
    rescue.bleeding(29, 2)
    # 6: CRS grade 2 (fever and hypotension, no vasopressor), reported as such
    crs = treated(6, [30, 45, 80, 120, 130, 125, 140, 150], ago=95)
    crs.vitals(1, temperature_c=38.6)
    crs.vitals(2, temperature_c=39.2, hypotension=True, vasopressors=0)
    crs.vitals(4, temperature_c=37.0)
    crs.adverse_event("Cytokine release syndrome", 2, day=1, category="crs",
                      end_date=crs.on(4), outcome="recovered")
    # 7: ICANS grade 2 (ICE 5), reported
    icans = treated(7, [18, 28, 40, 35, 44, 38, 42, 41], ago=90, birth_date="1990-11-30")
    icans.form("neuro_assessment", visit="UNSCHEDULED", assessed_at=icans.at(5),
               ice_score=5, consciousness="awake")
    icans.form("neuro_assessment", visit="UNSCHEDULED", assessed_at=icans.at(8),
               ice_score=10, consciousness="awake")
    icans.adverse_event("Immune effector cell-associated neurotoxicity syndrome", 2, day=5,
                        category="icans", end_date=icans.on(8), outcome="recovered")
    # 8: serious infection reported 3 days after the site learned of it (late SAE)
    late = treated(8, [12, 30, 65, 90], ago=40)
    late.form("adverse_event", term="Pneumonia", category="infection", onset_date=late.on(10),
              ctcae_grade=3, serious=True, seriousness=["hospitalization"],
              aware_at=(datetime.now(UTC) - timedelta(days=3)).isoformat(),
              relatedness_car_t="possible", relatedness_lymphodepletion="possible",
              outcome="recovering")
    # 9: screen failure (platelets 45 at screening), then end of study
    failure = subject(9, 20)
    failure.full_screening(45, investigator)
    failure.form("end_of_study", ended_on=failure.on(-10), reason="investigator_decision",
                 details="screen failure: platelet count above the inclusion limit")
    # 10: corrections and open queries
    queried = treated(10, [14, 31, 47, 77], ago=35)
    wrong = queried.platelets(15, 470)  # the edit check opens a query automatically
    queried.correct(wrong, platelets=47, reason="extra digit typed; source says 47")
    typo = queried.platelets(16, 52)
    queried.void(typo, reason="duplicate of the day-15 count")
    open_query(store, monitor, queried.subject_id, first_platelet(store, queried.subject_id),
               "platelets", "Source document shows 41 for this draw: please check")
    # 11: still in screening (eligibility incomplete)
    waiting = subject(11, -20)
    waiting.screening_labs(21, collected_at=waiting.at(-50))
    # 12: second site, complete response
    treated(12, [22, 70, 105, 130, 150], ago=60, user=staff_site2, site="SITE-02", sex="M")
    return [f"ITP-{n:03d}" for n in range(1, 13)]


def cr_entries(store: EventStore, subject_id: str) -> list[str]:
    return [e.data["entry_id"] for e in store.read_stream(subject_id)
            if "values" in e.data and e.type != "SubjectRegistered"]


def first_platelet(store: EventStore, subject_id: str) -> str:
    return next(e.data["entry_id"] for e in store.read_stream(subject_id)
                if e.type == "PlateletCountRecorded")
