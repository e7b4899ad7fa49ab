"""Refuse, before any view, what no path, query parameter or header can hold: a NUL character.

PostgreSQL cannot store or compare text with U+0000 (it answered 500, e.g. for an
Idempotency-Key with one); no identifier of this API contains one, so a path with it names
nothing (404) and a query parameter or header with it is a client error (400 naming it).
"""

from __future__ import annotations

from flask import Flask, request

from ecrf.errors import BadRequest, NotFound

#: The environ's keys that become request headers besides the ``HTTP_`` ones (PEP 3333).
_UNPREFIXED_HEADERS = ("CONTENT_TYPE", "CONTENT_LENGTH")


def may_hold_nul(environ: dict) -> bool:
    """Tell whether the path, the query string or a header of a WSGI request could hold a NUL:
    raw in the path (the server decoded it) or a header, raw or as ``%00`` in the query string
    (the only escape that decodes to U+0000). False for nearly every request, found in one pass
    over the environ, where reading ``request.args`` and ``request.headers`` builds both."""
    if "\x00" in environ.get("PATH_INFO", ""):
        return True
    query = environ.get("QUERY_STRING", "")
    if "%00" in query or "\x00" in query:
        return True
    return any("\x00" in value for key, value in environ.items()
               if (key.startswith("HTTP_") or key in _UNPREFIXED_HEADERS)
               and isinstance(value, str))


def refuse_nul_bytes() -> None:
    if not may_hold_nul(request.environ):
        return
    if "\x00" in request.path:
        raise NotFound("not_found", "no resource has this path")
    bad = sorted({name for name, value in request.args.items(multi=True)
                  if "\x00" in name or "\x00" in value})
    if bad:
        raise BadRequest("invalid_parameter", "a query parameter contains a NUL character",
                         {name.replace("\x00", "\\u0000"): ["contains a NUL character"]
                          for name in bad})
    headers = sorted({name for name, value in request.headers.items() if "\x00" in value})
    if headers:
        raise BadRequest("invalid_header", "a header contains a NUL character",
                         {name: ["contains a NUL character"] for name in headers})


def init_app(app: Flask) -> None:
    app.before_request(refuse_nul_bytes)
