"""The background worker of `ecrf serve` keeps the read models current, and under sustained
writes takes at most its share of the CPU (it shares the GIL with the requests)."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from projections.readmodel.runner import (
    BACKGROUND_SHARE,
    MAX_PAUSE_SECONDS,
    ProjectionRunner,
    background_pause,
)
from tests.scenario import Subject


def test_the_pause_keeps_catch_ups_to_their_share_of_the_time():
    for cost in (0.0, 0.001, 0.05, 0.2, 1.0):
        pause = background_pause(cost)
        assert pause >= 0
        if cost and pause < MAX_PAUSE_SECONDS:
            assert cost / (cost + pause) == pytest.approx(BACKGROUND_SHARE)
    assert background_pause(0.2, share=0.5) == pytest.approx(0.2)
    assert background_pause(0.2, share=1.0) == 0
    assert background_pause(-1.0) == 0  # a clock that went back costs nothing
    assert background_pause(3600.0) == MAX_PAUSE_SECONDS  # a huge catch-up: still fresh soon


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_a_share_outside_0_to_1_is_refused(share):
    with pytest.raises(ValueError):
        background_pause(0.1, share=share)


def lag(runner: ProjectionRunner) -> int:
    return runner.status()["lag"]


def wait_until_current(runner: ProjectionRunner, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if lag(runner) == 0:
            return True
        time.sleep(0.02)
    return False


def test_the_worker_catches_up_after_a_nudge_and_stops_when_told(store):
    runner = ProjectionRunner(store)
    stop = threading.Event()
    worker = threading.Thread(target=runner.run_forever, args=(stop,),
                              kwargs={"idle_seconds": 30.0, "gather_seconds": 0.05})
    worker.start()
    try:
        Subject(store, "ITP-001").screening_labs(platelets=14)  # the commit nudges it
        assert wait_until_current(runner)
        Subject(store, "ITP-002").screening_labs(platelets=20)
        assert wait_until_current(runner)  # and again after its pause
    finally:
        stop.set()
        runner.nudge()
        worker.join(10)
    assert not worker.is_alive()


def test_after_a_costly_catch_up_the_worker_waits_its_pause(store, monkeypatch):
    """A catch-up that costs 0.1 s of CPU is followed by 0.9 s without one (share 0.1), even
    when nudged at once: the requests get the rest of the time."""
    runner = ProjectionRunner(store)
    ran: list[float] = []
    clock = iter(x * 0.1 for x in range(1000))  # each catch-up "costs" 0.1 s of CPU
    monkeypatch.setattr("projections.readmodel.runner.time.thread_time", lambda: next(clock))

    def catch_up() -> int:
        ran.append(time.monotonic())
        runner.nudge()  # writes keep coming
        return 0

    monkeypatch.setattr(runner, "catch_up", catch_up)
    stop = threading.Event()
    worker = threading.Thread(target=runner.run_forever, args=(stop,),
                              kwargs={"gather_seconds": 0.0, "share": 0.1})
    runner.nudge()
    worker.start()
    time.sleep(2.0)
    stop.set()
    worker.join(10)
    gaps = [b - a for a, b in itertools.pairwise(ran)]
    assert gaps, ran
    assert all(gap >= 0.85 for gap in gaps), gaps
    assert len(ran) <= 3, ran  # without the pause it would have run hundreds of times
