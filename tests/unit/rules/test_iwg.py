"""ITP response by the IWG criteria (clinical-rules.md "Efficacy: ITP response (IWG)")."""

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from projections.rules.iwg import (
    Baseline,
    BleedingObs,
    EfficacyResult,
    PlateletObs,
    RescueObs,
    assess_response,
    baseline_platelets,
    corticosteroid_days,
    response_level,
)
from projections.trial_config import DEFAULT_TRIAL

DAY0 = date(2026, 4, 1)


def _d(day: int) -> date:
    return DAY0 + timedelta(days=day)


def _count(day: int, platelets: float, *, hour: int = 9, transfused: bool = False) -> PlateletObs:
    moment = datetime.combine(_d(day), datetime.min.time(), tzinfo=UTC).replace(hour=hour)
    return PlateletObs(moment, platelets, f"pc{day}h{hour}", transfused)


def _series(*pairs: tuple[int, float]) -> list[PlateletObs]:
    return [_count(day, value) for day, value in pairs]


def _assess(
    counts: Sequence[PlateletObs],
    *,
    bleeding: Sequence[BleedingObs] = (),
    rescue: Sequence[RescueObs] = (),
    baseline: float | None = 10.0,
    **kwargs: Any,
) -> EfficacyResult:
    return assess_response(counts, bleeding, rescue, day0=DAY0, baseline=baseline, **kwargs)


def _by_day(result: EfficacyResult) -> dict[int, Any]:
    return {c.day: c for c in result.counts}


# ------------------------------------------------------------------- single counts


@pytest.mark.parametrize(("platelets", "baseline", "bleeding", "level"), [
    (100, 10, False, "CR"),
    (99, 10, False, "R"),
    (30, 15, False, "R"),  # >= 30 and exactly twice baseline
    (29, 10, False, "NR"),  # twice baseline but below 30
    (39, 20, False, "NR"),  # >= 30 but below twice baseline
    (100, 80, False, "CR"),  # CR needs no doubling
    (150, 10, True, "NR"),  # bleeding
    (50, None, False, "NR"),  # no baseline: R cannot be shown
])
def test_response_level_of_one_count(
    platelets: float, baseline: float | None, bleeding: bool, level: str
) -> None:
    assert response_level(platelets, baseline=baseline, bleeding=bleeding) == level


# ------------------------------------------------------------------- confirmation


def test_cr_is_confirmed_by_qualifying_counts_7_days_apart_achieved_on_the_first() -> None:
    result = _assess(_series((14, 120), (21, 130)))
    assert result.best_response == "CR"
    assert result.time_to_cr_days == 14
    assert result.time_to_response_days == 14
    assert [(p.level, p.start, p.confirmed_on, p.end) for p in result.responses] == [
        ("R", _d(14), _d(21), None), ("CR", _d(14), _d(21), None)]
    assert {c.confirmation for c in result.counts} == {"confirmed"}


def test_cr_is_not_confirmed_by_counts_6_days_apart() -> None:
    result = _assess(_series((14, 120), (20, 130)))
    assert result.best_response == "NR"
    assert result.responses == ()
    assert [c.confirmation for c in result.counts] == ["unconfirmed", "unconfirmed"]
    assert result.time_to_response_days is None


def test_r_is_confirmed_by_counts_of_at_least_30_and_twice_baseline() -> None:
    result = _assess(_series((7, 40), (14, 45)), baseline=20)
    assert result.best_response == "R"
    assert result.time_to_response_days == 7
    assert result.time_to_cr_days is None


def test_counts_below_twice_baseline_are_not_r() -> None:
    result = _assess(_series((7, 39), (14, 45)), baseline=20)
    assert result.best_response == "NR"
    assert _by_day(result)[7].level == "NR"
    assert _by_day(result)[14].confirmation == "unconfirmed"


def test_cr_counts_qualify_for_r_so_a_mixed_run_confirms_r() -> None:
    result = _assess(_series((7, 60), (10, 150), (14, 70)))
    assert result.best_response == "R"
    assert _by_day(result)[10].confirmation == "unconfirmed"  # its CR is not confirmed
    assert _by_day(result)[10].confirmed_level == "R"


def test_a_single_failing_count_breaks_a_confirmation_run() -> None:
    result = _assess(_series((14, 120), (17, 80), (21, 120)))
    assert result.time_to_cr_days is None  # the CR run is broken by the R-level count
    assert result.best_response == "R"  # the R run is not


def test_a_new_run_after_a_break_is_confirmed_from_its_own_first_count() -> None:
    result = _assess(_series((7, 120), (10, 5), (14, 120), (21, 120)))
    assert result.time_to_response_days == 14
    assert _by_day(result)[7].confirmation == "unconfirmed"


def test_counts_before_day0_are_not_response_assessments() -> None:
    result = _assess(_series((-7, 150), (-1, 150), (5, 150)))
    assert [c.excluded_reason for c in result.counts] == ["before_day0", "before_day0", None]
    assert result.best_response == "NR"


def test_no_assessable_count_gives_no_best_response() -> None:
    assert _assess([]).best_response is None
    assert _assess(_series((-3, 20))).best_response is None


# ------------------------------------------------------------------- bleeding


def test_bleeding_of_who_grade_2_on_the_count_date_makes_it_nr_and_breaks_the_run() -> None:
    bleeding = [BleedingObs(_d(17), 2, "bl1")]
    result = _assess(_series((14, 120), (17, 120), (21, 120)), bleeding=bleeding)
    assert _by_day(result)[17].level == "NR"
    assert _by_day(result)[17].bleeding is True
    assert result.best_response == "NR"


def test_bleeding_of_who_grade_1_does_not_count() -> None:
    bleeding = [BleedingObs(_d(21), 1, "bl1")]
    assert _assess(_series((14, 120), (21, 120)), bleeding=bleeding).best_response == "CR"


def test_bleeding_on_a_day_without_a_count_changes_no_assessment() -> None:
    bleeding = [BleedingObs(_d(18), 3, "bl1")]
    assert _assess(_series((14, 120), (21, 120)), bleeding=bleeding).best_response == "CR"


def test_bleeding_threshold_is_a_trial_setting() -> None:
    config = replace(DEFAULT_TRIAL, bleeding_grade_threshold=1)
    bleeding = [BleedingObs(_d(21), 1, "bl1")]
    result = _assess(_series((14, 120), (21, 120)), bleeding=bleeding, config=config)
    assert result.best_response == "NR"


# ------------------------------------------------------------------- rescue and transfusion


def test_counts_within_28_days_after_rescue_start_are_not_evaluable() -> None:
    rescue = [RescueObs(_d(10), _d(14), "immunoglobulin", "rt1")]
    result = _assess(_series((9, 20), (10, 120), (38, 120), (39, 120), (46, 120)), rescue=rescue)
    reasons = {day: c.excluded_reason for day, c in _by_day(result).items()}
    assert reasons == {9: None, 10: "after_rescue", 38: "after_rescue", 39: None, 46: None}
    assert result.time_to_response_days == 39


def test_counts_after_rescue_cannot_confirm_a_response() -> None:
    rescue = [RescueObs(_d(12), None, "platelet_transfusion", "rt1")]
    result = _assess(_series((7, 20), (14, 120), (21, 120)), rescue=rescue)
    assert result.best_response == "NR"
    assert all(not c.evaluable for c in result.counts if c.day > 12)


def test_transfused_count_is_not_evaluable_and_cannot_confirm() -> None:
    counts = [_count(14, 120), _count(21, 120, transfused=True)]
    result = _assess(counts)
    assert _by_day(result)[21].excluded_reason == "transfused"
    assert result.best_response == "NR"


def test_non_evaluable_counts_neither_confirm_nor_break_a_run() -> None:
    counts = [_count(14, 120), _count(17, 5, transfused=True), _count(21, 120)]
    result = _assess(counts)
    assert result.best_response == "CR"
    assert _by_day(result)[17].confirmation is None


# ------------------------------------------------------------------- loss


def test_loss_of_cr_while_still_meeting_r_leaves_the_subject_in_r() -> None:
    counts = _series((14, 120), (21, 130), (28, 60), (35, 55), (56, 60), (84, 70))
    result = _assess(counts)
    assert result.loss_of_cr is True
    assert result.loss_of_cr_date == _d(28)
    assert result.loss_of_response is False
    assert result.loss_date is None
    assert result.best_response == "CR"
    assert result.response_at_w12 == "R"
    assert [(p.level, p.end) for p in result.responses] == [("R", None), ("CR", _d(28))]


def test_loss_of_response_needs_two_failing_counts_on_different_days_dated_by_the_first() -> None:
    counts = _series((14, 60), (21, 60), (42, 15), (49, 12))
    result = _assess(counts)
    assert result.loss_of_response is True
    assert result.loss_date == _d(42)
    assert result.duration_of_response_days == 28
    assert result.responses[0].end_day == 42


def test_a_single_failing_count_between_qualifying_counts_is_no_loss() -> None:
    result = _assess(_series((14, 60), (21, 60), (28, 15), (35, 60)))
    assert result.loss_of_response is False
    assert _by_day(result)[35].confirmation == "confirmed"


def test_two_failing_counts_on_the_same_day_are_no_loss() -> None:
    counts = [*_series((14, 60), (21, 60)), _count(28, 15, hour=8), _count(28, 14, hour=18),
              _count(35, 60)]
    assert _assess(counts).loss_of_response is False


def test_a_response_regained_after_a_loss_is_a_new_period() -> None:
    counts = _series((14, 60), (21, 60), (28, 15), (35, 15), (42, 70), (49, 70))
    result = _assess(counts)
    assert [(p.start, p.end) for p in result.responses] == [(_d(14), _d(28)), (_d(42), None)]
    assert result.loss_date == _d(28)
    assert result.best_response == "R"


def test_duration_of_an_ongoing_response_runs_to_the_last_evaluable_count() -> None:
    counts = [*_series((14, 60), (21, 60), (40, 60)), _count(45, 60, transfused=True)]
    assert _assess(counts).duration_of_response_days == 26


# ------------------------------------------------------------------- week 12


def test_response_at_w12_is_the_level_held_on_day_84() -> None:
    result = _assess(_series((14, 120), (21, 120), (84, 150)))
    assert result.response_at_w12 == "CR"


def test_response_lost_before_day_84_is_nr_at_w12() -> None:
    result = _assess(_series((14, 60), (21, 60), (70, 10), (77, 10), (84, 10)))
    assert result.best_response == "R"
    assert result.response_at_w12 == "NR"


def test_response_lost_on_day_84_is_not_held_on_day_84() -> None:
    result = _assess(_series((14, 60), (21, 60), (84, 10), (86, 10)))
    assert result.response_at_w12 == "NR"


def test_response_at_w12_is_none_before_the_data_reach_the_w12_window() -> None:
    assert _assess(_series((14, 60), (21, 60), (79, 60))).response_at_w12 is None
    assert _assess(_series((14, 60), (21, 60), (80, 60))).response_at_w12 == "R"


def test_response_achieved_before_day_84_and_confirmed_after_it_is_held_at_w12() -> None:
    result = _assess(_series((70, 10), (82, 60), (89, 60)))
    assert result.response_at_w12 == "R"
    assert result.time_to_response_days == 82


# ------------------------------------------------------------------- corticosteroid dependence


def test_corticosteroids_for_60_days_after_day0_make_the_subject_a_non_responder() -> None:
    counts = _series((14, 120), (21, 120), (84, 120))
    result = _assess(counts, corticosteroid_periods=[(_d(10), _d(69))])
    assert result.corticosteroid_days == 60
    assert result.corticosteroid_dependent is True
    assert result.best_response == "NR"
    assert result.response_at_w12 == "NR"
    assert result.time_to_cr_days == 14  # the dated periods stay visible


def test_corticosteroids_for_59_days_are_not_dependence() -> None:
    result = _assess(_series((14, 120), (21, 120)), corticosteroid_periods=[(_d(10), _d(68))])
    assert result.corticosteroid_dependent is False
    assert result.best_response == "CR"


def test_repeated_corticosteroid_courses_add_up_without_counting_overlaps_twice() -> None:
    periods = [(_d(1), _d(30)), (_d(20), _d(40)), (_d(60), _d(79))]
    assert corticosteroid_days(periods, day0=DAY0, until=_d(200)) == 60


def test_ongoing_corticosteroids_count_up_to_the_last_data_day_and_not_before_day1() -> None:
    assert corticosteroid_days([(_d(-10), None)], day0=DAY0, until=_d(59)) == 59
    result = _assess(_series((14, 120), (21, 120), (60, 120)),
                     corticosteroid_periods=[(_d(-10), None)])
    assert result.corticosteroid_dependent is True


# ------------------------------------------------------------------- baseline and as of


def test_baseline_is_the_latest_count_on_or_before_the_first_lymphodepletion_day() -> None:
    counts = _series((-30, 12), (-5, 18), (-4, 40), (3, 5))
    assert baseline_platelets(counts, first_ld_day=_d(-5), day0=DAY0) == Baseline(
        18, counts[1].collected_at, counts[1].entry_id)


def test_baseline_without_lymphodepletion_is_the_latest_count_before_day0() -> None:
    counts = _series((-30, 12), (-1, 22), (0, 40))
    found = baseline_platelets(counts, first_ld_day=None, day0=DAY0)
    assert found is not None
    assert found.platelets == 22


def test_no_count_before_the_reference_day_gives_no_baseline() -> None:
    assert baseline_platelets(_series((1, 20)), first_ld_day=_d(-5), day0=DAY0) is None


def test_as_of_day_ignores_later_data() -> None:
    counts = _series((14, 60), (21, 60), (42, 15), (49, 15))
    earlier = _assess(counts, as_of_day=_d(45))
    assert earlier.loss_of_response is False
    assert [c.day for c in earlier.counts] == [14, 21, 42]
    assert _assess(counts, as_of_day=_d(20)).best_response == "NR"


def test_efficacy_to_dict_is_json_ready_with_the_design_keys() -> None:
    data = _assess(_series((-2, 15), (14, 120), (21, 120))).to_dict()
    json.dumps(data)
    assert {"baseline_platelets", "best_response", "response_at_w12", "time_to_response_days",
            "time_to_cr_days", "duration_of_response_days", "loss_of_response", "loss_of_cr",
            "loss_date", "corticosteroid_dependent", "responses", "counts"} <= set(data)
    assert data["counts"][0] == {
        "entry_id": "pc-2h9", "collected_at": "2026-03-30T09:00:00+00:00", "date": "2026-03-30",
        "day": -2, "platelets": 15, "level": "NR", "bleeding": False, "evaluable": False,
        "excluded_reason": "before_day0", "confirmation": None, "confirmed_level": None}
    assert data["responses"][1] == {"level": "CR", "start": "2026-04-15", "end": None,
                                    "start_day": 14, "end_day": None,
                                    "confirmed_on": "2026-04-22"}
