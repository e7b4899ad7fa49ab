"""The baseline for the HTTP load run: a bare Flask endpoint served exactly like `ecrf serve`.

"Served the same way": the same server factory and settings, ``ecrf.server.make_server``
(waitress, ``DEFAULT_THREADS`` threads), which `ecrf serve` uses too.

Run: ``python benchmarks/bare_app.py PORT``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from flask import Flask, jsonify, request  # noqa: E402

from ecrf.server import DEFAULT_THREADS, make_server  # noqa: E402

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


def main(port: int) -> None:
    """Serve the bare app on 127.0.0.1:port like `ecrf serve` serves the API."""
    make_server(app, "127.0.0.1", port, DEFAULT_THREADS, ident="bare").run()


if __name__ == "__main__":
    main(int(sys.argv[1]))
