"""`ecrf serve`'s server factory: a short GIL switch interval, and the startup heap kept out of
the garbage collector's walks."""

from __future__ import annotations

import gc
import sys

from flask import Flask

from ecrf.server import SWITCH_INTERVAL_SECONDS, freeze_startup_heap, make_server


def full_collection_walks() -> int:
    return len(gc.get_objects())  # what a full collection visits


def test_the_server_factory_freezes_what_startup_built():
    gc.unfreeze()
    interval = sys.getswitchinterval()
    try:
        app = Flask(__name__)
        keep = [{"n": [i]} for i in range(50_000)]  # a startup heap of long-lived objects
        before = full_collection_walks()
        server = make_server(app, "127.0.0.1", 0, threads=1)
        try:
            assert gc.get_freeze_count() >= len(keep)
            assert full_collection_walks() < before - len(keep)
            made_later = [{"n": [i]} for i in range(1000)]
            assert full_collection_walks() >= len(made_later)  # later objects: collected
            assert sys.getswitchinterval() == SWITCH_INTERVAL_SECONDS < interval
        finally:
            server.close()
    finally:
        gc.unfreeze()
        sys.setswitchinterval(interval)


def test_garbage_made_after_the_freeze_is_still_collected():
    gc.unfreeze()
    try:
        freeze_startup_heap()

        class Node:
            pass

        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: only the collector frees it
        del a, b
        assert gc.collect() >= 2
    finally:
        gc.unfreeze()
