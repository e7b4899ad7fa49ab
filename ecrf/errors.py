"""One error vocabulary for the whole application, mapped to HTTP in one place (ecrf.api.errors)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class Rejected(Exception):
    """A request refused for a reason the client can act on; nothing was appended.

    ``kind`` says which: invalid (422), bad_request (400), unauthenticated (401),
    forbidden (403), not_found (404), conflict (409), locked (423 is not used: conflict).
    """

    kind = "invalid"

    def __init__(self, code: str, message: str,
                 fields: Mapping[str, Sequence[str] | Mapping] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = dict(fields) if fields else None


class Invalid(Rejected):
    kind = "invalid"


class BadRequest(Rejected):
    kind = "bad_request"


class Unauthenticated(Rejected):
    kind = "unauthenticated"


class Forbidden(Rejected):
    kind = "forbidden"


class NotFound(Rejected):
    kind = "not_found"


class Conflict(Rejected):
    kind = "conflict"


STATUS_BY_KIND = {
    "invalid": 422,
    "bad_request": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "too_many_requests": 429,
}
