"""Workflow state of a casebook: data queries, source data verification, signatures, locks.

Folded from the same subject stream as the entries (projections/casebook.py calls ``apply``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from events import RecordedEvent

QUERY_EVENTS = ("QueryOpened", "QueryAnswered", "QueryClosed", "QueryReopened",
                "QueryCancelled")
WORKFLOW_EVENTS = (*QUERY_EVENTS, "EntryVerified", "CasebookSigned", "CasebookLocked",
                   "CasebookUnlocked")
QUERY_STATE = {"QueryOpened": "open", "QueryAnswered": "answered", "QueryClosed": "closed",
               "QueryReopened": "open", "QueryCancelled": "cancelled"}


@dataclass
class Query:
    """A data clarification on one entry and field, with every step of its life."""

    query_id: str
    entry_id: str
    field: str | None
    text: str
    opened_by: str
    opened_at: str
    opened_position: int
    automatic: str | None = None  # the edit check that opened it, for system queries
    state: str = "open"
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"query_id": self.query_id, "entry_id": self.entry_id, "field": self.field,
                "text": self.text, "state": self.state, "opened_by": self.opened_by,
                "opened_at": self.opened_at, "opened_position": self.opened_position,
                "automatic": self.automatic, "history": self.history}


@dataclass
class Verification:
    """Source data verification of an entry; a later correction voids it."""

    verified_by: str
    verified_at: str
    position: int
    voided_by_position: int | None = None

    @property
    def state(self) -> str:
        return "verification_voided" if self.voided_by_position else "verified"

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "verified_by": self.verified_by,
                "verified_at": self.verified_at, "position": self.position,
                "voided_by_position": self.voided_by_position}


@dataclass
class Signature:
    """An investigator's signature over the stream head; any later event invalidates it."""

    signer: str
    printed_name: str
    meaning: str
    signed_at: str
    position: int
    covers_position: int
    covers_hash: str
    invalidated_by_position: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"signer": self.signer, "printed_name": self.printed_name,
                "meaning": self.meaning, "signed_at": self.signed_at,
                "position": self.position, "covers_position": self.covers_position,
                "covers_hash": self.covers_hash,
                "valid": self.invalidated_by_position is None,
                "invalidated_by_position": self.invalidated_by_position}


@dataclass
class Workflow:
    """Queries, verifications, signatures and the lock of one casebook."""

    queries: dict[str, Query] = field(default_factory=dict)
    verifications: dict[str, Verification] = field(default_factory=dict)
    signatures: list[Signature] = field(default_factory=list)
    locked: bool = False
    lock_reason: str | None = None

    def open_queries(self) -> list[Query]:
        return [q for q in self.queries.values() if q.state in ("open", "answered")]

    def fork(self) -> Workflow:
        """A copy that applying events to cannot change this one (its parts are small)."""
        return Workflow({k: replace(q, history=list(q.history)) for k, q in self.queries.items()},
                        {k: replace(v) for k, v in self.verifications.items()},
                        [replace(s) for s in self.signatures], self.locked, self.lock_reason)

    def to_dict(self) -> dict[str, Any]:
        return {"locked": self.locked, "lock_reason": self.lock_reason,
                "queries": [q.to_dict() for q in self.queries.values()],
                "signatures": [s.to_dict() for s in self.signatures]}


_HANDLED = frozenset({*WORKFLOW_EVENTS, "EntryCorrected"})


def apply_workflow(flow: Workflow, event: RecordedEvent) -> None:
    """Apply one event of the subject's stream to its workflow state."""
    for signature in flow.signatures:
        if signature.invalidated_by_position is None and event.position > signature.position:
            signature.invalidated_by_position = event.position
    if event.type not in _HANDLED:
        return  # a form entry or a void: nothing else to do (most events)
    data, meta = event.data, event.metadata
    actor, when = meta.get("actor", "unknown"), event.recorded_at.isoformat()
    if event.type == "QueryOpened":
        flow.queries[data["query_id"]] = Query(
            data["query_id"], data["entry_id"], data.get("field"), data["text"], actor, when,
            event.position, data.get("automatic"))
    if event.type in QUERY_EVENTS:
        query = flow.queries[data["query_id"]]
        query.state = QUERY_STATE[event.type]
        query.history.append({"action": event.type, "by": actor, "role": meta.get("role"),
                              "at": when, "text": data.get("text"),
                              "position": event.position})
    elif event.type == "EntryVerified":
        flow.verifications[data["entry_id"]] = Verification(actor, when, event.position)
    elif event.type == "EntryCorrected" and data["entry_id"] in flow.verifications:
        verification = flow.verifications[data["entry_id"]]
        if verification.voided_by_position is None:
            verification.voided_by_position = event.position
    elif event.type == "CasebookSigned":
        flow.signatures.append(Signature(
            actor, data["printed_name"], data["meaning"], data["signed_at"], event.position,
            data["covers_position"], data["covers_hash"]))
    elif event.type == "CasebookLocked":
        flow.locked, flow.lock_reason = True, data.get("reason")
    elif event.type == "CasebookUnlocked":
        flow.locked, flow.lock_reason = False, None
