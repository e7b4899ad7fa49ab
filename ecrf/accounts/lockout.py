"""Login bookkeeping as events: successes, failures, lockout after repeated failures.

Security events go to the account's own stream (``user:<name>``); failures for names that
are no account go to the ``security`` stream. Auditors read both (GET /security/events).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ecrf.accounts.model import User, user_stream
from ecrf.errors import Forbidden, Unauthenticated
from events import EventStore, NewEvent

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_DURATION = timedelta(minutes=15)
SECURITY_STREAM = "security"


def is_locked(user: User, now: datetime | None = None) -> bool:
    """Tell whether the account is locked out now."""
    now = now or datetime.now(UTC)
    return user.locked_until is not None and now < user.locked_until


def record_failure(store: EventStore, user: User | None, username: str, purpose: str) -> None:
    """Record a failed password check, and lock the account on the fifth within 15 minutes."""
    now = datetime.now(UTC)
    failure = NewEvent("LoginFailed", {"username": username, "purpose": purpose},
                       {"actor": username})
    if user is None:
        store.append(SECURITY_STREAM, [failure], expected_version=None)
        return
    recent = [t for t in user.recent_failures if now - t <= FAILURE_WINDOW]
    events = [failure]
    if len(recent) + 1 >= MAX_FAILURES:
        events.append(NewEvent("AccountLocked", {
            "username": username, "until": (now + LOCK_DURATION).isoformat(),
            "failures": len(recent) + 1}, {"actor": "system"}))
    store.append(user_stream(username), events, expected_version=None)


def record_success(store: EventStore, user: User, token_id: str) -> None:
    """Record a successful login with the id of the token it issued."""
    store.append(user_stream(user.username), [NewEvent(
        "LoginSucceeded", {"username": user.username, "token_id": token_id},
        {"actor": user.username, "role": user.role})], expected_version=None)


def check_password_for_signature(store: EventStore, user: User, password: str) -> None:
    """Check a signer's re-entered password; a failure counts toward the lockout."""
    from ecrf.accounts.service import password_matches

    if is_locked(user):
        raise Unauthenticated("account_locked", "the account is locked; try again later")
    if not password_matches(user, password):
        record_failure(store, user, user.username, "signature")
        raise Forbidden("signature_refused", "the password does not match: not signed",
                        {"password": ["wrong password"]})
