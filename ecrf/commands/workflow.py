"""Monitoring workflow: data queries, source data verification and electronic signatures."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ecrf.accounts.lockout import check_password_for_signature
from ecrf.accounts.model import User
from ecrf.commands.appending import append_as, retry_stale
from ecrf.commands.edit_checks import run_edit_checks
from ecrf.commands.forms import correction_event
from ecrf.commands.locks import guard_writable
from ecrf.commands.outcome import Outcome
from ecrf.commands.subjects import load_casebook
from ecrf.errors import Conflict, Forbidden, Invalid, NotFound
from ecrf.permissions import require, require_for_form
from ecrf.text import MAX_WORKFLOW_TEXT, TextProblem, clean_text
from events import EventStore, NewEvent
from projections.casebook import Casebook
from projections.trial_config import DEFAULT_TRIAL, TrialConfig
from projections.workflow import Query

MEANINGS = ("authorship", "review", "approval")


def _text(value: Any, name: str = "text") -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("validation_failed", f"{name} is required", {name: ["give a non-blank text"]})
    try:
        return clean_text(value.strip(), MAX_WORKFLOW_TEXT)
    except TextProblem as problem:
        raise Invalid("validation_failed", f"{name} cannot be recorded",
                      {name: [f"The text {problem}."]}) from None


def _query(book: Casebook, query_id: str) -> Query:
    query = book.workflow.queries.get(query_id)
    if query is None:
        raise NotFound("query_not_found", f"subject {book.subject_id} has no query {query_id!r}")
    return query


def _append(store: EventStore, user: User, book: Casebook, events: list[NewEvent],
            depends: dict[str, int]) -> Outcome:
    return append_as(store, user, book.subject_id, events, expected_version=book.version,
                     idempotency_key=None, depends=depends)


@retry_stale
def open_query(store: EventStore, user: User, subject_id: str, entry_id: Any, field: Any,
               text: Any) -> Outcome:
    """Ask the site to clarify one field of an entry (monitor or data manager)."""
    require(user.role, "query.open")
    book = load_casebook(store, user, subject_id)
    depends = guard_writable(store, book)
    text = _text(text)
    if not isinstance(entry_id, str) or entry_id not in book.entries:
        raise Invalid("validation_failed", "the query must name an entry of this subject",
                      {"entry_id": ["unknown entry"]})
    entry = book.entries[entry_id]
    if field is not None and (not isinstance(field, str) or (
            field not in entry.values and not field.startswith("answers."))):
        raise Invalid("validation_failed", "the query must name a field of the entry",
                      {"field": [f"not a field of this {entry.form} entry"]})
    query_id = uuid.uuid4().hex
    return _append(store, user, book, [NewEvent("QueryOpened", {
        "query_id": query_id, "entry_id": entry_id, "field": field, "text": text})], depends)


@retry_stale
def answer_query(store: EventStore, user: User, subject_id: str, query_id: str, text: Any,
                 changes: Any = None, reason: Any = None, *,
                 config: TrialConfig = DEFAULT_TRIAL) -> Outcome:
    """Answer a query, optionally correcting the entry in the same commit (site)."""
    require(user.role, "query.answer")
    book = load_casebook(store, user, subject_id)
    depends = guard_writable(store, book)
    query = _query(book, query_id)
    text = _text(text)
    if query.state != "open":
        raise Conflict("query_not_open", f"the query is {query.state}, not open")
    events = []
    if changes is not None:
        entry = book.entries.get(query.entry_id)
        require_for_form(user.role, entry.form if entry else "", "entry.correct")
        events.append(correction_event(book, query.entry_id, changes, reason or text, config))
    events.append(NewEvent("QueryAnswered", {"query_id": query_id, "text": text}))
    outcome = replace(_append(store, user, book, events, depends), query_id=query_id)
    # an answer that corrects the entry is an entry write: its edit checks run as for any
    return run_edit_checks(store, book, outcome, config) if changes is not None else outcome


def _opener_or_data_manager(user: User, query: Query) -> None:
    if user.role != "data_manager" and user.username != query.opened_by:
        raise Forbidden("forbidden", "only the query's opener or a data manager may do this")


@retry_stale
def close_query(store: EventStore, user: User, subject_id: str, query_id: str,
                text: Any = None) -> Outcome:
    """Close an answered (or open) query (its opener, or a data manager)."""
    return _transition(store, user, subject_id, query_id, "QueryClosed", ("open", "answered"),
                       "query.close", text)


@retry_stale
def reopen_query(store: EventStore, user: User, subject_id: str, query_id: str,
                 text: Any) -> Outcome:
    """Re-open an answered or closed query with a new text (its opener, or a data manager)."""
    return _transition(store, user, subject_id, query_id, "QueryReopened",
                       ("answered", "closed"), "query.reopen", _text(text))


@retry_stale
def cancel_query(store: EventStore, user: User, subject_id: str, query_id: str,
                 text: Any) -> Outcome:
    """Withdraw a query raised in error (its opener, or a data manager)."""
    return _transition(store, user, subject_id, query_id, "QueryCancelled",
                       ("open", "answered"), "query.cancel", _text(text))


def _transition(store: EventStore, user: User, subject_id: str, query_id: str, event_type: str,
                allowed: tuple[str, ...], action: str, text: Any) -> Outcome:
    require(user.role, action)
    book = load_casebook(store, user, subject_id)
    depends = guard_writable(store, book)
    query = _query(book, query_id)
    _opener_or_data_manager(user, query)
    if query.state not in allowed:
        raise Conflict("query_state", f"a {query.state} query cannot be {action.split('.')[1]}d")
    data = {"query_id": query_id}
    if text is not None:
        data["text"] = _text(text)
    return _append(store, user, book, [NewEvent(event_type, data)], depends)


@retry_stale
def verify_entry(store: EventStore, user: User, subject_id: str, entry_id: str) -> Outcome:
    """Mark an entry as checked against the source documents (monitor)."""
    require(user.role, "entry.verify")
    book = load_casebook(store, user, subject_id)
    depends = guard_writable(store, book)
    entry = book.entries.get(entry_id)
    if entry is None:
        raise NotFound("entry_not_found", f"subject {subject_id} has no entry {entry_id!r}")
    if entry.voided:
        raise Conflict("entry_voided", "a voided entry cannot be verified")
    current = book.workflow.verifications.get(entry_id)
    if current is not None and current.state == "verified":
        raise Conflict("already_verified", "the entry is verified and unchanged since")
    return _append(store, user, book, [NewEvent("EntryVerified", {
        "entry_id": entry_id, "form": entry.form,
        "entry_position": entry.versions[-1].position})], depends)


@retry_stale
def sign_casebook(store: EventStore, user: User, subject_id: str, password: Any,
                  meaning: Any) -> Outcome:
    """Sign the casebook as it stands (investigator), re-entering the password (Part 11)."""
    require(user.role, "casebook.sign")
    book = load_casebook(store, user, subject_id)
    depends = guard_writable(store, book)
    if meaning not in MEANINGS:
        raise Invalid("validation_failed", "choose what the signature means",
                      {"meaning": [f"must be one of {', '.join(MEANINGS)}"]})
    if not isinstance(password, str) or not password:
        raise Invalid("validation_failed", "re-enter your password to sign",
                      {"password": ["required"]})
    check_password_for_signature(store, user, password)
    head = store.read_stream(subject_id)[-1]
    return _append(store, user, book, [NewEvent("CasebookSigned", {
        "printed_name": user.full_name, "meaning": meaning,
        "signed_at": datetime.now(UTC).isoformat(),
        "covers_position": head.position, "covers_hash": head.hash,
        "statement": f"I, {user.full_name}, sign this casebook for {meaning}."})], depends)
