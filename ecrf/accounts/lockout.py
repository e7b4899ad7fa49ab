"""Failed password checks as events: one counter per account, lockout after repeated failures.

Every password check counts: login, password change and e-signature. The fifth failure within
15 minutes locks the account for 15 minutes and revokes every token it holds. Security events
of an account go to its own stream (``user:<name>``). A name that is no account is never
recorded as typed (it may be a password typed in the wrong field): its failures go to the
stream ``unknown-user:<hmac>``, keyed with the app's secret, so an auditor can still tell that
the same unknown name was tried N times, and it "locks" exactly like an account does.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ecrf.accounts.model import User, user_stream
from ecrf.errors import Forbidden, Unauthenticated
from events import EventStore, NewEvent, RecordedEvent

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_DURATION = timedelta(minutes=15)
SECURITY_STREAM = "security"
UNKNOWN_PREFIX = "unknown-user:"


def is_locked(user: User | UnknownName, now: datetime | None = None) -> bool:
    """Tell whether the account (or unknown name) is locked out now."""
    now = now or datetime.now(UTC)
    return user.locked_until is not None and now < user.locked_until


def username_digest(secret_key: str, username: str) -> str:
    """Key a typed username with the app's secret: the same name gives the same digest."""
    return hmac.new(secret_key.encode(), b"ecrf-unknown-username\x00" + username.encode(),
                    hashlib.sha256).hexdigest()


@dataclass
class UnknownName:
    """The failure count of a name that is no account, folded from its ``unknown-user:`` stream."""

    digest: str
    recent_failures: list[datetime] = field(default_factory=list)
    locked_until: datetime | None = None

    @property
    def stream_id(self) -> str:
        return UNKNOWN_PREFIX + self.digest


def load_unknown(store: EventStore, digest: str) -> UnknownName:
    """Fold the failures recorded for an unknown name's digest."""
    name = UnknownName(digest)
    _fold_failures(name, store.read_stream(name.stream_id))
    return name


def _fold_failures(name: UnknownName, events: Iterable[RecordedEvent]) -> None:
    for event in events:
        if event.type == "LoginFailed":
            name.recent_failures.append(event.recorded_at)
        elif event.type == "AccountLocked":
            name.locked_until = datetime.fromisoformat(event.data["until"])
            name.recent_failures.clear()


def _lock_if_due(recent: list[datetime], now: datetime, subject: dict) -> list[NewEvent]:
    failures = len([t for t in recent if now - t <= FAILURE_WINDOW]) + 1
    if failures < MAX_FAILURES:
        return []
    return [NewEvent("AccountLocked", {**subject, "until": (now + LOCK_DURATION).isoformat(),
                                       "failures": failures}, {"actor": "system"})]


def record_failure(store: EventStore, user: User, purpose: str) -> None:
    """Record a failed password check of an account; the fifth within 15 minutes locks it
    (and, through the fold, revokes every token it holds)."""
    now = datetime.now(UTC)
    subject = {"username": user.username}
    events = [NewEvent("LoginFailed", {**subject, "purpose": purpose},
                       {"actor": user.username}),
              *_lock_if_due(user.recent_failures, now, subject)]
    store.append(user_stream(user.username), events, expected_version=None)


def record_unknown_failure(store: EventStore, name: UnknownName) -> None:
    """Record a failed login for a name that is no account, by its digest only."""
    now = datetime.now(UTC)
    subject = {"username_hmac": name.digest}
    events = [NewEvent("LoginFailed", {**subject, "purpose": "login"},
                       {"actor": "anonymous"}),
              *_lock_if_due(name.recent_failures, now, subject)]
    store.append(name.stream_id, events, expected_version=None)


def record_success(store: EventStore, user: User, token_id: str) -> None:
    """Record a successful login with the id of the token it issued."""
    store.append(user_stream(user.username), [NewEvent(
        "LoginSucceeded", {"username": user.username, "token_id": token_id},
        {"actor": user.username, "role": user.role})], expected_version=None)


def is_security_stream(stream_id: str) -> bool:
    """Tell whether a stream holds account or login events (GET /security/events)."""
    return (stream_id.startswith(("user:", UNKNOWN_PREFIX)) or stream_id == SECURITY_STREAM)


def check_password_for_signature(store: EventStore, user: User, password: str) -> None:
    """Check a signer's re-entered password; a failure counts toward the lockout."""
    from ecrf.accounts.service import password_matches

    if is_locked(user):
        raise Unauthenticated("account_locked", "the account is locked; try again later")
    if not password_matches(user, password):
        record_failure(store, user, "signature")
        raise Forbidden("signature_refused", "the password does not match: not signed",
                        {"password": ["wrong password"]})


def check_current_password(store: EventStore, user: User, password: str) -> None:
    """Check the current password re-entered to change it; a failure counts toward the lockout."""
    from ecrf.accounts.service import password_matches

    if not password_matches(user, password):
        record_failure(store, user, "password_change")
        raise Forbidden("password_refused", "the current password does not match",
                        {"current_password": ["wrong password"]})
