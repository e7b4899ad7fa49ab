"""Blinker signals of the store: a nudge after commit, never the source of truth."""

from blinker import Namespace

_signals = Namespace()

#: Sent after a successful commit, with ``events`` (the recorded events, in position order).
events_committed = _signals.signal("events-committed")
