"""Which events a signature covers: the last event of each append is signed, and its signature
covers the append's earlier events through the hash chain.

Each event's hash includes the hash before it, so a signature over the hash of an append's
last event pins every event before it: changing, adding or removing any of them changes that
hash, and the signature no longer holds. The writer therefore signs once per append (one
Ed25519 signature per commit of 50 events instead of 50), and a verifier accepts an event
without a signature only when a later event of the same append is signed. The events of one
append are those sharing its ``recorded_at``: two appends never share one (the writer moves
each append's time past the head's).
"""

from __future__ import annotations

from datetime import datetime

#: What a verifier reports at the first event of an append that no signature covers.
NOT_COVERED = "the event is not signed (nor is any later event of its append)"


class Coverage:
    """Follows a walk along positions; says where an unsigned run was left uncovered."""

    def __init__(self) -> None:
        self._open: tuple[int, object] | None = None  # first unsigned position, its append

    def next_event(self, recorded_at: datetime | str) -> int | None:
        """Before an event: the first position of an unsigned run of an earlier append that
        ended without a signature (None when there is none)."""
        if self._open is not None and recorded_at != self._open[1]:
            first, self._open = self._open[0], None
            return first
        return None

    def unsigned(self, position: int, recorded_at: datetime | str) -> None:
        """An event without a signature: a later event of its append must be signed."""
        if self._open is None:
            self._open = (position, recorded_at)

    def signed(self) -> None:
        """An event whose signature holds: it covers the unsigned events of its append."""
        self._open = None

    def end(self) -> int | None:
        """After the last event: the first position of a run still waiting for a signature."""
        return self._open[0] if self._open is not None else None
