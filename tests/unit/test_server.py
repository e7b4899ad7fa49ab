"""`ecrf serve`'s server factory keeps the startup heap out of the garbage collector's walks."""

from __future__ import annotations

import gc

from flask import Flask

from ecrf.server import freeze_startup_heap, make_server


def full_collection_walks() -> int:
    return len(gc.get_objects())  # what a full collection visits


def test_the_server_factory_freezes_what_startup_built():
    gc.unfreeze()
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
        finally:
            server.close()
    finally:
        gc.unfreeze()


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
