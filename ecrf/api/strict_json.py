"""One JSON parser for every request body: strict UTF-8, no duplicate keys, bounded depth.

Python's ``json`` silently keeps the last of two equal keys (``{"platelets": 64,
"platelets": 640}`` would store 640), accepts lone surrogates (``"\\ud800"``, which no
database can store) and recurses without bound. Every body is parsed here before any view
sees it (``check_body`` runs before each request), through the app's JSON provider, so views
reading ``request.get_json()`` and flask-smorest's argument parsing see the same refusals:
400 ``invalid_json``, and 413 for a body larger than ``MAX_CONTENT_LENGTH`` (1 MiB).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, current_app, request
from flask.json.provider import DefaultJSONProvider
from flask.wrappers import Request

from ecrf.errors import BadRequest, Rejected

MAX_DEPTH = 32
MAX_BODY_BYTES = 1024 * 1024


class BodyTooLarge(Rejected):
    """A body over the size limit (413)."""

    kind = "too_large"


class InvalidJson(BadRequest):
    """A body that is not strict JSON: the message says what is wrong, in plain words."""

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__("invalid_json", message, fields)


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise InvalidJson(f"the key {key!r} appears twice in one object; give it once",
                              {key: ["given twice"]})
        obj[key] = value
    return obj


def _check_tree(value: Any) -> None:
    """Refuse nesting deeper than MAX_DEPTH and strings no UTF-8 text can hold (iteratively)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                raise InvalidJson(f"the JSON is nested deeper than {MAX_DEPTH} levels")
            children = list(node.items()) if isinstance(node, dict) else [(None, v) for v in node]
            for key, child in children:
                if key is not None:
                    _check_text(key)
                stack.append((child, depth + 1))
        elif isinstance(node, str):
            _check_text(node)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidJson("the JSON holds a lone surrogate escape (such as \\ud800), "
                          "which is not a character") from None
    if "\x00" in text:
        raise InvalidJson("the JSON holds a NUL character (\\u0000), which no field accepts")


def strict_loads(data: str | bytes) -> Any:
    """Parse a JSON document strictly, or raise InvalidJson saying what is wrong."""
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidJson("the body is not valid UTF-8 text") from None
    try:
        value = json.loads(data, object_pairs_hook=_refuse_duplicates,
                           parse_constant=_refuse_constant)
    except RecursionError:
        raise InvalidJson(f"the JSON is nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as error:
        raise InvalidJson(f"the body is not valid JSON ({error.msg} at line {error.lineno}, "
                          f"column {error.colno})") from None
    _check_tree(value)
    return value


def _refuse_constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not a JSON number")


class StrictJSONProvider(DefaultJSONProvider):
    """The app's JSON provider: dumps as Flask does, loads strictly."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return strict_loads(s)


class StrictRequest(Request):
    """A request whose JSON errors are the API's own (not werkzeug's HTML 400)."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if isinstance(e, Rejected):
            raise e
        if e is None:
            raise InvalidJson("send the body as JSON with 'Content-Type: application/json'")
        raise InvalidJson("the body is not valid JSON")


def check_body() -> None:
    """Before every view: refuse an oversized body, then parse a JSON body once, strictly."""
    environ = request.environ
    if environ.get("REQUEST_METHOD") in ("GET", "HEAD") and not environ.get("CONTENT_TYPE") \
            and not environ.get("CONTENT_LENGTH"):
        return  # no length and not JSON: none of the checks below applies (every read)
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or MAX_BODY_BYTES
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge("body_too_large", f"the body is larger than {limit} bytes")
    if not request.is_json and request.method in ("POST", "PUT", "PATCH") and (
            request.content_length or request.headers.get("Transfer-Encoding")):
        # a form-encoded or text body would reach the views as "missing fields": say why
        raise InvalidJson("send the body as JSON with 'Content-Type: application/json'")
    if request.is_json:
        raw = request.get_data(cache=True)
        if len(raw) > limit:  # a chunked body carries no Content-Length
            raise BodyTooLarge("body_too_large", f"the body is larger than {limit} bytes")
        if raw:  # whitespace alone is not JSON either (webargs would answer it with a 500)
            request.get_json(cache=True)


def init_app(app: Flask) -> None:
    """Install the strict provider, the request class, the size limit and the body check."""
    app.json = StrictJSONProvider(app)
    app.request_class = StrictRequest
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.before_request(check_body)
