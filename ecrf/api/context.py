"""Per-request plumbing: the services, the authenticated user, and common query arguments."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app, g, request

from ecrf.accounts.lockout import is_locked
from ecrf.accounts.model import User
from ecrf.accounts.service import Tokens, load_user
from ecrf.errors import BadRequest, Invalid, Unauthenticated
from events import EventStore
from events.context import pop_metadata, push_metadata
from events.store import begin_read_view, end_read_view
from projections.readmodel.runner import ProjectionRunner
from projections.trial_config import TrialConfig


@dataclass
class Services:
    """What the views need, built once per app."""

    store: EventStore
    tokens: Tokens
    trial: TrialConfig
    runner: ProjectionRunner
    witness: Any = None  # events.checkpoints.WitnessFile, made on first use (ecrf.evidence)


def services() -> Services:
    return current_app.extensions["ecrf"]


def current_user() -> User:
    """Return the user named by the bearer token, or refuse with 401."""
    if "user" in g:
        return g.user
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("missing_token", "send 'Authorization: Bearer <token>'")
    username, token_id = services().tokens.claims(token.strip())
    user = load_user(services().store, username)
    if user is None or not user.active:
        raise Unauthenticated("invalid_token", "the account of this token is not active")
    if is_locked(user):
        raise Unauthenticated("account_locked", "the account of this token is locked")
    if not user.token_valid(token_id):
        raise Unauthenticated("token_revoked", "this token was revoked (logout, password "
                              "change or lock): log in again")
    g.token_id = token_id
    g.user = user
    g.metadata_token = push_metadata(actor=user.username, role=user.role)
    return user


REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


# What ``uuid.UUID(int=n, version=4)`` does to n, without building the object: the version
# nibble set to 4 and the variant bits to RFC 4122's 10.
_V4_CLEARED = ~((0xF << 76) | (0x3 << 62))
_V4_SET = (0x4 << 76) | (0x2 << 62)


def new_request_id() -> str:
    """A random version 4 UUID's 32 hex digits, drawn from ``random`` rather than the operating
    system: ``uuid.uuid4`` reads ``os.urandom``, a system call that gives up the GIL in every
    request (one more hand-over to another thread under load). The id only ties a request's
    log line to the events it appended; it grants nothing, so it need only be unique, and
    ``random`` is seeded from the system at start and again in every forked child."""
    return f"{random.getrandbits(128) & _V4_CLEARED | _V4_SET:032x}"


def begin_request() -> None:
    """Give every request an id and stamp it, with the client, on the events it appends.

    A client's X-Request-Id is kept only when it matches ``[A-Za-z0-9._-]{1,64}`` (it goes into
    the permanent log); otherwise a new one is made. The User-Agent is kept printable, 200
    characters at most."""
    offered = request.headers.get("X-Request-Id", "")
    g.request_id = offered if REQUEST_ID.fullmatch(offered) else new_request_id()
    agent = request.headers.get("User-Agent", "")
    client = (agent if agent.isprintable() else "".join(c for c in agent if c.isprintable())
              )[:200]
    g.base_metadata_token = push_metadata(request_id=g.request_id, client=client or "unknown")
    g.read_view_token = begin_read_view()  # the stream cache meets the log head once a request


def end_request(_error: BaseException | None = None) -> None:
    for name in ("metadata_token", "base_metadata_token"):
        token = g.pop(name, None)
        if token is not None:
            pop_metadata(token)
    view = g.pop("read_view_token", None)
    if view is not None:
        end_read_view(view)


def json_body() -> Any:
    """Return the parsed JSON body, or refuse with 400 when it is not (strict) JSON."""
    body = request.get_json()  # ecrf.api.strict_json: duplicate keys, depth, UTF-8 refused
    if body is None:
        raise BadRequest("invalid_json", "the request body must be JSON")
    return body


def if_match() -> int | None:
    """Read the stream version a client based its write on (``If-Match: 3`` or ``"3"``)."""
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    try:
        return int(raw.strip().strip('"').removeprefix("W/").strip('"'))
    except ValueError:
        raise BadRequest("invalid_if_match",
                         "If-Match must carry the casebook's stream version") from None


def idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= 100:
        raise BadRequest("invalid_idempotency_key", "Idempotency-Key must be 1-100 characters")
    return key


WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")  # ASCII digits only: "²".isdigit() is True


def parse_moment(name: str, raw: str, code: str = "invalid_moment") -> datetime:
    """Parse a query parameter holding an ISO 8601 date-time with offset.

    Malformed or without offset: 400 ``code``. A date-time beyond what UTC can represent (e.g.
    ``9999-12-31T23:59:59-14:00``): 422 naming the parameter. The one parser of date-time query
    parameters (as_of, replay/diff from and to, the audit filters).
    """
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise BadRequest(code, f"{name} must be an ISO 8601 date-time with offset",
                         {name: ["e.g. 2026-03-01T12:00:00Z"]})
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise Invalid("out_of_range", f"{name} is beyond the dates the server can represent",
                      {name: ["give a date-time between years 1 and 9999 in UTC"]}) from None
    return moment


def is_whole_number(raw: str) -> bool:
    """Tell whether a query parameter is a non-negative whole number of at most 18 digits."""
    return WHOLE_NUMBER.fullmatch(raw) is not None


def as_of_position() -> int | None:
    """Resolve ``?position=n`` or ``?as_of=<datetime with offset>`` to a log position."""
    if not request.environ.get("QUERY_STRING"):
        return None  # no parameters at all (most reads): the query string is not parsed
    position, as_of = request.args.get("position"), request.args.get("as_of")
    if position is not None and as_of is not None:
        raise BadRequest("ambiguous_as_of", "give either as_of or position, not both",
                         {"as_of": ["not with position"]})
    if position is not None:
        if not is_whole_number(position):
            raise BadRequest("invalid_position", "position must be a non-negative integer",
                             {"position": ["not a non-negative integer"]})
        return int(position)
    if as_of is not None:
        return services().store.position_at(parse_moment("as_of", as_of, "invalid_as_of"))
    return None


def object_body(*allowed: str) -> dict:
    """Return the JSON body as an object with only the ``allowed`` keys, or refuse with 422."""
    body = json_body()
    if not isinstance(body, dict):
        raise Invalid("validation_failed", "the body must be a JSON object",
                      {"_body": ["expected a JSON object"]})
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise Invalid("validation_failed", "unknown fields",
                      {k: ["Unknown field."] for k in unknown})
    return body
