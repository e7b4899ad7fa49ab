"""One error shape for the whole API: ``{"error": {"code", "message", "fields"?}}``."""

from __future__ import annotations

import logging
from typing import Any

from apispec import BasePlugin
from flask import Flask, jsonify
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from ecrf.api.schemas import ErrorSchema
from ecrf.errors import STATUS_BY_KIND, Rejected
from events.signing import SigningKeyError

log = logging.getLogger("ecrf.api")


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict:
    """Build the one error document every failing request returns."""
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


class EcrfApi(Api):
    """flask-smorest's Api with its HTTP errors rendered (and documented) in the error shape."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):  # type: ignore[override]
        data = getattr(error, "data", None) or {}
        fields = None
        if "messages" in data:  # webargs: {"json": {field: [messages]}}
            messages = data["messages"]
            fields = {}
            for location, found in messages.items():  # a location's messages, or a list
                fields.update(found if isinstance(found, dict) else {location: found})
        code = {422: "validation_failed"}.get(error.code or 500, _snake(error.name))
        message = ("the request has invalid or missing fields: see fields" if fields
                   else error.description or error.name)
        return jsonify(error_body(code, message, fields)), error.code


def register(app: Flask) -> None:
    """Map the application's refusals and any unexpected failure to the error shape."""

    @app.errorhandler(Rejected)
    def _rejected(error: Rejected):
        return jsonify(error_body(error.code, error.message, error.fields)), STATUS_BY_KIND[
            error.kind]

    @app.errorhandler(SigningKeyError)
    def _key(error: SigningKeyError):
        log.error("signing key refused: %s", error)  # the operator must act: say it loudly
        return jsonify(error_body("signing_key_mismatch", str(error))), 503

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        if isinstance(error, HTTPException):  # pragma: no cover - handled by EcrfApi
            raise error
        log.exception("unhandled error")
        return jsonify(error_body("internal_error",
                                  "the server failed to process the request; nothing was "
                                  "recorded unless a result was returned")), 500


def _snake(name: str) -> str:
    return name.lower().replace(" ", "_").replace("'", "")


class DocumentJsonObjects(BasePlugin):
    """Document a JSON-object 200 for views that return a dict without a response schema,
    so that clients (and fuzzers) know a success is not an error document."""

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        for operation in (operations or {}).values():
            responses = operation.setdefault("responses", {})
            if not any(str(code).startswith("2") for code in responses):
                responses["200"] = {"description": "OK", "content": {
                    "application/json": {"schema": {"type": "object"}}}}
