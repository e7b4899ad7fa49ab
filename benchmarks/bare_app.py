"""The baseline for the HTTP load run: a bare Flask endpoint served exactly like `ecrf serve`.

"Served the same way" means the same WSGI server factory and the same thread count. Neither is
exposed by ecrf/cli.py as a setting of its own, so this module reads them from the one place
they are written, the `serve` command: the thread count from its ``--threads`` default, and
it refuses to run when the command no longer builds its server with waitress'
``create_server`` (the baseline would then be served differently and the ratio meaningless).

Run: ``python benchmarks/bare_app.py PORT``.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from flask import Flask, jsonify, request  # noqa: E402

SERVER_FACTORY = "waitress.server.create_server"

app = Flask(__name__)


@app.post("/bare")
def bare_post():
    """Parse a JSON body and answer 201 with a small JSON document, nothing else."""
    body = request.get_json(silent=True) or {}
    return jsonify({"received": len(body), "entry_id": "x"}), 201


@app.get("/bare")
def bare_get():
    """Answer 200 with a small JSON document: the baseline of a read."""
    return jsonify({"subject_id": "x", "best_response": "NR"})


def serve_threads() -> int:
    """The thread count `ecrf serve` uses by default (its ``--threads`` option), so that the
    baseline follows when that default changes."""
    from ecrf.cli import serve

    for param in serve.params:
        if param.name == "threads":
            return int(param.default)  # type: ignore[arg-type]
    raise RuntimeError("`ecrf serve` has no --threads option any more: update bare_app.py")


def check_same_server() -> None:
    """Refuse to serve the baseline when `ecrf serve` stopped using waitress' create_server."""
    from ecrf.cli import serve

    source = inspect.getsource(serve.callback)  # type: ignore[arg-type]
    if "from waitress.server import create_server" not in source \
            or "create_server(" not in source:
        raise RuntimeError("`ecrf serve` no longer builds its server with "
                           f"{SERVER_FACTORY}: serve the baseline the same way (bare_app.py)")


def main(port: int) -> None:
    """Serve the bare app on 127.0.0.1:port like `ecrf serve` serves the API."""
    from waitress.server import create_server

    check_same_server()
    server = create_server(app, host="127.0.0.1", port=port, threads=serve_threads(),
                           ident="bare")
    server.run()


if __name__ == "__main__":
    main(int(sys.argv[1]))
