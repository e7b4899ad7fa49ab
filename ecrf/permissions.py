"""Who may do what: the one declaration of every action's allowed roles (`ecrf permissions`).

Site isolation applies on top of this to every subject action: a user sees only subjects of
the sites assigned to them (auditors and data managers are usually assigned '*').
"""

from __future__ import annotations

from ecrf.errors import Forbidden

SITE = frozenset({"site_staff", "investigator"})
MONITORING = frozenset({"monitor", "data_manager"})
READERS = frozenset({"site_staff", "investigator", "monitor", "data_manager", "auditor"})
OVERSIGHT = frozenset({"monitor", "data_manager", "auditor"})

#: action -> roles allowed.
PERMISSIONS: dict[str, frozenset[str]] = {
    "subject.register": SITE,
    "form.submit": SITE,
    "entry.correct": SITE,
    "entry.void": SITE,
    "subject.read": READERS,
    "subject.list": READERS,
    "forms.describe": READERS,
    "trial.summary": READERS,
    "query.open": MONITORING,
    "query.answer": SITE,
    "query.close": MONITORING,
    "query.reopen": MONITORING,
    "query.cancel": MONITORING,
    "query.list": READERS,
    "entry.verify": frozenset({"monitor"}),
    "casebook.sign": frozenset({"investigator"}),
    "casebook.lock": frozenset({"data_manager"}),
    "casebook.unlock": frozenset({"data_manager"}),
    "trial.lock": frozenset({"data_manager"}),
    "trial.unlock": frozenset({"data_manager"}),
    "audit.verify": OVERSIGHT,
    "audit.read": OVERSIGHT,
    "security.read": frozenset({"data_manager", "auditor"}),
    "export.odm": frozenset({"data_manager", "auditor"}),
    "export.csv": frozenset({"data_manager", "auditor"}),
    "export.sdtm": frozenset({"data_manager", "auditor"}),
}
ROLES = ("site_staff", "investigator", "monitor", "data_manager", "auditor")


def allowed(role: str, action: str) -> bool:
    """Tell whether ``role`` may perform ``action``."""
    return role in PERMISSIONS[action]


def require(role: str, action: str) -> None:
    """Refuse with 403 unless ``role`` may perform ``action``."""
    if not allowed(role, action):
        raise Forbidden("forbidden", f"the role {role!r} may not {action.replace('.', ' ')}")


def matrix() -> list[tuple[str, dict[str, bool]]]:
    """Return (action, {role: allowed}) rows for printing."""
    return [(action, {r: r in roles for r in ROLES}) for action, roles in PERMISSIONS.items()]
