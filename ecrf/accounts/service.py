"""Create accounts, check passwords and issue bearer tokens."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ecrf.accounts.lockout import (
    is_locked,
    load_unknown,
    record_failure,
    record_unknown_failure,
    username_digest,
)
from ecrf.accounts.model import (
    ALL_SITES,
    RESERVED_USERNAMES,
    ROLES,
    User,
    fold_user,
    user_stream,
)
from ecrf.errors import Conflict, Invalid, Unauthenticated
from ecrf.text import MAX_FULL_NAME, TextProblem, clean_text
from events import ConcurrencyError, EventStore, NewEvent

_hasher = PasswordHasher()
CHECKED_TOKENS = 4096  # signature checks remembered (one per live token is plenty)
_dummy_hash: str | None = None  # checked for a name that is no account: the same argon2 work
USERNAME_PATTERN = r"[a-z0-9._-]{1,64}"
REFUSED_LOGIN = ("invalid_credentials", "the username or password is wrong, or the account is "
                 "locked (for 15 minutes after 5 failed attempts) or deactivated; an "
                 "administrator can tell you which from the security log")


def use_password_hasher(hasher: PasswordHasher) -> None:
    """Swap the argon2 parameters (the test suite uses argon2's cheapest profile)."""
    global _hasher, _dummy_hash
    _hasher, _dummy_hash = hasher, None


def _burn_a_password_check(password: str) -> None:
    """Verify against a hash of no account, so a refused name costs what a known one does."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("no account has this password")
    with contextlib.suppress(VerificationError, InvalidHashError):
        _hasher.verify(_dummy_hash, password)


def valid_username(username: str) -> bool:
    """Tell whether a string is a well-formed username (matched in full: no trailing newline)."""
    return re.fullmatch(USERNAME_PATTERN, username) is not None


def load_user(store: EventStore, username: str) -> User | None:
    """Fold a user's stream into an account, or None when there is no such user."""
    return fold_user(store.read_stream(user_stream(username)))


def create_user(store: EventStore, username: str, password: str, role: str,
                sites: list[str], full_name: str | None = None) -> User:
    """Record a new account; refuses a taken username, an unknown role or a short password."""
    problems: dict[str, list[str]] = {}
    if not valid_username(username):
        problems["username"] = ["use 1-64 lowercase letters, digits, '.', '_' or '-'"]
    elif username in RESERVED_USERNAMES:
        problems["username"] = [f"{username!r} is reserved for the application's own records"]
    try:
        full_name = clean_text(full_name or username, MAX_FULL_NAME)
    except TextProblem as problem:
        problems["full_name"] = [str(problem)]
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
        "full_name": full_name, "password_hash": _hasher.hash(password),
    })
    try:
        store.append(user_stream(username), [event], expected_version=0)
    except ConcurrencyError:
        raise Conflict("user_exists", f"user {username!r} already exists") from None
    user = load_user(store, username)
    assert user is not None
    return user


def authenticate(store: EventStore, username: str, password: str, *, secret_key: str) -> User:
    """Return the active, unlocked account whose password matches, or refuse with one 401.

    Unknown name, wrong password, locked or deactivated: the same answer, the same argon2 work.
    Every failure is recorded (an unknown name only as a keyed digest); the fifth within 15
    minutes locks the account, or the unknown name, for 15 minutes.
    """
    user = load_user(store, username) if valid_username(username) else None
    if user is None:
        _burn_a_password_check(password)
        name = load_unknown(store, username_digest(secret_key, username))
        if not is_locked(name):
            record_unknown_failure(store, name)
        raise Unauthenticated(*REFUSED_LOGIN)
    matches = password_matches(user, password)
    if is_locked(user):
        raise Unauthenticated(*REFUSED_LOGIN)
    if not user.active or not matches:
        record_failure(store, user, "login")
        raise Unauthenticated(*REFUSED_LOGIN)
    return user


def change_password(store: EventStore, user: User, new_password: str,
                    keep_token_id: str | None = None) -> None:
    """Record a new password hash (the old one stays in the log, useless without the password).

    Every token of the account is revoked except ``keep_token_id`` (the one that changed it).
    """
    if len(new_password) < 8:
        raise Invalid("invalid_password", "the password is too short",
                      {"new_password": ["must be at least 8 characters"]})
    data = {"username": user.username, "password_hash": _hasher.hash(new_password)}
    if keep_token_id:
        data["kept_token_id"] = keep_token_id
    event = NewEvent("PasswordChanged", data)
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
    #: Tokens whose signature was checked: token -> (username, token id, expiry). Checking an
    #: HMAC signature again gives the same answer, so only the expiry is looked at again (and
    #: the account's revocations, by the caller, on every request).
    _checked: OrderedDict[str, tuple[str, str, float]] = field(
        default_factory=OrderedDict, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def _serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret_key, salt="ecrf-access-token")

    def issue(self, user: User, token_id: str) -> str:
        """Return a signed token for this user, carrying an id that logout can revoke."""
        return self._serializer().dumps({"u": user.username, "t": token_id})

    def claims(self, token: str) -> tuple[str, str]:
        """Return (username, token id) of a valid, unexpired token, or refuse with 401."""
        with self._lock:
            known = self._checked.get(token)
            if known is not None:
                self._checked.move_to_end(token)
        if known is None:
            try:
                claims, signed_at = self._serializer().loads(token, max_age=self.ttl,
                                                             return_timestamp=True)
            except SignatureExpired:
                raise Unauthenticated("token_expired", "the access token has expired") from None
            except BadSignature:
                raise Unauthenticated("invalid_token", "the access token is not valid") from None
            known = (str(claims["u"]), str(claims.get("t", "")),
                     signed_at.timestamp() + self.ttl)
            with self._lock:
                self._checked[token] = known
                while len(self._checked) > CHECKED_TOKENS:
                    self._checked.popitem(last=False)
        if time.time() > known[2]:
            raise Unauthenticated("token_expired", "the access token has expired")
        return known[0], known[1]


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
