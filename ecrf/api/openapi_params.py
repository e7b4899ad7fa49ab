"""Document the query parameters and headers the views read from ``request`` directly, so that
clients and the fuzzer (tests/fuzz) know and exercise them. One table, matched by path.
"""

from __future__ import annotations

import re
from typing import Any

from apispec import BasePlugin


def _query(name: str, schema: dict[str, Any], description: str, *,
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema,
            "description": description}


def _header(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "schema": schema,
            "description": description}


MOMENT = {"type": "string", "format": "date-time"}
AS_OF = [
    _query("as_of", MOMENT, "the state as of this date-time (with offset)"),
    _query("position", {"type": "integer", "minimum": 0}, "the state as of this log position"),
]
POSITION_OR_MOMENT = {"type": "string", "description": "a log position or a date-time"}
DIFF = [_query("from", POSITION_OR_MOMENT, "start: position or date-time", required=True),
        _query("to", POSITION_OR_MOMENT, "end: position or date-time", required=True)]
FORMAT = _query("format", {"type": "string", "enum": ["json", "csv"]}, "json (default) or csv")
AUDIT = [
    *(_query(name, {"type": "string"}, f"only rows of this {name}")
      for name in ("subject", "user", "role", "type")),
    _query("from", MOMENT, "rows recorded at or after"),
    _query("to", MOMENT, "rows recorded at or before"),
    _query("after", {"type": "integer", "minimum": 0}, "rows after this position"),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 5000}, "rows per page"),
    FORMAT,
]
QUERY_FILTERS = [
    _query("state", {"type": "string", "enum": ["open", "answered", "closed", "cancelled"]},
           "only queries in this state"),
    _query("older_than_days", {"type": "integer", "minimum": 0, "maximum": 999999},
           "only queries opened more than this many days ago"),
]
IDEMPOTENCY_KEY = _header("Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": 100},
                          "a retried request with the same key is answered with its first result")
WRITE_HEADERS = [
    _header("If-Match", {"type": "string"}, "the casebook's stream version the write is based on"),
    IDEMPOTENCY_KEY,
]
REQUEST_ID = _header("X-Request-Id", {"type": "string"},
                     "kept (and stamped on the events) when it matches [A-Za-z0-9._-]{1,64}; "
                     "otherwise the server makes one")

SUBJECT = r"/api/v1/subjects/\{subject_id\}"
TABLE: list[tuple[str, str, list[dict[str, Any]]]] = [
    ("get", SUBJECT + r"(/eligibility|/safety|/efficacy|/schedule|/replay)?", AS_OF),
    ("get", SUBJECT + "/diff", DIFF),
    ("get", r"/api/v1/audit", AUDIT),
    ("get", SUBJECT + "/audit-trail", [FORMAT]),
    ("get", SUBJECT + "/queries|/api/v1/queries", QUERY_FILTERS),
    ("post", SUBJECT + r"/(forms/\w+|entries/\{entry_id\}/(corrections|void))", WRITE_HEADERS),
    ("post", r"/api/v1/subjects", [IDEMPOTENCY_KEY]),
    ("get", ".*", [REQUEST_ID]),
    ("post", ".*", [REQUEST_ID]),
]


REPLAYED = {"description": "the first result of an earlier request with the same "
                           "Idempotency-Key (nothing appended)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Outcome"}}}}


class DocumentRequestParameters(BasePlugin):
    """Add the table's parameters to each matching operation (unless already documented), and
    the 200 a replayed Idempotency-Key answers where the header is taken."""

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        for method, operation in (operations or {}).items():
            if method == "post" and any(re.fullmatch(pattern, path or "") for wanted, pattern,
                                        parameters in TABLE if IDEMPOTENCY_KEY in parameters):
                operation.setdefault("responses", {}).setdefault("200", dict(REPLAYED))
            known = {(p.get("name"), p.get("in")) for p in operation.get("parameters", [])
                     if isinstance(p, dict)}
            for wanted, pattern, parameters in TABLE:
                if method != wanted or not re.fullmatch(pattern, path or ""):
                    continue
                for parameter in parameters:
                    if (parameter["name"], parameter["in"]) not in known:
                        operation.setdefault("parameters", []).append(dict(parameter))
                        known.add((parameter["name"], parameter["in"]))
