"""The query arguments of the trial audit trail, checked: unknown values are refused by name.

A filter that silently matched nothing (``type=Nope``) or was ignored would let an inspector
believe a partial trail is whole; every value is checked against what can occur.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from werkzeug.datastructures import MultiDict

from ecrf.api.context import is_whole_number, parse_moment
from ecrf.errors import BadRequest, Invalid
from ecrf.forms.registry import FORMS
from ecrf.permissions import ROLES
from projections.audit_trail import WORKFLOW_ACTIONS

#: the event types an audit row can carry (subject streams only).
AUDIT_EVENT_TYPES = tuple(sorted({f.event_type for f in FORMS.values()}
                                 | {"EntryCorrected", "EntryVoided"} | set(WORKFLOW_ACTIONS)))
AUDIT_ROLES = (*ROLES, "system")
FORMATS = ("json", "csv")
KNOWN = ("subject", "user", "role", "type", "from", "to", "after", "limit", "format")


@dataclass(frozen=True)
class AuditFilters:
    """What the client asked for; ``limit`` None means the whole trail."""

    subject: str | None
    user: str | None
    role: str | None
    type: str | None
    start: datetime | None
    end: datetime | None
    after: int
    limit: int | None
    format: str
    given: dict[str, str]  # the arguments as sent, for the AuditViewed event

    def matches(self, row: dict[str, Any]) -> bool:
        moment = datetime.fromisoformat(row["recorded_at"])
        return ((self.subject is None or row["subject_id"] == self.subject)
                and (self.user is None or row["actor"] == self.user)
                and (self.role is None or row["role"] == self.role)
                and (self.type is None or row["event_type"] == self.type)
                and (self.start is None or moment >= self.start)
                and (self.end is None or moment <= self.end))


def parse_audit_filters(args: MultiDict) -> AuditFilters:
    """Read and check the arguments; refuse an unknown name or value with 400 or 422."""
    unknown = sorted(set(args) - set(KNOWN))
    if unknown:
        raise BadRequest("invalid_filter", f"unknown argument(s): {', '.join(unknown)}",
                         {k: [f"not one of {', '.join(KNOWN)}"] for k in unknown})
    _shaped(args, "subject", SUBJECT_ID, "a subject id, e.g. ITP-101")
    _shaped(args, "user", ACTOR, "a username, e.g. demo.staff (or system, cli:<name>)")
    _one_of(args, "role", AUDIT_ROLES)
    _one_of(args, "type", AUDIT_EVENT_TYPES)
    _one_of(args, "format", FORMATS)
    return AuditFilters(
        subject=args.get("subject"), user=args.get("user"), role=args.get("role"),
        type=args.get("type"), start=_moment(args, "from"), end=_moment(args, "to"),
        after=_whole(args, "after", 0), limit=_whole(args, "limit", None, minimum=1),
        format=args.get("format", "json"), given=dict(args.items()))


#: What a subject filter and a user filter can be: anything else matches no row, and the
#: arguments are recorded in the permanent log (AuditViewed), so they are checked first.
SUBJECT_ID = re.compile(r"[A-Z0-9-]{3,20}")
ACTOR = re.compile(r"[A-Za-z0-9._:-]{1,100}")


def _shaped(args: MultiDict, name: str, pattern: re.Pattern, hint: str) -> None:
    value = args.get(name)
    if value is not None and not pattern.fullmatch(value):
        raise Invalid("invalid_filter", f"{name} is not {hint.split(',')[0]}",
                      {name: [f"give {hint}"]})


def _one_of(args: MultiDict, name: str, allowed: tuple[str, ...]) -> None:
    value = args.get(name)
    if value is not None and value not in allowed:
        raise Invalid("invalid_filter", f"{name} {value!r} is not a known value",
                      {name: [f"use one of: {', '.join(allowed)}"]})


def _moment(args: MultiDict, name: str) -> datetime | None:
    raw = args.get(name)
    return parse_moment(name, raw, "invalid_filter") if raw else None


def _whole(args: MultiDict, name: str, default: int | None, minimum: int = 0) -> int | None:
    raw = args.get(name)
    if raw is None:
        return default
    if not is_whole_number(raw) or int(raw) < minimum:
        raise BadRequest("invalid_filter", f"{name} must be a whole number of at least {minimum}",
                         {name: [f"a whole number, at least {minimum}"]})
    return int(raw)
