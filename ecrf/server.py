"""How `ecrf serve` serves a WSGI app: one place, so the benchmark's bare endpoint
(benchmarks/bare_app.py) is served exactly the same way."""

from __future__ import annotations

from typing import Any

DEFAULT_THREADS = 8


def make_server(app: Any, host: str, port: int, threads: int = DEFAULT_THREADS,
                ident: str = "ecrf") -> Any:
    """A waitress server for ``app`` (a production WSGI server, pure Python, no fork)."""
    from waitress.server import create_server

    return create_server(app, host=host, port=port, threads=threads, ident=ident)
