"""How `ecrf serve` serves a WSGI app: one place, so the benchmark's bare endpoint
(benchmarks/bare_app.py) is served exactly the same way."""

from __future__ import annotations

import gc
import sys
from typing import Any

DEFAULT_THREADS = 8
# How long a thread may hold the GIL while another waits for it (Python's default: 5 ms).
# A request gives the GIL up and takes it back a dozen times (socket, database, commit), and
# each time waits behind whichever thread computes; at 1 ms the submission p95 under 8
# clients fell from 58-105 ms to 45-62 ms in an A/B of 6 runs each (docs/benchmarks.md).
SWITCH_INTERVAL_SECONDS = 0.001


def make_server(app: Any, host: str, port: int, threads: int = DEFAULT_THREADS,
                ident: str = "ecrf") -> Any:
    """A waitress server for ``app`` (a production WSGI server, pure Python, no fork)."""
    from waitress.server import create_server

    server = create_server(app, host=host, port=port, threads=threads, ident=ident)
    settle_for_serving()
    return server


def settle_for_serving() -> None:
    """Set the process up to serve requests on threads: a short GIL switch interval, and the
    startup heap frozen out of the garbage collector's walks."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    freeze_startup_heap()


def freeze_startup_heap() -> int:
    """Put what is built by now (modules, the app, its schemas and routes: ~200,000 objects)
    out of the cyclic garbage collector's reach, and return how many objects that was.

    They live as long as the process. Left in, every full collection walks them all: on the
    benchmark machine 125-170 ms each, every few seconds under load, with the GIL held, so
    every request in flight waits (the p95 and p99 tail). Reference counting still frees
    them; only cycles among them would never be collected, and a startup heap has none that
    matter. Objects made later (caches, requests) are collected as before.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
