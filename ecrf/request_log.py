"""Structured request logs: one JSON line per request with the request id stamped on its events.

Logged: time, request id, method, path, status, duration, role. Never logged: bodies, query
strings, headers, tokens, usernames or any value of a form (they may identify a person).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

from flask import Flask, Response, g, request

log = logging.getLogger("ecrf.request")


class JsonFormatter(logging.Formatter):
    """Format a record's ``fields`` as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None) or {"message": record.getMessage()}
        return json.dumps({"ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
                           "level": record.levelname.lower(), "logger": record.name,
                           **fields}, separators=(",", ":"))


def init_app(app: Flask) -> None:
    """Log every request as JSON and echo its id in the X-Request-Id response header."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _log(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-Id"] = request_id
        user = g.get("user")
        log.info("request", extra={"fields": {
            "request_id": request_id, "method": request.method, "path": request.path,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - g.get("started", time.perf_counter()))
                                 * 1000, 2),
            "role": user.role if user else None,
        }})
        return response
