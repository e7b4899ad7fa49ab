"""SIGKILL a writer whose threads are committing batches of appends (group commit, issue #13):
every acknowledged append is stored, no append is stored in part, positions have no gap, and
the chain (and its signatures) verify. Five kills per database at random moments."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from events import verify_chain

ROOT = Path(__file__).resolve().parents[2]
KILLS = 5


def start_writer(database_url: tuple[str, dict], run: str) -> subprocess.Popen:
    url, connect_args = database_url
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.crash_group_writer", url,
         json.dumps(connect_args), run], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def kill_at_random(database_url: tuple[str, dict], run: str, rng: random.Random) -> list[str]:
    writer = start_writer(database_url, run)
    lines = []
    deadline = time.monotonic() + 60
    while len(lines) < 5 and time.monotonic() < deadline:  # appends are being committed
        line = writer.stdout.readline()
        if not line:
            break
        lines.append(line)
    time.sleep(rng.uniform(0.0, 0.5))
    writer.send_signal(signal.SIGKILL)
    out, _ = writer.communicate(timeout=30)
    return lines + out.splitlines()


def test_killed_group_commits_lose_no_acknowledged_append_and_store_none_in_part(
        store, database_url, signer):
    rng = random.Random(13)
    acknowledged: dict[str, tuple[int, int]] = {}
    batched = False
    for kill in range(KILLS):
        for parts in map(str.split, kill_at_random(database_url, f"R{kill}", rng)):
            if len(parts) == 4 and parts[0] == "ACK":
                acknowledged[parts[1]] = (int(parts[2]), int(parts[3]))
            elif len(parts) == 3 and parts[0] == "STAT":
                batched = batched or int(parts[1]) < int(parts[2])
    assert len(acknowledged) >= KILLS * 5
    assert batched, "no batch ever held two appends: the kills proved nothing about batches"

    stored = store.read_all()
    assert [e.position for e in stored] == list(range(1, len(stored) + 1))
    appends: dict[str, list] = defaultdict(list)
    for event in (e for e in stored if e.type == "CrashTestRecorded"):  # not the app's users
        appends[event.data["aid"]].append(event)
    for aid, events in appends.items():  # whole or not at all
        size = events[0].data["n"]
        assert [e.data["k"] for e in events] == list(range(size)), aid
        assert [e.position for e in events] == \
            list(range(events[0].position, events[0].position + size)), aid
        assert len({e.recorded_at for e in events}) == 1, aid
    for aid, (first, size) in acknowledged.items():
        assert aid in appends, f"acknowledged append {aid} was lost"
        assert (appends[aid][0].position, len(appends[aid])) == (first, size), aid
    report = verify_chain(store.engine, public_keys={signer.key_id: signer.public_key})
    assert report.ok and report.signatures_checked, report
