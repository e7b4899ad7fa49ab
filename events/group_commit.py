"""Group commit: appends that arrive while another is being committed share its next commit.

One thread at a time leads: it takes every append queued so far, commits them in one
transaction (one fsync), and only then wakes their callers. Appends arriving meanwhile queue
up; when the leader is done it hands the lead to the first of them, whose batch then holds
everything that queued during the previous fsync. A lone caller leads its own batch of one at
once: nobody ever waits for a batch to fill.

The batch function decides each append on its own (its expected version, its idempotency key)
and records a result or an error on it; an error of one append never fails the others. An
exception out of the batch function itself (the commit failed) fails every append of the
batch that had no answer yet: nothing of it was acknowledged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from events.model import NewEvent, RecordedEvent

#: Re-decide an append whose stream moved: given the stream's events as they now stand
#: (committed, plus those of earlier appends in the same batch), return the events to append
#: instead, or raise the error that refuses it.
Rebase = Callable[[list[RecordedEvent]], Sequence[NewEvent]]


@dataclass(eq=False)
class PendingAppend:
    """One caller's append while it waits in the queue, and then its answer."""

    stream_id: str
    new_events: Sequence[NewEvent]
    expected_version: int | None
    idempotency_key: str | None
    stamp: dict[str, Any]
    rebase: Rebase | None = None
    #: Other streams the decision read, at the versions it read them (e.g. the trial lock):
    #: if one moved, the append is refused with StaleRead, even when it could be rebased.
    depends: dict[str, int] = field(default_factory=dict)
    result: list[RecordedEvent] | None = None
    error: BaseException | None = None
    finished: bool = False
    _lead: bool = False
    _wake: threading.Event = field(default_factory=threading.Event)

    def succeed(self, recorded: list[RecordedEvent]) -> None:
        self.result, self.error = recorded, None

    def fail(self, error: BaseException) -> None:
        self.result, self.error = None, error


class GroupCommitter:
    """Queue appends and commit them in batches, one leader at a time."""

    def __init__(self, commit_batch: Callable[[list[PendingAppend]], None],
                 max_batch: int = 256) -> None:
        self._commit_batch = commit_batch
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[PendingAppend] = []
        self._leading = False
        #: Batches committed and appends in them (for the benchmarks and tests).
        self.batches = 0
        self.appends = 0

    def submit(self, pending: PendingAppend) -> list[RecordedEvent]:
        """Queue an append, wait for the commit that holds it, and return its events."""
        with self._lock:
            self._queue.append(pending)
            lead = not self._leading
            if lead:
                self._leading = True
        if lead:
            self._lead_one_batch()
        while not pending.finished:
            pending._wake.wait()
            pending._wake.clear()
            if pending._lead and not pending.finished:
                pending._lead = False
                self._lead_one_batch()
        if pending.error is not None:
            raise pending.error
        assert pending.result is not None
        return pending.result

    def _lead_one_batch(self) -> None:
        with self._lock:
            batch = self._queue[:self.max_batch]
            del self._queue[:self.max_batch]
        try:
            if batch:
                self._commit_batch(batch)
        except BaseException as error:
            for pending in batch:
                if pending.result is None and pending.error is None:
                    pending.fail(error)
        finally:
            self.batches += 1
            self.appends += len(batch)
            for pending in batch:
                if pending.result is None and pending.error is None:  # pragma: no cover
                    pending.fail(RuntimeError("the batch gave this append no answer"))
                pending.finished = True
                pending._wake.set()
            self._hand_over()

    def _hand_over(self) -> None:
        """Give the lead to the first queued caller, or stand down when nobody waits."""
        with self._lock:
            if not self._queue:
                self._leading = False
                return
            successor = self._queue[0]
            successor._lead = True
        successor._wake.set()
