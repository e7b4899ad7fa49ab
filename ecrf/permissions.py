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
    "eligibility.attest": frozenset({"investigator"}),
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
    "audit.checkpoint": frozenset({"data_manager", "auditor"}),
    "security.read": frozenset({"data_manager", "auditor"}),
    "export.odm": frozenset({"data_manager", "auditor"}),
    "export.csv": frozenset({"data_manager", "auditor"}),
    "export.sdtm": frozenset({"data_manager", "auditor"}),
}
#: forms whose submission, correction and voiding need an action other than the generic one:
#: the I/E checklist carries the investigator's attestation of eligibility (protocol 6.1).
FORM_ACTIONS: dict[str, str] = {"ie_checklist": "eligibility.attest"}
ROLES = ("site_staff", "investigator", "monitor", "data_manager", "auditor")

#: What each action is, in the words of a refusal ("a monitor cannot submit forms").
ACTION_WORDS: dict[str, str] = {
    "subject.register": "register subjects",
    "form.submit": "submit forms",
    "eligibility.attest": "attest eligibility (the I/E checklist)",
    "entry.correct": "correct entries",
    "entry.void": "void entries",
    "subject.read": "read casebooks",
    "subject.list": "list subjects",
    "forms.describe": "read the form definitions",
    "trial.summary": "read the trial summary",
    "query.open": "open queries",
    "query.answer": "answer queries",
    "query.close": "close queries",
    "query.reopen": "re-open queries",
    "query.cancel": "cancel queries",
    "query.list": "list queries",
    "entry.verify": "verify entries against source documents",
    "casebook.sign": "sign casebooks",
    "casebook.lock": "lock casebooks",
    "casebook.unlock": "unlock casebooks",
    "trial.lock": "lock the trial database",
    "trial.unlock": "unlock the trial database",
    "audit.verify": "verify the audit chain",
    "audit.read": "read the audit trail",
    "audit.checkpoint": "sign checkpoints of the log",
    "security.read": "read the security log",
    "export.odm": "export ODM files",
    "export.csv": "export CSV files",
    "export.sdtm": "export SDTM datasets",
}
ROLE_NAMES = {"site_staff": "a site staff member", "investigator": "an investigator",
              "monitor": "a monitor", "data_manager": "a data manager",
              "auditor": "an auditor", "system": "the system"}


def refusal(role: str, action: str) -> str:
    """Say in words who cannot do what: 'a monitor cannot submit forms'."""
    who = ROLE_NAMES.get(role, f"the role {role!r}")
    return f"{who} cannot {ACTION_WORDS.get(action, action.replace('.', ' '))}"


def allowed(role: str, action: str) -> bool:
    """Tell whether ``role`` may perform ``action``."""
    return role in PERMISSIONS[action]


def require(role: str, action: str) -> None:
    """Refuse with 403 unless ``role`` may perform ``action``."""
    if not allowed(role, action):
        raise Forbidden("forbidden", refusal(role, action))


def require_for_form(role: str, form: str, action: str) -> None:
    """Refuse with 403 unless ``role`` may do ``action`` and, for a restricted form, its own."""
    require(role, action)
    if form in FORM_ACTIONS:
        require(role, FORM_ACTIONS[form])


def matrix() -> list[tuple[str, dict[str, bool]]]:
    """Return (action, {role: allowed}) rows for printing."""
    return [(action, {r: r in roles for r in ROLES}) for action, roles in PERMISSIONS.items()]
