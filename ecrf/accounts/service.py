"""Create accounts, check passwords and issue bearer tokens."""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ecrf.accounts.lockout import is_locked, record_failure
from ecrf.accounts.model import ALL_SITES, ROLES, User, fold_user, user_stream
from ecrf.errors import Conflict, Invalid, Unauthenticated
from events import ConcurrencyError, EventStore, NewEvent

_hasher = PasswordHasher()


def use_password_hasher(hasher: PasswordHasher) -> None:
    """Swap the argon2 parameters (the test suite uses argon2's cheapest profile)."""
    global _hasher
    _hasher = hasher
_USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")


def load_user(store: EventStore, username: str) -> User | None:
    """Fold a user's stream into an account, or None when there is no such user."""
    return fold_user(store.read_stream(user_stream(username)))


def create_user(store: EventStore, username: str, password: str, role: str,
                sites: list[str], full_name: str | None = None) -> User:
    """Record a new account; refuses a taken username, an unknown role or a short password."""
    problems: dict[str, list[str]] = {}
    if not username or not set(username) <= _USERNAME_CHARS or len(username) > 64:
        problems["username"] = ["use 1-64 lowercase letters, digits, '.', '_' or '-'"]
    if role not in ROLES:
        problems["role"] = [f"must be one of {', '.join(ROLES)}"]
    if len(password) < 8:
        problems["password"] = ["must be at least 8 characters"]
    if not sites:
        problems["sites"] = [f"give at least one site (or {ALL_SITES!r} for all)"]
    if problems:
        raise Invalid("invalid_user", "the account cannot be created", problems)
    event = NewEvent("UserCreated", {
        "username": username, "role": role, "sites": sorted(set(sites)),
        "full_name": full_name or username, "password_hash": _hasher.hash(password),
    })
    try:
        store.append(user_stream(username), [event], expected_version=0)
    except ConcurrencyError:
        raise Conflict("user_exists", f"user {username!r} already exists") from None
    user = load_user(store, username)
    assert user is not None
    return user


def authenticate(store: EventStore, username: str, password: str) -> User:
    """Return the active account whose password matches, or refuse without saying which failed.

    Every attempt is recorded; the fifth failure within 15 minutes locks the account.
    """
    user = load_user(store, username)
    if user is not None and is_locked(user):
        raise Unauthenticated("account_locked",
                              "the account is locked after repeated failed logins; "
                              "try again in 15 minutes")
    if user is None or not user.active or not password_matches(user, password):
        record_failure(store, user, username, "login")
        raise Unauthenticated("invalid_credentials", "unknown user or wrong password")
    return user


def change_password(store: EventStore, user: User, new_password: str) -> None:
    """Record a new password hash (the old one stays in the log, useless without the password)."""
    if len(new_password) < 8:
        raise Invalid("invalid_password", "the password is too short",
                      {"new_password": ["must be at least 8 characters"]})
    event = NewEvent("PasswordChanged", {"username": user.username,
                                         "password_hash": _hasher.hash(new_password)})
    store.append(user_stream(user.username), [event], expected_version=None)


def password_matches(user: User, password: str) -> bool:
    """Check a password against the account's argon2 hash."""
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Tokens:
    """Signs and checks bearer tokens; a token names its user and expires after ``ttl``."""

    secret_key: str
    ttl: int

    def _serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret_key, salt="ecrf-access-token")

    def issue(self, user: User, token_id: str) -> str:
        """Return a signed token for this user, carrying an id that logout can revoke."""
        return self._serializer().dumps({"u": user.username, "t": token_id})

    def claims(self, token: str) -> tuple[str, str]:
        """Return (username, token id) of a valid, unexpired token, or refuse with 401."""
        try:
            claims = self._serializer().loads(token, max_age=self.ttl)
        except SignatureExpired:
            raise Unauthenticated("token_expired", "the access token has expired") from None
        except BadSignature:
            raise Unauthenticated("invalid_token", "the access token is not valid") from None
        return str(claims["u"]), str(claims.get("t", ""))


def _require_user(store: EventStore, username: str) -> User:
    user = load_user(store, username)
    if user is None:
        raise Invalid("unknown_user", f"there is no user {username!r}",
                      {"username": ["unknown"]})
    return user


def deactivate_user(store: EventStore, username: str, reason: str) -> None:
    """Deactivate an account; it is never deleted, since its events keep naming it."""
    _require_user(store, username)
    store.append(user_stream(username), [NewEvent("UserDeactivated", {"username": username},
                                                  {"reason": reason})], expected_version=None)


def change_role(store: EventStore, username: str, role: str, reason: str) -> None:
    """Give an account another role."""
    _require_user(store, username)
    if role not in ROLES:
        raise Invalid("invalid_user", "unknown role", {"role": [f"one of {', '.join(ROLES)}"]})
    store.append(user_stream(username), [NewEvent(
        "UserRoleChanged", {"username": username, "role": role}, {"reason": reason})],
        expected_version=None)


def change_sites(store: EventStore, username: str, sites: list[str], reason: str) -> None:
    """Assign an account to other sites."""
    _require_user(store, username)
    if not sites:
        raise Invalid("invalid_user", "give at least one site", {"sites": ["required"]})
    store.append(user_stream(username), [NewEvent(
        "UserSitesChanged", {"username": username, "sites": sorted(set(sites))},
        {"reason": reason})], expected_version=None)


def reset_password(store: EventStore, username: str, new_password: str) -> None:
    """Set a new password for an account (administrator's reset)."""
    change_password(store, _require_user(store, username), new_password)
