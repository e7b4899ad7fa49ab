"""Submitting forms: registration, any other form, corrections and voids.

Every check runs before anything is appended; a refused command leaves the log as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError

from ecrf.accounts.model import User
from ecrf.commands.appending import (
    append_as,
    check_if_match,
    replay_if_seen,
    required_reason,
    retry_stale,
    retry_unpinned,
)
from ecrf.commands.derived import derive
from ecrf.commands.edit_checks import run_edit_checks
from ecrf.commands.locks import guard_writable
from ecrf.commands.outcome import Outcome
from ecrf.commands.subjects import load_casebook
from ecrf.errors import Conflict, Forbidden, Invalid, NotFound
from ecrf.forms.registry import FORMS, load_form
from ecrf.forms.subject_rules import check_against_subject
from ecrf.permissions import require, require_for_form
from events import EventStore, NewEvent
from projections.casebook import Casebook
from projections.trial_config import DEFAULT_TRIAL, TrialConfig

#: Forms submitted through their own endpoint rather than /forms/{form}.
NOT_SUBMITTABLE = frozenset({"registration"})
ONCE_PER_SUBJECT = {"car_t_infusion": "already_infused", "end_of_study": "already_ended"}


@retry_stale
def register_subject(store: EventStore, user: User, payload: Mapping[str, Any], *,
                     idempotency_key: str | None = None, fingerprint: str | None = None) -> Outcome:
    """Create a subject's stream with its registration form."""
    require(user.role, "subject.register")
    if (replayed := replay_if_seen(store, user, idempotency_key, fingerprint)) is not None:
        return replayed
    depends = guard_writable(store, None)
    values = _validated("registration", payload)
    if not user.sees_site(values["site_id"]):
        raise Forbidden("site_not_assigned",
                        f"you are not assigned to site {values['site_id']!r}",
                        {"site_id": ["not one of your sites"]})
    if store.stream_version(values["subject_id"]) != 0:
        load_casebook(store, user, values["subject_id"])  # another site's: 404, as if unseen
        raise Conflict("subject_exists", f"subject {values['subject_id']!r} already exists",
                       {"subject_id": ["already registered"]})
    event = _entry_event("SubjectRegistered", "registration", values, {})
    return append_as(store, user, values["subject_id"], [event], expected_version=0,
                     idempotency_key=idempotency_key, fingerprint=fingerprint, depends=depends)


@retry_unpinned
def submit_form(store: EventStore, user: User, subject_id: str, form: str,
                payload: Mapping[str, Any], *, if_match: int | None = None,
                idempotency_key: str | None = None, fingerprint: str | None = None,
                config: TrialConfig = DEFAULT_TRIAL) -> Outcome:
    """Record one form for a subject after checking it against the form and the casebook."""
    require(user.role, "form.submit")
    if form not in FORMS or form in NOT_SUBMITTABLE:
        raise NotFound("unknown_form", f"there is no form {form!r}")
    require_for_form(user.role, form, "form.submit")
    book = load_casebook(store, user, subject_id)
    if (replayed := replay_if_seen(store, user, idempotency_key, fingerprint)) is not None:
        return replayed
    check_if_match(if_match, book.version)
    values = _validated(form, payload)

    def decide(now: Casebook) -> list[NewEvent]:
        guard_writable(store, now)
        _check_state(now, form, values, config)
        _check_subject_facts(now, form, values)
        derived = derive(now, form, values, config)
        return [_entry_event(FORMS[form].event_type, form, values, derived)]

    outcome = append_as(store, user, subject_id, decide(book), expected_version=book.version,
                        idempotency_key=idempotency_key, fingerprint=fingerprint,
                        decide=None if if_match is not None else decide,
                        depends=guard_writable(store, book))
    return run_edit_checks(store, book, outcome, config)


@retry_unpinned
def correct_entry(store: EventStore, user: User, subject_id: str, entry_id: str,
                  changes: Any, reason: Any, *, if_match: int | None = None,
                  idempotency_key: str | None = None, fingerprint: str | None = None,
                  config: TrialConfig = DEFAULT_TRIAL) -> Outcome:
    """Record a correction: the changed fields and why; the whole entry must stay valid."""
    require(user.role, "entry.correct")
    book = load_casebook(store, user, subject_id)
    if (replayed := replay_if_seen(store, user, idempotency_key, fingerprint)) is not None:
        return replayed
    check_if_match(if_match, book.version)
    require_for_form(user.role, _entry(book, entry_id).form, "entry.correct")

    def decide(now: Casebook) -> list[NewEvent]:
        guard_writable(store, now)
        return [correction_event(now, entry_id, changes, reason, config)]

    outcome = append_as(store, user, subject_id, decide(book), expected_version=book.version,
                        idempotency_key=idempotency_key, fingerprint=fingerprint,
                        decide=None if if_match is not None else decide,
                        depends=guard_writable(store, book))
    return run_edit_checks(store, book, outcome, config)


def correction_event(book: Casebook, entry_id: str, changes: Any, reason: Any,
                     config: TrialConfig) -> NewEvent:
    """Validate a correction against the form and the subject and return its event."""
    entry = _entry(book, entry_id)
    reason = required_reason(reason)
    if not isinstance(changes, Mapping) or not changes:
        raise Invalid("validation_failed", "changes must be a non-empty object",
                      {"changes": ["give at least one field with its new value"]})
    if entry.voided:
        raise Conflict("entry_voided", "a voided entry cannot be corrected")
    fixed = {"subject_id", "site_id"} & set(changes) if entry.form == "registration" else set()
    if fixed:
        raise Invalid("validation_failed", "the subject and site of a registration are fixed",
                      {f"changes.{k}": ["cannot be corrected"] for k in sorted(fixed)})
    merged = {k: v for k, v in {**entry.values, **changes}.items() if v is not None}
    values = _validated(entry.form, merged, prefix="changes")
    effective = {k: values.get(k) for k in changes if values.get(k) != entry.values.get(k)}
    if not effective:
        raise Invalid("no_change", "the correction changes nothing",
                      {"changes": ["every value equals the current one"]})
    if "visit" in effective:
        _check_visit(values, config, prefix="changes")
    _check_subject_facts(book, entry.form, values, prefix="changes")
    data: dict[str, Any] = {"entry_id": entry_id, "form": entry.form, "changes": effective,
                            "reason": reason}
    if entry.form != "registration":
        derived = derive(book, entry.form, values, config, replacing=entry_id)
        if derived != entry.derived:
            data["derived"] = derived
    return NewEvent("EntryCorrected", data, {"reason": reason})


@retry_unpinned
def void_entry(store: EventStore, user: User, subject_id: str, entry_id: str, reason: Any, *,
               if_match: int | None = None, idempotency_key: str | None = None,
               fingerprint: str | None = None, config: TrialConfig = DEFAULT_TRIAL) -> Outcome:
    """Withdraw an entry with a reason; it then counts for nothing, but stays in the record."""
    require(user.role, "entry.void")
    book = load_casebook(store, user, subject_id)
    if (replayed := replay_if_seen(store, user, idempotency_key, fingerprint)) is not None:
        return replayed
    check_if_match(if_match, book.version)
    require_for_form(user.role, _entry(book, entry_id).form, "entry.void")
    reason = required_reason(reason)

    def decide(now: Casebook) -> list[NewEvent]:
        entry = _entry(now, entry_id)
        if entry.voided:
            raise Conflict("entry_voided", "the entry is already voided")
        if entry.form == "registration":
            raise Conflict("registration_not_voidable",
                           "a registration cannot be voided: record end_of_study instead")
        guard_writable(store, now)
        return [NewEvent("EntryVoided", {"entry_id": entry_id, "form": entry.form,
                                         "reason": reason}, {"reason": reason})]

    outcome = append_as(store, user, subject_id, decide(book), expected_version=book.version,
                        idempotency_key=idempotency_key, fingerprint=fingerprint,
                        decide=None if if_match is not None else decide,
                        depends=guard_writable(store, book))
    return run_edit_checks(store, book, outcome, config)


# -- checks -------------------------------------------------------------------------------
def _validated(form: str, payload: Any, prefix: str | None = None) -> dict[str, Any]:
    if not isinstance(payload, Mapping):
        raise Invalid("validation_failed", "the body must be a JSON object",
                      {"_body": ["expected a JSON object"]})
    try:
        return load_form(form, payload)
    except ValidationError as error:
        messages = _json_keys(error.messages) if isinstance(error.messages, dict) else {
            "_body": error.messages}
        raise Invalid("validation_failed", f"the {form} form has invalid fields",
                      _prefixed(messages, prefix)) from None


def _prefixed(messages: dict[str, Any], prefix: str | None) -> dict[str, Any]:
    """Name fields as the request did: a correction's fields are ``changes.<field>``."""
    return {f"{prefix}.{k}": v for k, v in messages.items()} if prefix else messages


def _json_keys(messages: Any) -> Any:
    """Key nested messages by strings: a list item's index is an int, and a dict mixing int and
    str keys (``{0: [...], "_schema": [...]}``) cannot be encoded as JSON."""
    if isinstance(messages, Mapping):
        return {str(k): _json_keys(v) for k, v in messages.items()}
    return messages


def _entry(book: Casebook, entry_id: str) -> Any:
    entry = book.entries.get(entry_id)
    if entry is None:
        raise NotFound("entry_not_found", f"subject {book.subject_id} has no entry {entry_id!r}")
    return entry


def _check_state(book: Casebook, form: str, values: dict[str, Any], config: TrialConfig
                 ) -> None:
    if book.ended:
        raise Conflict("subject_ended",
                       "the subject has ended the study: only corrections and query answers "
                       "are accepted")
    if form in ONCE_PER_SUBJECT and book.current(form):
        raise Conflict(ONCE_PER_SUBJECT[form], f"the subject already has a {form} entry")
    _check_visit(values, config)


def _check_visit(values: dict[str, Any], config: TrialConfig, prefix: str | None = None
                 ) -> None:
    visit = values.get("visit")
    if visit is not None and visit != "UNSCHEDULED" and config.visit(visit) is None:
        raise Invalid("unknown_visit", f"{visit!r} is not a visit of the schedule",
                      _prefixed({"visit": [f"must be one of {', '.join(config.visit_codes)} "
                                           "or UNSCHEDULED"]}, prefix))


def _check_subject_facts(book: Casebook, form: str, values: dict[str, Any],
                         prefix: str | None = None) -> None:
    from ecrf.commands.derived import subject_facts

    problems = check_against_subject(form, values, subject_facts(book))
    if problems:
        raise Invalid("validation_failed", f"the {form} form does not fit this subject",
                      _prefixed(problems, prefix))


def _entry_event(event_type: str, form: str, values: dict[str, Any],
                 derived: dict[str, Any]) -> NewEvent:
    data: dict[str, Any] = {"entry_id": uuid.uuid4().hex, "form": form, "values": values}
    if derived:
        data["derived"] = derived
    return NewEvent(event_type, data)
