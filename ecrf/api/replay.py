"""Replay a subject as it stood at a moment, and what changed between two moments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import request
from flask_smorest import Blueprint

from ecrf.api.audit import record_view
from ecrf.api.context import (
    as_of_position,
    current_user,
    is_whole_number,
    parse_moment,
    services,
)
from ecrf.api.projections import book_moment
from ecrf.api.workflow import sdv_progress
from ecrf.commands.subjects import load_casebook
from ecrf.errors import BadRequest
from ecrf.permissions import require
from projections.casebook import Casebook, fold_casebook
from projections.efficacy import efficacy
from projections.eligibility import eligibility
from projections.safety import safety
from projections.schedule import schedule

blp = Blueprint("replay", __name__, url_prefix="/api/v1/subjects", description="Replay")


def snapshot(book: Casebook, moment: datetime | None) -> dict[str, Any]:
    """Everything known about a subject in one document: casebook and every projection."""
    trial = services().trial
    eff = efficacy(book, config=trial)
    today = (moment or book_moment(book) or datetime.now(UTC)).date()
    return {
        "casebook": book.to_dict(),
        "eligibility": eligibility(book, config=trial),
        "safety": safety(book, config=trial),
        "efficacy": eff,
        "schedule": schedule(book, today=today, response_at_w12=eff["response_at_w12"],
                             config=trial),
        "verification": sdv_progress(book),
    }


def _moment(name: str) -> tuple[int, datetime | None]:
    raw = request.args.get(name)
    if raw is None:
        raise BadRequest("missing_parameter", f"give {name}", {name: ["required"]})
    if is_whole_number(raw):
        return int(raw), None
    moment = parse_moment(name, raw)
    return services().store.position_at(moment), moment


@blp.route("/<subject_id>/replay", methods=["GET"])
def replay(subject_id: str):
    """The whole casebook with every projection as it was at `?as_of=` or `?position=`."""
    user = current_user()
    require(user.role, "subject.read")
    position = as_of_position()
    book = load_casebook(services().store, user, subject_id, up_to_position=position)
    raw = request.args.get("as_of")
    moment = parse_moment("as_of", raw) if raw else None
    record_view("replay", {"subject_id": subject_id, "position": position})
    return {"subject_id": subject_id, "as_of_position": book.position,
            **snapshot(book, moment)}


@blp.route("/<subject_id>/diff", methods=["GET"])
def diff(subject_id: str):
    """What changed between `?from=` and `?to=` (positions or date-times), field by field,
    with the derived changes (eligibility status, best response ...)."""
    user = current_user()
    require(user.role, "subject.read")
    store = services().store
    (start, start_moment), (end, end_moment) = _moment("from"), _moment("to")
    after = load_casebook(store, user, subject_id, up_to_position=end)
    # a start before the registration (or 0) means "from the first event": no casebook yet
    before = fold_casebook(store.read_stream(subject_id), up_to_position=start) if start else None
    old = snapshot(before, start_moment) if before else {}
    new = snapshot(after, end_moment)
    record_view("diff", {"subject_id": subject_id, "from": start, "to": end})
    return {"subject_id": subject_id, "from_position": start, "to_position": after.position,
            "entries": _entry_changes(before, after), "derived": _derived_changes(old, new)}


def _entry_changes(before: Casebook | None, after: Casebook) -> list[dict[str, Any]]:
    changes = []
    old_entries = before.entries if before else {}
    for entry_id, entry in after.entries.items():
        old = old_entries.get(entry_id)
        old_values = old.values if old else {}
        for field in sorted(set(old_values) | set(entry.values)):
            if old_values.get(field) != entry.values.get(field):
                changes.append({"entry_id": entry_id, "form": entry.form, "visit": entry.visit,
                                "field": field, "from": old_values.get(field),
                                "to": entry.values.get(field)})
        if entry.voided and not (old and old.voided):
            changes.append({"entry_id": entry_id, "form": entry.form, "visit": entry.visit,
                            "field": None, "from": "current", "to": "voided"})
    return changes


DERIVED = (("eligibility", "status"), ("efficacy", "best_response"),
           ("efficacy", "response_at_w12"), ("efficacy", "loss_of_response"),
           ("efficacy", "time_to_response_days"), ("safety", "max_grade"),
           ("safety", "serious_count"), ("casebook", "status"), ("casebook", "locked"))


def _derived_changes(old: dict, new: dict) -> list[dict[str, Any]]:
    changes = []
    for view, key in DERIVED:
        before = old.get(view, {}).get(key)
        after = new[view].get(key)
        if before != after:
            changes.append({"projection": view, "key": key, "from": before, "to": after})
    for view in ("crs", "icans"):
        before = old.get("safety", {}).get(view, {}).get("max_grade")
        after = new["safety"][view]["max_grade"]
        if before != after:
            changes.append({"projection": "safety", "key": f"{view}.max_grade",
                            "from": before, "to": after})
    return changes
