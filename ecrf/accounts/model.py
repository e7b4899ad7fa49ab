"""A user account as folded from its stream ``user:<username>``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from events import RecordedEvent

ROLES = ("site_staff", "investigator", "monitor", "data_manager", "auditor")
#: Names no account may take: "system" stamps what the application itself records.
RESERVED_USERNAMES = frozenset({"system"})
ALL_SITES = "*"


def user_stream(username: str) -> str:
    """Name the stream that holds one user's account events."""
    return f"user:{username}"


@dataclass
class User:
    """The current state of an account; ``sites`` may hold ALL_SITES for a trial-wide role."""

    username: str
    role: str
    sites: tuple[str, ...]
    full_name: str
    password_hash: str = field(repr=False, default="")
    active: bool = True
    version: int = 0
    recent_failures: list[datetime] = field(default_factory=list, repr=False)
    locked_until: datetime | None = None
    issued_tokens: set[str] = field(default_factory=set, repr=False)
    revoked_tokens: set[str] = field(default_factory=set, repr=False)

    def token_valid(self, token_id: str) -> bool:
        """Tell whether a token id was issued to this account and not revoked since."""
        return token_id in self.issued_tokens and token_id not in self.revoked_tokens

    def revoke_tokens(self, keep: str | None = None) -> None:
        """Revoke every token issued so far, except ``keep``."""
        self.revoked_tokens |= self.issued_tokens - {keep}

    def sees_site(self, site_id: str) -> bool:
        """Tell whether this user may see subjects of a site."""
        return ALL_SITES in self.sites or site_id in self.sites


def fold_user(events: Iterable[RecordedEvent]) -> User | None:
    """Rebuild an account from its events (None when the stream is empty)."""
    user: User | None = None
    for event in events:
        data = event.data
        if event.type == "UserCreated":
            user = User(data["username"], data["role"], tuple(data["sites"]),
                        data.get("full_name") or data["username"], data["password_hash"])
        elif user is None:
            continue
        elif event.type == "PasswordChanged":  # every other token of the account is revoked
            user.password_hash = data["password_hash"]
            user.revoke_tokens(keep=data.get("kept_token_id"))
        elif event.type == "UserRoleChanged":
            user.role = data["role"]
        elif event.type == "UserSitesChanged":
            user.sites = tuple(data["sites"])
        elif event.type == "UserDeactivated":
            user.active = False
            user.revoke_tokens()
        elif event.type == "UserReactivated":
            user.active = True
        elif event.type == "LoginFailed":
            user.recent_failures.append(event.recorded_at)
        elif event.type == "LoginSucceeded":
            user.recent_failures.clear()
            user.issued_tokens.add(data["token_id"])
        elif event.type == "AccountLocked":  # a lock also revokes every token it holds
            user.locked_until = datetime.fromisoformat(data["until"])
            user.recent_failures.clear()
            user.revoke_tokens()
        elif event.type == "LoggedOut":
            user.revoked_tokens.add(data["token_id"])
        if user is not None:
            user.version = event.stream_version
    return user
