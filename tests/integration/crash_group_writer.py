"""A writer process for the group-commit crash test: several threads append at once, so the
kill lands while batches of several appends are being committed.

Prints ``ACK <append id> <first position> <events>`` only after ``append`` returned (flushed),
and every 20 acknowledgements ``STAT <batches> <appends>`` (the store's group-commit counters).
Each event carries its append's id, its index in the append and the append's size, so the
parent can tell a whole append from a partial one.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading

from events import EventStore, NewEvent, make_engine
from events.signing import Signer

THREADS = 6


def main(url: str, connect_args: str, run: str) -> None:
    key = os.environ.get("ECRF_SIGNING_KEY")
    store = EventStore(make_engine(url, connect_args=json.loads(connect_args)),
                       signer=Signer.from_file(key) if key else None)
    out = threading.Lock()
    acks = [0]

    def writer(t: int) -> None:
        rng = random.Random(f"{run}-{t}")
        own, version = f"{run}-T{t}", 0
        for step in range(1_000_000):
            size = rng.randint(1, 4)
            aid = f"{run}.{t}.{step}"
            events = [NewEvent("CrashTestRecorded", {"aid": aid, "k": k, "n": size})
                      for k in range(size)]
            if step % 3 == 0:  # a stream every thread writes to, no version check
                recorded = store.append("SHARED", events, expected_version=None)
            else:
                recorded = store.append(own, events, expected_version=version)
                version = recorded[-1].stream_version
            with out:
                print(f"ACK {aid} {recorded[0].position} {len(recorded)}", flush=True)
                acks[0] += 1
                if acks[0] % 20 == 0:
                    committer = store.group_commit
                    print(f"STAT {committer.batches} {committer.appends}", flush=True)

    threads = [threading.Thread(target=writer, args=(t,), daemon=True)
               for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main(*sys.argv[1:4])
