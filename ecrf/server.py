"""How `ecrf serve` serves a WSGI app: one place, so the benchmark's bare endpoint
(benchmarks/bare_app.py) is served exactly the same way."""

from __future__ import annotations

import gc
from typing import Any

DEFAULT_THREADS = 8


def make_server(app: Any, host: str, port: int, threads: int = DEFAULT_THREADS,
                ident: str = "ecrf") -> Any:
    """A waitress server for ``app`` (a production WSGI server, pure Python, no fork)."""
    from waitress.server import create_server

    server = create_server(app, host=host, port=port, threads=threads, ident=ident)
    freeze_startup_heap()
    return server


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
