"""The clinical projections of one subject, each available as of any past moment."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app, request
from flask_smorest import Blueprint

from ecrf.api.context import as_of_position, current_user, parse_moment, services
from ecrf.commands.subjects import load_casebook
from ecrf.permissions import require
from projections.casebook import Casebook
from projections.efficacy import efficacy
from projections.eligibility import eligibility
from projections.safety import safety
from projections.schedule import schedule

blp = Blueprint("projections", __name__, url_prefix="/api/v1/subjects",
                description="Eligibility, safety, efficacy and schedule (with ?as_of= or "
                            "?position=)")


def _book(subject_id: str) -> tuple[Casebook, int | None]:
    user = current_user()
    require(user.role, "subject.read")
    position = as_of_position()
    return load_casebook(services().store, user, subject_id, up_to_position=position), position


def _stamp(book: Casebook, body: dict) -> dict:
    return {"subject_id": book.subject_id, "as_of_position": book.position, **body}


_RESULTS: weakref.WeakKeyDictionary[Any, OrderedDict[tuple, tuple[Any, bytes, str]]] = \
    weakref.WeakKeyDictionary()
_RESULTS_LOCK = threading.Lock()
MAX_RESULTS = 2048


def _projected(name: str, project: Callable[..., dict], subject_id: str) -> Response:
    """The JSON answer of ``project(casebook, config=...)`` for the subject's casebook (as of
    ``?as_of=``/``?position=`` when asked), stamped, remembered per casebook version as the
    bytes sent: the projections are pure functions of the casebook and the trial settings
    (none reads the clock), and a casebook at (version, position) is the same whenever it is
    folded, as of now or of a past moment. The bytes are the app's own JSON encoding of the
    answer, made once: encoding a grown casebook's efficacy was 42% of a read under load
    (py-spy), for the same answer every time.

    As of now, the stream's last event names the answer before any casebook is made: a
    remembered one is sent without forking the kept casebook (a copy of every entry), when
    the user sees its site; anything else (no answer yet, another site's subject, no such
    subject) goes the long way, which answers 404 alike."""
    user = current_user()
    require(user.role, "subject.read")
    position = as_of_position()
    store, config = services().store, services().trial
    if position is None:
        events = store.read_stream(subject_id)
        if events:
            last = events[-1]
            kept = _remembered(store, (name, subject_id, last.stream_version, last.position,
                                       id(config)), config)
            if kept is not None and user.sees_site(kept[1]):
                return current_app.response_class(kept[0], mimetype=current_app.json.mimetype)
    book = load_casebook(store, user, subject_id, up_to_position=position)
    key = (name, subject_id, book.version, book.position, id(config))
    kept = _remembered(store, key, config)
    if kept is not None:
        return current_app.response_class(kept[0], mimetype=current_app.json.mimetype)
    response = current_app.json.response(_stamp(book, project(book, config=config)))
    with _RESULTS_LOCK:
        results = _RESULTS.get(store)
        if results is None:
            results = _RESULTS[store] = OrderedDict()
        results[key] = (config, response.get_data(), book.site_id)
        while len(results) > MAX_RESULTS:
            results.popitem(last=False)
    return response


def _remembered(store: Any, key: tuple, config: Any) -> tuple[bytes, str] | None:
    """(bytes, site) of a remembered answer, or None."""
    with _RESULTS_LOCK:
        results = _RESULTS.get(store)
        kept = results.get(key) if results is not None else None
        # the entry holds its settings: while it lives, no other object can take their id
        if kept is None or kept[0] is not config:
            return None
        results.move_to_end(key)
        return kept[1], kept[2]


def forget_projections(store: Any, subject_id: str) -> None:
    """Drop the answers remembered for a subject: a cold read (benchmarks)."""
    with _RESULTS_LOCK:
        results = _RESULTS.get(store)
        for key in [k for k in results or () if k[1] == subject_id]:
            del results[key]


@blp.route("/<subject_id>/eligibility", methods=["GET"])
def subject_eligibility(subject_id: str):
    """Eligibility per criterion (computed or attested), status and discrepancies."""
    return _projected("eligibility", eligibility, subject_id)


@blp.route("/<subject_id>/safety", methods=["GET"])
def subject_safety(subject_id: str):
    """Adverse events, CRS and ICANS grades by day, lab toxicities, late SAE reports."""
    return _projected("safety", safety, subject_id)


@blp.route("/<subject_id>/efficacy", methods=["GET"])
def subject_efficacy(subject_id: str):
    """IWG response: baseline, best response, W12, times, losses, periods and counts used."""
    return _projected("efficacy", efficacy, subject_id)


@blp.route("/<subject_id>/schedule", methods=["GET"])
def subject_schedule(subject_id: str):
    """Visits with target dates, windows and status (done, due, overdue, missed, n/a)."""
    book, position = _book(subject_id)
    trial = services().trial
    moment = datetime.now(UTC)
    if request.args.get("as_of"):
        moment = parse_moment("as_of", request.args["as_of"])
    elif position is not None:
        moment = book_moment(book) or moment
    w12 = efficacy(book, config=trial).get("response_at_w12")
    return _stamp(book, schedule(book, today=moment.astimezone(UTC).date(),
                                 response_at_w12=w12, config=trial))


def book_moment(book: Casebook) -> datetime | None:
    """The moment a casebook as of a position stood: when its last event was recorded."""
    times = [v.recorded_at for e in book.entries.values() for v in e.versions
             if v.position == book.position]
    return times[0] if times else None
