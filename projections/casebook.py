"""The casebook fold: a subject's entries with corrections applied, as of any position.

A pure function over recorded events: no database, no Flask. Form events carry
``{"entry_id", "form", "values", "derived"?}``; ``EntryCorrected`` carries
``{"entry_id", "changes", "reason"}`` and ``EntryVoided`` ``{"entry_id", "reason"}``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from events import RecordedEvent
from projections.schedule import clinical_date
from projections.workflow import Workflow, apply_workflow

REGISTRATION = "SubjectRegistered"
#: Held to write into, or take a copy of, the kept answers a casebook shares with its forks
#: (``_current``, ``_aggregates``): other requests' forks may add to them at the same time,
#: and a copy taken without it can meet a change half-way (the cyclic collector may run
#: Python code, and so switch threads, while the copy allocates).
_SHARED = threading.RLock()
CORRECTED = "EntryCorrected"
VOIDED = "EntryVoided"


@dataclass(slots=True)
class EntryVersion:
    """One step of an entry's history: the original submission or a correction or a void."""

    kind: str  # original, correction, void
    position: int
    values: dict[str, Any]  # the whole entry after this step
    changes: dict[str, Any]
    reason: str | None
    actor: str | None
    role: str | None
    recorded_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "position": self.position, "changes": self.changes,
            "reason": self.reason, "actor": self.actor, "role": self.role,
            "recorded_at": self.recorded_at.isoformat(),
        }


@dataclass
class Entry:
    """One form entry: its current values and every version it went through."""

    entry_id: str
    form: str
    event_type: str
    values: dict[str, Any]
    derived: dict[str, Any]
    position: int
    recorded_at: datetime
    versions: list[EntryVersion] = field(default_factory=list)
    voided: bool = False
    void_reason: str | None = None
    # Answers of pure functions of this entry (its soft edit-check findings), kept while it
    # lives: ``apply`` replaces an entry it changes and never changes one in place, and
    # ``replace`` starts the copy with an empty memo (init=False), so no answer outlives the
    # values it was worked out from.
    memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False,
                                 compare=False)

    @property
    def visit(self) -> str | None:
        return self.values.get("visit")

    def to_dict(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id, "form": self.form, "visit": self.visit,
            "values": self.values, "derived": self.derived, "voided": self.voided,
            "void_reason": self.void_reason, "position": self.position,
            "recorded_at": self.recorded_at.isoformat(),
            "versions": [v.to_dict() for v in self.versions],
        }


@dataclass
class Casebook:
    """A subject's record as it stood after ``position``."""

    subject_id: str
    site_id: str
    version: int = 0
    position: int = 0
    entries: dict[str, Entry] = field(default_factory=dict)
    workflow: Workflow = field(default_factory=Workflow)
    # current(form) answers (key None: every form), each found by one scan and then kept up
    # to date by apply(): a new entry extends them, a correction or void drops them. Every
    # write asks a few forms several times over a casebook forked for each request, and a
    # scan per question grew with the casebook (issue #13). A fork shares the parent's dict
    # until either applies an event that changes the entries (copy on write), so what one
    # request finds out is there for the casebook the cache keeps and for the next request.
    # Tuples, never changed in place.
    _current: dict[str | None, tuple[Entry, ...]] = field(default_factory=dict, repr=False,
                                                          compare=False)
    # entry_aggregate() answers: name -> (of_entry, the concatenation of of_entry(e) over the
    # current entries), kept and shared like _current.
    _aggregates: dict[str, tuple[Callable[[Entry], tuple[Any, ...]], tuple[Any, ...]]] = \
        field(default_factory=dict, repr=False, compare=False)

    def _current_of(self, form: str | None) -> tuple[Entry, ...]:
        found = self._current.get(form)
        if found is None:
            found = tuple(e for e in self.entries.values()
                          if not e.voided and (form is None or e.form == form))
            with _SHARED:
                self._current[form] = found
        return found

    def entry_aggregate(self, name: str, of_entry: Callable[[Entry], tuple[Any, ...]]
                        ) -> tuple[Any, ...]:
        """The concatenation of ``of_entry(e)`` over the current entries in entry order,
        worked out once and then extended by each new entry (``of_entry`` must be a pure
        function of the entry; ``name`` names it)."""
        kept = self._aggregates.get(name)
        if kept is None:
            kept = (of_entry, tuple(
                item for entry in self._current_of(None) for item in of_entry(entry)))
            with _SHARED:
                self._aggregates[name] = kept
        return kept[1]

    def _added(self, entry: Entry) -> None:
        """A new entry, last in entry order: it joins the kept answers it belongs to, in
        copies of the dicts (a fork taken before shares the old ones)."""
        with _SHARED:
            current, kept = dict(self._current), list(self._aggregates.items())
        for key in (entry.form, None):
            found = current.get(key)
            if found is not None:
                current[key] = (*found, entry)
        self._current = current
        self._aggregates = {name: (of_entry, (*items, *of_entry(entry)))
                            for name, (of_entry, items) in kept}

    def _entries_changed(self) -> None:
        """An entry was replaced (corrected, voided, submitted again): ask everything again."""
        self._current, self._aggregates = {}, {}

    def fork(self) -> Casebook:
        """A copy to apply later events to, leaving this one as it is: the entries are shared
        (``apply`` replaces an entry it changes instead of changing it), the workflow copied,
        and the kept answers shared until either side's entries change."""
        return Casebook(self.subject_id, self.site_id, self.version, self.position,
                        dict(self.entries), self.workflow.fork(), self._current,
                        self._aggregates)

    def current(self, form: str | None = None) -> list[Entry]:
        """Return the entries that count (not voided), optionally of one form, in entry order."""
        return list(self._current_of(form))

    def latest(self, form: str) -> Entry | None:
        """Return the most recently submitted current entry of a form."""
        entries = self._current_of(form)
        return entries[-1] if entries else None

    @property
    def registration(self) -> dict[str, Any]:
        entry = self.latest("registration")
        return entry.values if entry else {}

    @property
    def infusion(self) -> Entry | None:
        return self.latest("car_t_infusion")

    @property
    def ended(self) -> bool:
        return self.latest("end_of_study") is not None

    @property
    def status(self) -> str:
        """screening, enrolled, infused, in_follow_up or ended (docs/projections.md).

        in_follow_up: some entry is dated after the infusion day or belongs to a visit after D0.
        """
        if self.ended:
            return "ended"
        infusion = self.infusion
        if infusion is not None:
            day0 = clinical_date(infusion.values)
            later = any(e is not infusion
                        and (_is_follow_up_visit(e.visit)
                             or (day0 and (clinical_date(e.values) or day0) > day0))
                        for e in self._current_of(None))
            return "in_follow_up" if later else "infused"
        checklist = self.latest("ie_checklist")
        treated = self.current("leukapheresis") or self.current("lymphodepletion")
        if treated or (checklist and checklist.values.get("investigator_confirms_eligible")):
            return "enrolled"
        return "screening"

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject_id": self.subject_id, "site_id": self.site_id, "status": self.status,
            "stream_version": self.version, "position": self.position,
            "locked": self.workflow.locked, "lock_reason": self.workflow.lock_reason,
            "entries": [{**e.to_dict(), "verification": self._verification(e.entry_id),
                         "open_queries": [q.query_id for q in self.workflow.open_queries()
                                          if q.entry_id == e.entry_id]}
                        for e in self.entries.values()],
            "queries": [q.to_dict() for q in self.workflow.queries.values()],
            "signatures": [s.to_dict() for s in self.workflow.signatures],
        }

    def _verification(self, entry_id: str) -> dict[str, Any]:
        verification = self.workflow.verifications.get(entry_id)
        return verification.to_dict() if verification else {"state": "not_verified"}


def _is_follow_up_visit(visit: str | None) -> bool:
    return bool(visit) and visit not in ("SCR", "LEUK", "LD", "D0", "UNSCHEDULED")


def fold_casebook(events: Iterable[RecordedEvent], *, up_to_position: int | None = None
                  ) -> Casebook | None:
    """Fold a subject's stream (optionally only up to a position) into its casebook."""
    book: Casebook | None = None
    for event in events:
        if up_to_position is not None and event.position > up_to_position:
            break
        if event.type == REGISTRATION:
            values = event.data["values"]
            book = Casebook(values["subject_id"], values["site_id"])
        if book is None:
            continue
        apply(book, event)
    return book


def apply(book: Casebook, event: RecordedEvent) -> None:
    """Apply one event to a casebook in place (the fold's step)."""
    book.version, book.position = event.stream_version, event.position
    data = event.data
    if "entry_id" in data and "form" in data and "values" in data:
        values = dict(data["values"])  # one copy; the original version shares it
        entry = Entry(
            data["entry_id"], data["form"], event.type, values,
            dict(data.get("derived") or {}), event.position, event.recorded_at,
            [_version("original", event, values, values, None)],
        )
        if data["entry_id"] in book.entries:  # replaced where it stood: answers change
            book._entries_changed()
        else:
            book._added(entry)
        book.entries[data["entry_id"]] = entry
    elif event.type == CORRECTED:
        book._entries_changed()  # the entry is replaced by a changed copy: ask again
        entry = book.entries[data["entry_id"]] = _changed(book.entries[data["entry_id"]])
        entry.values = {**entry.values, **data["changes"]}
        entry.values = {k: v for k, v in entry.values.items() if v is not None}
        if "derived" in data:
            entry.derived = dict(data["derived"])
        entry.versions.append(
            _version("correction", event, entry.values, dict(data["changes"]),
                     data.get("reason")))
    elif event.type == VOIDED:
        book._entries_changed()
        entry = book.entries[data["entry_id"]] = _changed(book.entries[data["entry_id"]])
        entry.voided, entry.void_reason = True, data.get("reason")
        entry.versions.append(_version("void", event, entry.values, {}, data.get("reason")))
    apply_workflow(book.workflow, event)


def _changed(entry: Entry) -> Entry:
    """The entry to change: a copy, so that a casebook forked before keeps the old one."""
    return replace(entry, versions=list(entry.versions))


def _version(kind: str, event: RecordedEvent, values: dict, changes: dict,
             reason: str | None) -> EntryVersion:
    """A version shares the dicts it is given: an entry's values are replaced on correction,
    never changed in place, so the dict a version holds stays as it was."""
    meta = event.metadata
    return EntryVersion(kind, event.position, values, changes, reason, meta.get("actor"),
                        meta.get("role"), event.recorded_at)
