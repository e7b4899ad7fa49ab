"""A writer process for the crash test: submits forms and catches up projections until killed.

Prints ``ACK <subject> <entry_id> <position>`` after each committed submission (flushed), so
the parent knows what was acknowledged before the SIGKILL.
"""

from __future__ import annotations

import json
import random
import sys

from ecrf.accounts.model import User
from ecrf.commands.forms import submit_form
from events import EventStore, make_engine
from projections.readmodel.runner import ProjectionRunner
from tests.scenario import Subject

STAFF = User("crash.staff", "site_staff", ("SITE-01",), "Crash Staff")


def main(url: str, connect_args: str, prefix: str) -> None:
    store = EventStore(make_engine(url, connect_args=json.loads(connect_args)))
    runner = ProjectionRunner(store, batch=50)
    subjects = [f"{prefix}-{i}" for i in range(3)]
    for subject_id in subjects:
        if store.stream_version(subject_id) == 0:
            Subject(store, subject_id).screening_labs(platelets=14)
    for step in range(100_000):
        subject_id = random.choice(subjects)
        outcome = submit_form(store, STAFF, subject_id, "platelet_count", {
            "visit": "UNSCHEDULED", "collected_at": f"2026-03-{1 + step % 28:02d}T08:00:00Z",
            "platelets": random.randint(0, 400)})
        print(f"ACK {subject_id} {outcome.entry_id} {outcome.position}", flush=True)
        if step % 7 == 0:
            runner.catch_up()


if __name__ == "__main__":
    main(*sys.argv[1:4])
