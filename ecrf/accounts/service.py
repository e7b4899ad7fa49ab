"""Create accounts, check passwords and issue bearer tokens."""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

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
    """Return the active account whose password matches, or refuse without saying which failed."""
    user = load_user(store, username)
    if user is None or not user.active or not _password_matches(user, password):
        raise Unauthenticated("invalid_credentials", "unknown user or wrong password")
    return user


def _password_matches(user: User, password: str) -> bool:
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

    def issue(self, user: User) -> str:
        """Return a signed token for this user."""
        return self._serializer().dumps({"u": user.username, "v": user.version})

    def username(self, token: str) -> str:
        """Return the username in a valid, unexpired token, or refuse with 401."""
        try:
            claims = self._serializer().loads(token, max_age=self.ttl)
        except SignatureExpired:
            raise Unauthenticated("token_expired", "the access token has expired") from None
        except BadSignature:
            raise Unauthenticated("invalid_token", "the access token is not valid") from None
        return str(claims["u"])
