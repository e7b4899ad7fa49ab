"""Properties of the projections over random valid histories entered through the commands.

1. Catching up after every few commands gives the same read models as one rebuild.
2. Every projection as of position p equals the projection of the first p events alone.
"""

from __future__ import annotations

import itertools
import uuid

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from ecrf.errors import Rejected
from projections.casebook import fold_casebook
from projections.efficacy import efficacy
from projections.eligibility import eligibility
from projections.readmodel.runner import ProjectionRunner
from projections.safety import safety
from tests.integration.test_read_models import snapshot
from tests.scenario import Subject

days = st.integers(min_value=-3, max_value=120)
actions = st.one_of(
    st.tuples(st.just("platelets"), days, st.integers(0, 400), st.booleans()),
    st.tuples(st.just("bleeding"), days, st.integers(0, 4)),
    st.tuples(st.just("rescue"), days),
    st.tuples(st.just("vitals"), days, st.sampled_from([36.5, 38.2, 39.5]), st.booleans(),
              st.sampled_from(["none", "low_flow_nasal_cannula", "facemask"])),
    st.tuples(st.just("ae"), st.integers(1, 4), st.booleans()),
    st.tuples(st.just("infuse"), st.integers(0, 2)),
    st.tuples(st.just("correct"), st.integers(0, 50), st.integers(0, 400)),
    st.tuples(st.just("void"), st.integers(0, 50)),
)
histories = st.lists(st.tuples(st.integers(0, 2), actions), min_size=1, max_size=30)
PROPERTY = settings(max_examples=15, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def enter(subjects: list[Subject], entries: list[list[str]], who: int, action: tuple) -> None:
    """Perform one action; refusals (e.g. a second infusion) are part of a valid history."""
    subject, mine = subjects[who], entries[who]
    kind, *args = action
    try:
        if kind == "platelets":
            mine.append(subject.platelets(args[0], args[1], transfused_within_72h=args[2]))
        elif kind == "bleeding":
            mine.append(subject.bleeding(args[0], args[1]))
        elif kind == "rescue":
            mine.append(subject.rescue(args[0]))
        elif kind == "vitals":
            mine.append(subject.vitals(args[0], temperature_c=args[1], hypotension=args[2],
                                       oxygen=args[3]))
        elif kind == "ae":
            mine.append(subject.adverse_event("Fatigue", args[0], serious=args[1]))
        elif kind == "infuse":
            mine.append(subject.infuse(args[0]))
        elif kind == "correct" and mine:
            subject.correct(mine[args[0] % len(mine)], platelets=args[1])
        elif kind == "void" and mine:
            subject.void(mine[args[0] % len(mine)])
    except Rejected:
        pass


def new_subjects(store) -> list[Subject]:
    prefix = uuid.uuid4().hex[:6].upper()
    subjects = [Subject(store, f"P{prefix}-{i}") for i in range(3)]
    for subject in subjects:
        subject.screening_labs(platelets=14)
    return subjects


@PROPERTY
@given(history=histories, chunk=st.integers(1, 7))
def test_incremental_catch_up_equals_a_rebuild_from_scratch(store, history, chunk):
    runner = ProjectionRunner(store)
    subjects = new_subjects(store)
    entries: list[list[str]] = [[], [], []]
    for step, (who, action) in enumerate(history):
        enter(subjects, entries, who, action)
        if step % chunk == 0:
            runner.catch_up()
    runner.catch_up()
    incremental = snapshot(store.engine)
    runner.rebuild()
    assert snapshot(store.engine) == incremental


@PROPERTY
@given(history=histories)
def test_projections_as_of_a_position_equal_the_fold_of_the_first_events(store, history):
    subjects = new_subjects(store)
    entries: list[list[str]] = [[], [], []]
    for who, action in history:
        enter(subjects, entries, who, action)
    stream = store.read_stream(subjects[0].subject_id)
    for cut in itertools.islice(range(1, len(stream) + 1), 0, None, 3):
        position = stream[cut - 1].position
        as_of = fold_casebook(stream, up_to_position=position)
        prefix = fold_casebook(stream[:cut])
        assert as_of is not None and prefix is not None
        assert as_of.to_dict() == prefix.to_dict()
        for projection in (eligibility, safety, efficacy):
            assert projection(as_of) == projection(prefix)
