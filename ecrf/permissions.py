"""Who may do what: the one declaration of every action's allowed roles (`ecrf permissions`)."""

from __future__ import annotations

from ecrf.errors import Forbidden

DATA_ENTRY = frozenset({"site_staff", "investigator"})
READERS = frozenset({"site_staff", "investigator", "monitor", "data_manager", "auditor"})

#: action -> roles allowed. Site isolation applies on top of this to every subject action.
PERMISSIONS: dict[str, frozenset[str]] = {
    "subject.register": DATA_ENTRY,
    "form.submit": DATA_ENTRY,
    "entry.correct": DATA_ENTRY,
    "entry.void": DATA_ENTRY,
    "subject.read": READERS,
    "subject.list": READERS,
    "forms.describe": READERS,
    "trial.summary": READERS,
    "audit.verify": frozenset({"monitor", "data_manager", "auditor"}),
}


def require(role: str, action: str) -> None:
    """Refuse with 403 unless ``role`` may perform ``action``."""
    if role not in PERMISSIONS[action]:
        raise Forbidden("forbidden", f"the role {role!r} may not {action.replace('.', ' ')}")


def matrix() -> list[tuple[str, dict[str, bool]]]:
    """Return (action, {role: allowed}) rows for printing."""
    roles = sorted(READERS)
    return [(action, {r: r in allowed for r in roles}) for action, allowed in PERMISSIONS.items()]
