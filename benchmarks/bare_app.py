"""The baseline for the HTTP load run: a bare Flask endpoint served exactly like `ecrf serve`."""

from __future__ import annotations

import sys

from flask import Flask, jsonify, request
from waitress import serve

app = Flask(__name__)


@app.post("/bare")
def bare():
    """Parse a JSON body and answer 201 with a small JSON document, nothing else."""
    body = request.get_json(silent=True) or {}
    return jsonify({"received": len(body), "entry_id": "x"}), 201


if __name__ == "__main__":
    serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=8, ident="bare")
