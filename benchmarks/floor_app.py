"""The floor of the HTTP load run: the least a form submission and a read must do, on the
stack the project is built on, served exactly like `ecrf serve` (ecrf.server.make_server).

bench_http_load.py runs it beside the bare endpoint and `ecrf serve`, in the same turns, so
``floor / bare`` is the best ratio any implementation of the two requests on this stack
could reach in that run: when a target is above it, no change to our code could meet the
target on that machine.

A submission (``POST /floor/subjects/<id>/forms/platelet_count``) here:
- checks the bearer token with ecrf's own ``Tokens`` (an HMAC, remembered once checked)
  and the user's site, from memory;
- asks the database once whether the log moved (``SELECT max(position)``; on SQLite only
  when the file's ``PRAGMA data_version`` moved, as ours, events.data_version): without it
  a token revoked or a casebook changed by another process would go unseen;
- parses the JSON body and validates it with the real form schema (marshmallow,
  ``ecrf.forms.registry.load_form``);
- appends one row with the chained and signed writer of the event-store floor
  (benchmarks/bare_store.py), group-committed as ours are (``GroupWriter``): in one write
  transaction it reads the head, links a SHA-256 hash per row, signs the last with Ed25519,
  inserts the rows of every request waiting and commits them with one fsync, with the same
  durability as ours (SQLite: WAL, synchronous=FULL; PostgreSQL: synchronous_commit=on);
- answers 201 with the entry id and the stream version.

A read (``GET /floor/subjects/<id>/efficacy``) checks the token and the site, asks ecrf's own
database for the head of the log (``SELECT max(position)``, on a connection the thread keeps;
on SQLite only when the data version moved, as ours does),
and answers the subject's efficacy answer as of that head: bytes remembered with the head they
were made at, made again (the stream folded and the answer encoded, as ours does) only when
the head moved. So it answers what ours answers, the casebook as it now is, grown by the
submissions of the run before (the same body, byte for byte in size), and does it with the
least work a current answer allows. (Until 2026-12-07 it answered the answer of the floor's
start, ~2 KB where ours sent 60-84 KB: a ceiling too generous by that body.)

Nothing else: no idempotency, no version check against the casebook, no state or edit
checks, no receipt, no audit metadata but the actor and a request id, no request log, no
read models.

Run: ``python benchmarks/floor_app.py PORT`` with DATABASE_URL (ecrf's database, read at
start for the users and the remembered answers) and ECRF_SECRET_KEY set, as for ecrf serve.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from flask import Flask, Response, jsonify, request  # noqa: E402

from benchmarks.bare_store import BareDriver  # noqa: E402
from ecrf.accounts.model import User, fold_user  # noqa: E402
from ecrf.accounts.service import Tokens, user_stream  # noqa: E402
from ecrf.config import from_environment  # noqa: E402
from ecrf.errors import Unauthenticated  # noqa: E402
from ecrf.forms.registry import load_form  # noqa: E402
from ecrf.server import DEFAULT_THREADS, make_server  # noqa: E402
from events import EventStore, make_engine  # noqa: E402
from events.data_version import DataVersionProbe  # noqa: E402
from projections.casebook import fold_casebook  # noqa: E402
from projections.efficacy import efficacy  # noqa: E402

PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"


def remembered(store: EventStore) -> tuple[dict[str, User], dict[str, str]]:
    """Users by name, and each subject's site, read once."""
    users = {}
    for name in ("load.staff",):
        user = fold_user(store.read_stream(user_stream(name)))
        if user is not None:
            users[name] = user
    sites = {}
    for subject in store.stream_ids("SubjectRegistered"):
        book = fold_casebook(store.read_stream(subject))
        if book is not None:
            sites[subject] = book.site_id
    return users, sites


class CurrentAnswers:
    """Each subject's efficacy answer as of the head of ecrf's log, as JSON bytes encoded as
    ecrf encodes them (Flask's provider: compact, keys sorted, a final newline), remembered
    with the head they were made at."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.store = EventStore(engine)
        self.postgres = engine.dialect.name == "postgresql"
        self._kept: dict[str, tuple[int, bytes]] = {}
        self._local = threading.local()
        self.head = unless_unchanged(DataVersionProbe.for_engine(engine), self._query_head)

    def _query_head(self) -> int:
        """The head of ecrf's log, on a driver connection this thread keeps (autocommit)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # the pooled connection stays checked out while the thread holds it (dropped, it
            # would go back to the pool and be handed to another thread as well)
            self._local.pooled = self.engine.raw_connection()
            conn = self._local.conn = self._local.pooled.driver_connection
            if self.postgres:
                conn.autocommit = True
        cursor = conn.cursor()
        cursor.execute("SELECT max(position) FROM events")
        head = cursor.fetchone()[0] or 0
        cursor.close()
        return head

    def answer(self, subject: str) -> bytes:
        head = self.head()
        kept = self._kept.get(subject)
        if kept is not None and kept[0] == head:
            return kept[1]
        book = fold_casebook(self.store.read_stream(subject))
        body = {"subject_id": subject, "as_of_position": book.position, **efficacy(book)}
        encoded = (json.dumps(body, separators=(",", ":"), sort_keys=True) + "\n").encode()
        self._kept[subject] = (head, encoded)
        return encoded


def unless_unchanged(probe: DataVersionProbe | None, ask: Callable[[], Any]
                     ) -> Callable[[], Any]:
    """``ask()``, or on SQLite its last answer while the file's data version stands still
    (events.data_version: what ecrf's reads do, so the floor does it too)."""
    last: list[tuple[int | None, Any]] = [(None, None)]

    def answer() -> Any:
        version = probe.version() if probe is not None else None
        kept = last[0]
        if version is not None and kept[0] == version:
            return kept[1]
        found = ask()
        last[0] = (version, found)
        return found

    return answer


class GroupWriter:
    """Group commit at its simplest: a request queues its row and takes the write turn;
    whoever holds the turn writes every row queued by then in one transaction. A request is
    answered after the commit that holds its row (its own, or an earlier holder's)."""

    def __init__(self, log: BareDriver) -> None:
        self.log = log
        self._turn = threading.Lock()
        self._queued: list[tuple] = []
        self._queue = threading.Lock()

    def append(self, subject: str, version: int, payload: dict[str, Any], request_id: str
               ) -> None:
        row = self.log._rows(subject, version + 1, [payload], request_id)[0]
        with self._queue:
            self._queued.append(row)
        with self._turn:
            with self._queue:
                batch, self._queued = self._queued, []
            if batch:  # empty: an earlier holder of the turn committed this row already
                self.log._write(batch)


def create_floor_app(database_url: str, secret_key: str, work: Path) -> Flask:
    engine = make_engine(database_url)
    users, sites = remembered(EventStore(engine))
    answers = CurrentAnswers(engine)
    tokens = Tokens(secret_key, 3600)
    postgres = database_url.startswith("postgres")
    if postgres:
        schema = f"floor_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            admin.execute(f"CREATE SCHEMA {schema}")

        def drop() -> None:
            with psycopg.connect(PG_DSN, autocommit=True) as admin:
                admin.execute(f"DROP SCHEMA {schema} CASCADE")

        log = BareDriver(pg_dsn=PG_DSN, schema=schema, cleanup=drop,
                         event_type="PlateletCountRecorded", metadata={}, chained=True)
    else:
        log = BareDriver(sqlite_path=work / "floor.db", cleanup=lambda: None,
                         event_type="PlateletCountRecorded", metadata={}, chained=True)
    writer = GroupWriter(log)
    versions: dict[str, int] = {}
    numbering = threading.Lock()
    head = "SELECT max(position) FROM events"
    app = Flask(__name__)

    def user_of_request(subject: str) -> User:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            raise Unauthenticated("missing_token", "send a bearer token")
        username, _ = tokens.claims(token)
        user = users.get(username)
        if user is None or not user.sees_site(sites.get(subject, "")):
            raise Unauthenticated("invalid_token", "no such user or site")
        return user

    def query_head() -> Any:
        conn = log._conn()
        found = conn.execute(head).fetchone()[0]
        if postgres:
            conn.rollback()
        return found

    log_moved = unless_unchanged(None if postgres else DataVersionProbe(str(work / "floor.db")),
                                 query_head)

    @app.post("/floor/subjects/<subject>/forms/platelet_count")
    def submit(subject: str) -> tuple[Response, int]:
        user = user_of_request(subject)
        log_moved()
        values = load_form("platelet_count", request.get_json())
        entry_id = uuid.uuid4().hex
        payload = {"entry_id": entry_id, "form": "platelet_count", "values": values,
                   "actor": user.username}
        with numbering:  # each append its own stream version
            version = versions.get(subject, 0)
            versions[subject] = version + 1
        writer.append(subject, version, payload, request_id=entry_id)
        return jsonify({"entry_id": entry_id, "stream_version": version + 1}), 201

    @app.get("/floor/subjects/<subject>/efficacy")
    def read(subject: str) -> Response:
        user_of_request(subject)
        return Response(answers.answer(subject), mimetype="application/json")

    @app.errorhandler(Unauthenticated)
    def refused(error: Unauthenticated) -> tuple[Response, int]:
        return jsonify({"code": error.code}), 401

    app.extensions["floor_log"] = log
    app.extensions["floor_engine"] = engine
    return app


def main(port: int) -> None:
    """Serve the floor on 127.0.0.1:port like `ecrf serve` serves the API."""
    settings = from_environment(os.environ.get("ECRF_INSTANCE_PATH") or tempfile.mkdtemp())
    work = Path(tempfile.mkdtemp(prefix="ecrf-floor-"))
    app = create_floor_app(settings["DATABASE_URL"], settings["SECRET_KEY"], work)
    try:
        make_server(app, "127.0.0.1", port, DEFAULT_THREADS, ident="floor").run()
    finally:
        app.extensions["floor_log"].close()
        app.extensions["floor_engine"].dispose()


if __name__ == "__main__":
    main(int(sys.argv[1]))
