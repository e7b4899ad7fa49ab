"""Request ids made by the server are version 4 UUIDs in 32 hex digits, unique across threads
and across a fork (the child draws other ids than the parent goes on to draw)."""

from __future__ import annotations

import os
import random
import threading
import uuid
import warnings

from ecrf.api.context import REQUEST_ID, new_request_id


def test_a_request_id_is_a_version_4_uuid_in_32_hex_digits():
    for _ in range(1000):
        made = new_request_id()
        assert len(made) == 32 and REQUEST_ID.fullmatch(made)
        assert uuid.UUID(hex=made).version == 4 and uuid.UUID(hex=made).hex == made
        assert uuid.UUID(hex=made).variant == uuid.RFC_4122


def test_a_request_id_is_the_uuid_the_uuid_module_makes_of_the_same_random_bits():
    state = random.getstate()
    try:
        for seed in range(200):
            random.seed(seed)
            made = new_request_id()
            random.seed(seed)
            assert made == uuid.UUID(int=random.getrandbits(128), version=4).hex
    finally:
        random.setstate(state)


def test_ids_drawn_by_eight_threads_at_once_never_repeat():
    drawn: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def draw(mine: list[str]) -> None:
        start.wait()
        mine.extend(new_request_id() for _ in range(20_000))

    threads = [threading.Thread(target=draw, args=(d,)) for d in drawn]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [made for mine in drawn for made in mine]
    assert len(set(every)) == len(every) == 160_000


def test_a_forked_child_draws_other_ids_than_its_parent():
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        os.close(read)
        os.write(write, "".join(new_request_id() for _ in range(100)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        text = pipe.read().decode()
    os.waitpid(pid, 0)
    child = {text[i:i + 32] for i in range(0, len(text), 32)}
    parent = {new_request_id() for _ in range(100)}
    assert len(child) == 100 and not child & parent
