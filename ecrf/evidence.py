"""Tamper evidence wired into the app: the signing key, receipts' key, fresh checkpoints and
the witness file. The key and the witness file live outside the database (the instance folder
by default), so someone who can write to the database cannot forge or hide a change.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from events import EventStore, events_committed
from events.checkpoints import WitnessFile, make_checkpoint, read_checkpoints
from events.signing import Signer, SigningKeyError, write_key_pair

log = logging.getLogger("ecrf.evidence")

#: A checkpoint goes to the witness file when an event of these types commits
#: (casebook signature, locks, exports and audit exports).
WITNESSED_TYPES = frozenset({"CasebookSigned", "CasebookLocked", "TrialLocked",
                             "ExportGenerated", "AuditViewed"})


def load_signer(config: dict[str, Any]) -> Signer | None:
    """The app's key: ``SIGNING_KEY`` (a Signer, tests), else the file ``SIGNING_KEY_FILE``
    when it exists. None when the default file is not made yet (see ensure_signing_key)."""
    if config.get("SIGNING_KEY") is not None:
        return config["SIGNING_KEY"]
    path = Path(config["SIGNING_KEY_FILE"])
    if path.exists():
        return Signer.from_file(path)
    if config.get("SIGNING_KEY_CREATE"):
        return None
    raise SigningKeyError(f"ECRF_SIGNING_KEY names {path}, which does not exist: create a key "
                          "with `ecrf keys create --dir DIR`")


def ensure_signing_key(app: Flask) -> tuple[Signer, bool]:
    """Return the app's key, creating it in the instance folder on first start (serve, demo,
    writing commands). Refuses a key that is not the one that signed the log so far."""
    store: EventStore = app.extensions["ecrf"].store
    created = False
    if store.signer is None:
        path = Path(app.config["SIGNING_KEY_FILE"])
        signer = Signer.generate()
        write_key_pair(signer, path)
        store.signer, created = signer, True
    check_signing_key(store)
    check_log_reaches_witness(app)
    return store.signer, created


def check_log_reaches_witness(app: Flask) -> None:
    """Refuse to start (and sign on top of) a log that no longer reaches the witness file's
    last checkpoint, or holds another hash there: events were removed or changed."""
    store: EventStore = app.extensions["ecrf"].store
    points = [c for _, c in witness_checkpoints(app) if isinstance(c, dict)
              and isinstance(c.get("position"), int) and isinstance(c.get("hash"), str)]
    if not points or not sa.inspect(store.engine).has_table("events"):
        return
    last = max(points, key=lambda c: c["position"])
    head = store.head()
    if head is None or head.position < last["position"]:
        raise SigningKeyError(
            f"the log ends at position {head.position if head else 0}, but the witness file "
            f"{app.config['WITNESS_FILE']} holds a checkpoint of position {last['position']}: "
            "events were removed; run `ecrf verify` and restore from a backup")
    found = store.read_all(last["position"] - 1, 1)
    if not found or found[0].hash != last["hash"]:
        raise SigningKeyError(
            f"the event at position {last['position']} no longer has the hash the witness file "
            "holds: the log was changed; run `ecrf verify` and restore from a backup")


def check_signing_key(store: EventStore) -> None:
    """Refuse to go on with a key other than the one that signed the last signed event."""
    if not sa.inspect(store.engine).has_table("events"):
        return  # a database not migrated yet has signed nothing
    last = store.last_key_id()
    if last is not None and store.signer is not None and last != store.signer.key_id:
        raise SigningKeyError(
            f"the signing key {store.signer.key_id} is not the key {last} that signed the log "
            "so far: start with that key (ECRF_SIGNING_KEY), or rotate with `ecrf keys rotate`")


def fresh_checkpoint(store: EventStore) -> dict[str, Any] | None:
    """A checkpoint of the head signed now (None for an empty log), e.g. for a PDF casebook's
    last page or GET /audit/checkpoint."""
    head = store.head()
    if head is None or store.signer is None:
        return None
    return make_checkpoint(store.signer, head.position, head.hash, head.recorded_at,
                           datetime.now(UTC))


def witness_now(app: Flask) -> dict[str, Any] | None:
    """Append a checkpoint of the head to the witness file (casebook signature, lock, export);
    return it, or None when there is nothing to witness."""
    services = app.extensions["ecrf"]
    head = services.store.head()
    witness = witness_file(app)
    if head is None or witness is None:
        return None
    return witness.append(head.position, head.hash, head.recorded_at)


def witness_file(app: Flask) -> WitnessFile | None:
    """The app's witness file, made on first use with the store's current key."""
    services = app.extensions["ecrf"]
    signer = services.store.signer
    if signer is None:
        return None
    witness = services.witness
    if witness is None or witness.signer.key_id != signer.key_id:
        witness = WitnessFile(app.config["WITNESS_FILE"], signer,
                              app.config.get("WITNESS_INTERVAL_SECONDS", 60.0))
        services.witness = witness
    return witness


def witness_checkpoints(app: Flask) -> list[tuple[str, Any]]:
    """The checkpoints held in the witness file (none when it does not exist yet)."""
    path = Path(app.config["WITNESS_FILE"])
    return list(read_checkpoints(path)) if path.exists() else []


def connect_witness(app: Flask) -> None:
    """Write a checkpoint when a witnessed event commits, and at most every interval while
    events come (the serve loop writes the last one when writes stop)."""
    store = app.extensions["ecrf"].store

    def on_commit(sender: Any, events: list, **_: Any) -> None:
        if sender is not store or not events:
            return
        witness = witness_file(app)
        if witness is None:
            return
        last = events[-1]
        if any(e.type in WITNESSED_TYPES for e in events) or witness.due(last.position):
            try:
                witness.append(last.position, last.hash, last.recorded_at)
            except OSError:  # the write is committed: never turn it into an error response
                log.exception("could not append to the witness file %s", witness.path)

    events_committed.connect(on_commit, sender=store)  # weak: lives as long as the app
    app.extensions["ecrf_witness_listener"] = on_commit


def run_witness_forever(app: Flask, stop: threading.Event) -> None:
    """Every interval, witness the head if new events came since the last checkpoint."""
    interval = float(app.config.get("WITNESS_INTERVAL_SECONDS", 60.0))
    while not stop.wait(interval):
        witness = witness_file(app)
        head = app.extensions["ecrf"].store.head()
        if witness is not None and head is not None and witness.due(head.position):
            witness.append(head.position, head.hash, head.recorded_at)
