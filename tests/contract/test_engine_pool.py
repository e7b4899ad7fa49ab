"""The engine's pool holds a connection for every thread that reads at once: `ecrf serve`
runs DEFAULT_THREADS request threads beside the writer's kept connection and the read-model
worker. With SQLAlchemy's default of 5, every connection over 5 was closed when handed back
and opened again by the next request: under 8 clients, ~35 new PostgreSQL backends a second
(a fork each on the server) and, on SQLite, a new file handle with its PRAGMAs per request."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from ecrf.server import DEFAULT_THREADS
from events.engine import POOL_SIZE


def test_the_pool_keeps_a_connection_for_each_server_thread_and_the_writer():
    assert POOL_SIZE >= DEFAULT_THREADS + 2


def test_threads_reading_at_once_reuse_their_connections_instead_of_opening_new_ones(engine):
    opened: list[object] = []
    sa.event.listen(engine, "connect", lambda dbapi, record: opened.append(dbapi))
    threads, rounds = DEFAULT_THREADS + 2, 5
    held, returned = threading.Barrier(threads), threading.Barrier(threads)

    def read() -> None:
        for _ in range(rounds):  # every thread in the middle of a read at once, then none
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
                held.wait(timeout=30)
            returned.wait(timeout=30)

    workers = [threading.Thread(target=read) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    # one connection per thread reading at once, kept: none closed and opened again
    assert len(opened) <= threads, f"{len(opened)} connections for {threads} threads"
