"""Refuse, before any view, what no path or query parameter can hold: a NUL character.

PostgreSQL cannot store or compare text with U+0000 (it answered 500); no identifier of this
API contains one, so a path with it names nothing (404) and a query parameter with it is a
client error (400 naming the parameter).
"""

from __future__ import annotations

from flask import Flask, request

from ecrf.errors import BadRequest, NotFound


def refuse_nul_bytes() -> None:
    if "\x00" in request.path:
        raise NotFound("not_found", "no resource has this path")
    bad = sorted({name for name, value in request.args.items(multi=True)
                  if "\x00" in name or "\x00" in value})
    if bad:
        raise BadRequest("invalid_parameter", "a query parameter contains a NUL character",
                         {name.replace("\x00", "\\u0000"): ["contains a NUL character"]
                          for name in bad})


def init_app(app: Flask) -> None:
    app.before_request(refuse_nul_bytes)
