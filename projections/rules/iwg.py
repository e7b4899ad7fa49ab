"""ITP response after CAR-T by the IWG criteria (Rodeghiero 2009, Provan 2019).

Levels of one count: CR (>= 100 x10^9/L, no bleeding), R (>= 30 and >= 2 x baseline, no
bleeding), NR otherwise; a CR count also qualifies as R. A response is confirmed by an unbroken
run of qualifying evaluable counts whose first and last are at least `response_confirmation_days`
apart, and lost after two consecutive failing evaluable counts on different days. The choices the
sources leave open are listed in docs/clinical-rules-efficacy-eligibility.md.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from projections.trial_config import DEFAULT_TRIAL, TrialConfig

CR, R, NR = "CR", "R", "NR"
CR_PLATELETS = 100.0
R_PLATELETS = 30.0
R_BASELINE_MULTIPLE = 2.0

BEFORE_DAY0, AFTER_RESCUE, TRANSFUSED = "before_day0", "after_rescue", "transfused"
CONFIRMED, UNCONFIRMED = "confirmed", "unconfirmed"


@dataclass(frozen=True)
class PlateletObs:
    """One platelet count (screening labs or platelet_count form), dated in its own offset."""

    collected_at: datetime
    platelets: float
    entry_id: str | None = None
    transfused_within_72h: bool = False

    @property
    def day(self) -> date:
        return self.collected_at.date()


@dataclass(frozen=True)
class BleedingObs:
    """One bleeding assessment (WHO grade 0-4)."""

    assessed_on: date
    who_grade: int
    entry_id: str | None = None


@dataclass(frozen=True)
class RescueObs:
    """One rescue therapy; counts soon after its start do not show the CAR-T effect."""

    start_date: date
    end_date: date | None
    category: str
    entry_id: str | None = None


@dataclass(frozen=True)
class Baseline:
    """The baseline platelet count and where it came from."""

    platelets: float
    collected_at: datetime
    entry_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"platelets": self.platelets, "collected_at": self.collected_at.isoformat(),
                "entry_id": self.entry_id}


@dataclass(frozen=True)
class CountAssessment:
    """One count as used: its level, whether it is evaluable, and its part in a confirmed run."""

    entry_id: str | None
    collected_at: datetime
    date: date
    day: int  # study day: date - day 0
    platelets: float
    level: str  # CR | R | NR, what the count shows (used only when evaluable)
    bleeding: bool
    evaluable: bool
    excluded_reason: str | None  # before_day0 | after_rescue | transfused
    confirmation: str | None  # confirmed | unconfirmed for a qualifying evaluable count
    confirmed_level: str | None  # best confirmed response period the count belongs to

    def to_dict(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id,
            "collected_at": self.collected_at.isoformat(),
            "date": self.date.isoformat(),
            "day": self.day,
            "platelets": self.platelets,
            "level": self.level,
            "bleeding": self.bleeding,
            "evaluable": self.evaluable,
            "excluded_reason": self.excluded_reason,
            "confirmation": self.confirmation,
            "confirmed_level": self.confirmed_level,
        }


@dataclass(frozen=True)
class ResponsePeriod:
    """A confirmed response at one level, from the date achieved to the loss date (or ongoing)."""

    level: str  # CR | R (an R period includes the CR periods within it)
    start: date
    end: date | None  # the loss date: first of the two failing counts; None while ongoing
    start_day: int
    end_day: int | None
    confirmed_on: date

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "start": self.start.isoformat(),
            "end": _iso(self.end),
            "start_day": self.start_day,
            "end_day": self.end_day,
            "confirmed_on": self.confirmed_on.isoformat(),
        }


@dataclass(frozen=True)
class EfficacyResult:
    """The efficacy projection of one subject (keys of DESIGN.md, plus two dates and a total)."""

    baseline_platelets: float | None
    best_response: str | None
    response_at_w12: str | None
    time_to_response_days: int | None
    time_to_cr_days: int | None
    duration_of_response_days: int | None
    duration_censored: bool | None  # True while the first response is ongoing (censored)
    loss_of_response: bool
    loss_of_cr: bool
    loss_date: date | None
    loss_of_cr_date: date | None
    corticosteroid_dependent: bool
    corticosteroid_days: int
    responses: tuple[ResponsePeriod, ...]
    counts: tuple[CountAssessment, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline_platelets": self.baseline_platelets,
            "best_response": self.best_response,
            "response_at_w12": self.response_at_w12,
            "time_to_response_days": self.time_to_response_days,
            "time_to_cr_days": self.time_to_cr_days,
            "duration_of_response_days": self.duration_of_response_days,
            "duration_censored": self.duration_censored,
            "loss_of_response": self.loss_of_response,
            "loss_of_cr": self.loss_of_cr,
            "loss_date": _iso(self.loss_date),
            "loss_of_cr_date": _iso(self.loss_of_cr_date),
            "corticosteroid_dependent": self.corticosteroid_dependent,
            "corticosteroid_days": self.corticosteroid_days,
            "responses": [p.to_dict() for p in self.responses],
            "counts": [c.to_dict() for c in self.counts],
        }


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


# ---------------------------------------------------------------- single counts


def baseline_platelets(
    counts: Iterable[PlateletObs], *, first_ld_day: date | None, day0: date
) -> Baseline | None:
    """Pick the baseline: the latest count on or before the first LD day, else before day 0."""
    if first_ld_day is not None:
        eligible = [c for c in counts if c.day <= first_ld_day]
    else:
        eligible = [c for c in counts if c.day < day0]
    if not eligible:
        return None
    latest = max(enumerate(eligible), key=lambda pair: (pair[1].collected_at, pair[0]))[1]
    return Baseline(latest.platelets, latest.collected_at, latest.entry_id)


def response_level(platelets: float, *, baseline: float | None, bleeding: bool) -> str:
    """Classify one count: CR, R or NR (without a baseline, R cannot be shown)."""
    if bleeding:
        return NR
    if platelets >= CR_PLATELETS:
        return CR
    if (baseline is not None and platelets >= R_PLATELETS
            and platelets >= R_BASELINE_MULTIPLE * baseline):
        return R
    return NR


def _qualifies(level: str, target: str) -> bool:
    return level == CR or (target == R and level == R)


def _excluded_reason(
    count: PlateletObs, *, day0: date, rescue_starts: Sequence[date], config: TrialConfig
) -> str | None:
    if count.day < day0:
        return BEFORE_DAY0
    window = timedelta(days=config.rescue_exclusion_days)
    if any(start <= count.day <= start + window for start in rescue_starts):
        return AFTER_RESCUE
    if count.transfused_within_72h:
        return TRANSFUSED
    return None


# ---------------------------------------------------------------- confirmation and loss


@dataclass
class _Open:
    """A response period being followed (mutable while the counts are folded)."""

    start: date
    confirmed_on: date
    members: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Period:
    start: date
    end: date | None
    confirmed_on: date
    members: frozenset[int]


def _track(rows: Sequence[tuple[int, date, str]], target: str, confirm_days: int) -> list[_Period]:
    """Fold evaluable counts (index, date, level) in time order into confirmed periods.

    Not in response: qualifying counts accumulate in a run that any failing count breaks; the run
    is confirmed by the first count at least `confirm_days` after its first one. In response: a
    failing count is pending; a qualifying count clears it; a second failing count on a later day
    ends the period on the pending count's date.
    """
    periods: list[_Period] = []
    run: list[tuple[int, date]] = []
    current: _Open | None = None
    pending: date | None = None
    for index, day, level in rows:
        ok = _qualifies(level, target)
        if current is None:
            run = [*run, (index, day)] if ok else []
            if run and (day - run[0][1]).days >= confirm_days:
                current = _Open(run[0][1], day, [i for i, _ in run])
                run = []
        elif ok:
            pending = None
            current.members.append(index)
        elif pending is None:
            pending = day
        elif day > pending:
            periods.append(_Period(current.start, pending, current.confirmed_on,
                                   frozenset(current.members)))
            current, pending = None, None
    if current is not None:
        periods.append(_Period(current.start, None, current.confirmed_on,
                               frozenset(current.members)))
    return periods


# ---------------------------------------------------------------- corticosteroid dependence


def corticosteroid_days(
    periods: Iterable[tuple[date, date | None]], *, day0: date, until: date
) -> int:
    """Count the distinct days after day 0, up to `until`, covered by corticosteroid periods."""
    spans = []
    for start, end in periods:
        first, last = max(start, day0 + timedelta(days=1)), min(end or until, until)
        if last >= first:
            spans.append((first, last))
    total, reach = 0, None
    for first, last in sorted(spans):
        if reach is not None:
            first = max(first, reach + timedelta(days=1))
        if last >= first:
            total += (last - first).days + 1
        reach = last if reach is None else max(reach, last)
    return total


def _last_data_day(
    counts: Sequence[PlateletObs], bleeding: Sequence[BleedingObs], rescue: Sequence[RescueObs],
    periods: Sequence[tuple[date, date | None]], day0: date,
) -> date:
    days = [c.day for c in counts] + [b.assessed_on for b in bleeding]
    days += [d for r in rescue for d in (r.start_date, r.end_date) if d is not None]
    days += [d for p in periods for d in p if d is not None]
    return max([day0, *days])


# ---------------------------------------------------------------- the assessment


def _week12_reach(config: TrialConfig) -> int:
    """First study day whose count can stand for week 12: the W12 visit window's first day."""
    visit = next((v for v in config.schedule if v.day == config.week12_day), None)
    return config.week12_day - (visit.window_before if visit else 0)


def _held_on(periods: Sequence[_Period], day: date) -> bool:
    return any(p.start <= day and (p.end is None or p.end > day) for p in periods)


def _classify(
    ordered: Sequence[PlateletObs], *, day0: date, baseline: float | None,
    bleeding_days: frozenset[date], rescue_starts: Sequence[date], config: TrialConfig,
) -> list[tuple[PlateletObs, str, str | None]]:
    """Give each count its level and, when it is not evaluable, the reason."""
    return [(c, response_level(c.platelets, baseline=baseline, bleeding=c.day in bleeding_days),
             _excluded_reason(c, day0=day0, rescue_starts=rescue_starts, config=config))
            for c in ordered]


def _mark(
    rows: Sequence[tuple[PlateletObs, str, str | None]], r_periods: Sequence[_Period],
    cr_periods: Sequence[_Period], *, day0: date, bleeding_days: frozenset[date],
) -> tuple[CountAssessment, ...]:
    """Describe each count, marking qualifying evaluable counts confirmed or unconfirmed."""
    in_r = frozenset().union(*(p.members for p in r_periods))
    in_cr = frozenset().union(*(p.members for p in cr_periods))
    assessed = []
    for i, (c, level, reason) in enumerate(rows):
        confirmation = confirmed_level = None
        if reason is None and level != NR:
            confirmation = CONFIRMED if i in (in_cr if level == CR else in_r) else UNCONFIRMED
            confirmed_level = CR if i in in_cr else R if i in in_r else None
        assessed.append(CountAssessment(
            c.entry_id, c.collected_at, c.day, (c.day - day0).days, c.platelets, level,
            c.day in bleeding_days, reason is None, reason, confirmation, confirmed_level))
    return tuple(assessed)


def assess_response(
    counts: Sequence[PlateletObs],
    bleeding: Sequence[BleedingObs],
    rescue: Sequence[RescueObs],
    *,
    day0: date,
    baseline: float | None,
    corticosteroid_periods: Sequence[tuple[date, date | None]] = (),
    config: TrialConfig = DEFAULT_TRIAL,
    as_of_day: date | None = None,
) -> EfficacyResult:
    """Derive the IWG response of one subject from dated counts, bleeding and rescue therapy.

    Data after `as_of_day` are ignored. Corticosteroid periods are those the caller judged given
    to keep the count up or avoid bleeding; at least `corticosteroid_dependence_days` of them after
    day 0 make best_response and response_at_w12 NR.
    """
    if as_of_day is not None:
        counts = [c for c in counts if c.day <= as_of_day]
        bleeding = [b for b in bleeding if b.assessed_on <= as_of_day]
        rescue = [r for r in rescue if r.start_date <= as_of_day]
        corticosteroid_periods = [p for p in corticosteroid_periods if p[0] <= as_of_day]
    ordered = sorted(counts, key=lambda c: c.collected_at)
    bleeding_days = frozenset(b.assessed_on for b in bleeding
                              if b.who_grade >= config.bleeding_grade_threshold)
    rows = _classify(ordered, day0=day0, baseline=baseline, bleeding_days=bleeding_days,
                     rescue_starts=[r.start_date for r in rescue], config=config)
    evaluable = [(i, c.day, level) for i, (c, level, reason) in enumerate(rows) if reason is None]
    r_periods = _track(evaluable, R, config.response_confirmation_days)
    cr_periods = _track(evaluable, CR, config.response_confirmation_days)
    assessed = _mark(rows, r_periods, cr_periods, day0=day0, bleeding_days=bleeding_days)

    until = as_of_day or _last_data_day(ordered, bleeding, rescue, corticosteroid_periods, day0)
    steroid_days = corticosteroid_days(corticosteroid_periods, day0=day0, until=until)
    dependent = steroid_days >= config.corticosteroid_dependence_days

    def study_day(day: date | None) -> int | None:
        return None if day is None else (day - day0).days

    best = CR if cr_periods else R if r_periods else NR if evaluable else None
    w12_day = day0 + timedelta(days=config.week12_day)
    reached = any((day - day0).days >= _week12_reach(config) for _, day, _ in evaluable)
    w12 = None
    if reached:
        w12 = CR if _held_on(cr_periods, w12_day) else R if _held_on(r_periods, w12_day) else NR
    if dependent:
        best = NR if best is not None else None
        w12 = NR if w12 is not None else None

    first_r = r_periods[0] if r_periods else None
    duration = None
    if first_r is not None:
        duration = ((first_r.end or evaluable[-1][1]) - first_r.start).days
    lost_r = next((p.end for p in r_periods if p.end is not None), None)
    lost_cr = next((p.end for p in cr_periods if p.end is not None), None)
    periods = sorted([(p, R) for p in r_periods] + [(p, CR) for p in cr_periods],
                     key=lambda pair: (pair[0].start, pair[1] == CR))
    return EfficacyResult(
        baseline_platelets=baseline,
        best_response=best,
        response_at_w12=w12,
        time_to_response_days=study_day(first_r.start if first_r else None),
        time_to_cr_days=study_day(cr_periods[0].start if cr_periods else None),
        duration_of_response_days=duration,
        duration_censored=None if first_r is None else first_r.end is None,
        loss_of_response=lost_r is not None,
        loss_of_cr=lost_cr is not None,
        loss_date=lost_r,
        loss_of_cr_date=lost_cr,
        corticosteroid_dependent=dependent,
        corticosteroid_days=steroid_days,
        responses=tuple(ResponsePeriod(level, p.start, p.end, (p.start - day0).days,
                                       study_day(p.end), p.confirmed_on)
                        for p, level in periods),
        counts=assessed,
    )
