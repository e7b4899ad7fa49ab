"""SIGKILL a writer at random moments: nothing acknowledged is lost, nothing half-written stays.

Ten kills per database. Afterwards the chain verifies, every acknowledged submission is in the
store, every stored form event is a whole, valid entry, and the read models after catch-up
equal a full rebuild.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from ecrf.forms.registry import form_by_event_type, load_form
from events import verify_chain
from projections.readmodel.runner import ProjectionRunner
from tests.integration.test_read_models import snapshot

ROOT = Path(__file__).resolve().parents[2]
KILLS = 10


def start_writer(database_url: tuple[str, dict], prefix: str) -> subprocess.Popen:
    url, connect_args = database_url
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.crash_writer", url, json.dumps(connect_args),
         prefix], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_killed_writers_lose_no_acknowledged_submission_and_leave_nothing_partial(
        store, database_url):
    prefix = f"K{uuid.uuid4().hex[:4].upper()}"
    acknowledged: list[tuple[str, str, int]] = []
    rng = random.Random(11)
    for _ in range(KILLS):
        writer = start_writer(database_url, prefix)
        deadline = time.monotonic() + 30
        lines = []
        while len(lines) < 3 and time.monotonic() < deadline:  # let it get going first
            line = writer.stdout.readline()
            if not line:
                break
            lines.append(line)
        time.sleep(rng.uniform(0.0, 0.4))
        writer.send_signal(signal.SIGKILL)
        out, _ = writer.communicate(timeout=30)
        lines += out.splitlines()
        acknowledged += [(p[1], p[2], int(p[3])) for p in map(str.split, lines)
                         if len(p) == 4 and p[0] == "ACK"]
    assert len(acknowledged) >= KILLS * 3

    report = verify_chain(store.engine)
    assert report.ok, report
    stored = {e.data.get("entry_id"): e for e in store.read_all()}
    for subject_id, entry_id, position in acknowledged:
        event = stored[entry_id]
        assert (event.stream_id, event.position) == (subject_id, position)
    for event in stored.values():
        form = form_by_event_type(event.type)
        if form is not None:
            assert load_form(form.name, event.data["values"]) == event.data["values"]

    runner = ProjectionRunner(store)
    runner.catch_up()
    assert runner.status()["last_error"] is None
    incremental = snapshot(store.engine)
    runner.rebuild()
    assert snapshot(store.engine) == incremental
