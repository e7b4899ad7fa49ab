"""The request log's handler queues records and writes them in batches from a thread of its
own: the caller's thread never formats or writes, nothing is lost or reordered, what is left
is written on close, and a forked child writes its own lines even if it forked mid-write."""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ecrf.request_log import BatchingStreamHandler, JsonFormatter


class RecordingStream(io.StringIO):
    """A stream that notes which thread wrote each time."""

    def __init__(self) -> None:
        super().__init__()
        self.writers: set[int] = set()

    def write(self, text: str) -> int:
        self.writers.add(threading.get_ident())
        return super().write(text)


def record(n: int, thread: int = 0) -> logging.LogRecord:
    return logging.makeLogRecord({"name": "ecrf.request", "levelno": logging.INFO,
                                  "levelname": "INFO", "msg": "request",
                                  "fields": {"request_id": f"{thread}-{n}", "status": 201}})


def lines_of(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def wait_for_lines(read, count: int, seconds: float = 20.0) -> list[dict]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        lines = lines_of(read())
        if len(lines) >= count:
            return lines
        time.sleep(0.02)
    return lines_of(read())


def test_records_from_many_threads_are_written_by_the_handlers_thread_in_order():
    stream = RecordingStream()
    handler = BatchingStreamHandler(stream, interval=0.05)
    handler.setFormatter(JsonFormatter())
    emitters: set[int] = set()
    start = threading.Barrier(8)

    def emit(thread: int) -> None:
        emitters.add(threading.get_ident())
        start.wait()
        for n in range(300):
            handler.handle(record(n, thread))

    threads = [threading.Thread(target=emit, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = wait_for_lines(stream.getvalue, 2400)  # written without anyone calling flush
    try:
        assert len(lines) == 2400
        assert stream.writers and not stream.writers & emitters  # never in a caller's thread
        for thread in range(8):  # each thread's lines complete and in its order
            assert [x["request_id"] for x in lines if x["request_id"].startswith(f"{thread}-")
                    ] == [f"{thread}-{n}" for n in range(300)]
        assert {x["logger"] for x in lines} == {"ecrf.request"}
    finally:
        handler.close()


def test_close_writes_what_is_still_queued():
    stream = io.StringIO()
    handler = BatchingStreamHandler(stream, interval=3600)  # the thread never gets to it
    handler.setFormatter(JsonFormatter())
    for n in range(5):
        handler.handle(record(n))
    assert stream.getvalue() == ""  # queued, not written by the caller
    handler.close()
    assert [x["request_id"] for x in lines_of(stream.getvalue())] == [f"0-{n}" for n in range(5)]


def test_a_filtered_out_record_is_not_written():
    stream = io.StringIO()
    handler = BatchingStreamHandler(stream, interval=3600)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(lambda r: r.fields["status"] != 201)
    assert handler.handle(record(1)) is False
    handler.close()
    assert stream.getvalue() == ""


def test_a_child_forked_while_the_parent_writes_writes_its_own_lines(tmp_path: Path):
    path = tmp_path / "log.jsonl"
    with path.open("a") as stream:
        handler = BatchingStreamHandler(stream, interval=0.05)
        handler.setFormatter(JsonFormatter())
        handler.handle(record(1, thread=1))  # the parent's thread is running
        held, release = threading.Event(), threading.Event()

        def write_slowly() -> None:  # another thread of the parent, in the middle of a write
            with handler._writing:
                held.set()
                release.wait(30)

        writer = threading.Thread(target=write_slowly)
        writer.start()
        held.wait(30)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: its own thread writes its line, with a lock of its own
            try:
                handler.handle(record(2, thread=2))
                deadline = time.monotonic() + 10
                while handler._queued and time.monotonic() < deadline:
                    time.sleep(0.02)
                os._exit(0 if not handler._queued else 1)
            except BaseException:
                os._exit(2)
        release.set()
        writer.join()
        _, status = os.waitpid(pid, 0)
        handler.close()
    assert os.waitstatus_to_exitcode(status) == 0
    assert sorted(x["request_id"] for x in lines_of(path.read_text())) == ["1-1", "2-2"]


class FailingOnce(io.StringIO):
    """A stream whose first write fails (a full disk, a closed pipe), then works again."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def write(self, text: str) -> int:
        if not self.failed:
            self.failed = True
            raise OSError("no space left on device")
        return super().write(text)


def test_a_write_that_fails_does_not_stop_the_lines_after_it(monkeypatch):
    monkeypatch.setattr(logging, "raiseExceptions", False)  # as in production: no traceback
    stream = FailingOnce()
    handler = BatchingStreamHandler(stream, interval=0.02)
    handler.setFormatter(JsonFormatter())
    try:
        handler.handle(record(1))
        deadline = time.monotonic() + 20
        while not stream.failed and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stream.failed  # the first batch was lost with its write
        handler.handle(record(2))
        assert [x["request_id"] for x in wait_for_lines(stream.getvalue, 1)] == ["0-2"]
    finally:
        handler.close()


def test_after_close_records_are_still_written_not_queued_for_ever():
    """logging.config.dictConfig closes every handler it replaces while the process lives;
    a closed StreamHandler kept writing, and so does this one (at once, in the caller)."""
    stream = io.StringIO()
    handler = BatchingStreamHandler(stream, interval=3600)
    handler.setFormatter(JsonFormatter())
    handler.close()
    for n in range(3):
        handler.handle(record(n))
    assert [x["request_id"] for x in lines_of(stream.getvalue())] == ["0-0", "0-1", "0-2"]
    assert not handler._queued


def test_a_child_forked_while_the_thread_waits_on_its_stop_event_exits(tmp_path: Path):
    path = tmp_path / "log.jsonl"
    with path.open("a") as stream:
        handler = BatchingStreamHandler(stream, interval=0.05)
        handler.setFormatter(JsonFormatter())
        handler.handle(record(1, thread=1))
        with handler._stop._cond, warnings.catch_warnings():  # held as the thread's wait does
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
            if pid == 0:
                try:
                    handler.handle(record(2, thread=2))
                    handler.close()  # blocked for good on the inherited lock before
                    os._exit(0)
                except BaseException:
                    os._exit(2)
        deadline = time.monotonic() + 20
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        if done[0] == 0:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        handler.close()
    assert done[0] == pid and os.waitstatus_to_exitcode(done[1]) == 0, "the child hung"
    assert sorted(x["request_id"] for x in lines_of(path.read_text())) == ["1-1", "2-2"]


@pytest.fixture(autouse=True)
def _request_log_level_restored():
    log = logging.getLogger("ecrf.request")
    level = log.level
    yield
    log.setLevel(level)


def _as_set_up(monkeypatch, handler: BatchingStreamHandler) -> logging.Logger:
    """The request log as init_app sets it up, writing through ``handler``."""
    log = logging.getLogger("ecrf.request")
    monkeypatch.setattr(log, "handlers", [handler])
    monkeypatch.setattr(log, "filters", [])
    monkeypatch.setattr(log, "propagate", False)
    log.setLevel(logging.INFO)
    return log


def test_a_request_line_is_queued_without_a_record_and_written_as_log_info_writes_it(
        monkeypatch):
    from ecrf.request_log import log_request

    fields = {"request_id": "r-1", "method": "GET", "path": "/x", "status": 200,
              "duration_ms": 0.5, "role": "monitor"}
    made_in: list[int] = []
    real_init = logging.LogRecord.__init__

    def noting(self, *args, **kwargs):
        made_in.append(threading.get_ident())
        real_init(self, *args, **kwargs)

    quick, slow = RecordingStream(), RecordingStream()
    for stream, extra in ((quick, None), (slow, logging.NullHandler())):
        handler = BatchingStreamHandler(stream, interval=60)
        handler.setFormatter(JsonFormatter())
        log = _as_set_up(monkeypatch, handler)
        if extra is not None:  # another handler: the configured path, log.info
            monkeypatch.setattr(log, "handlers", [handler, extra])
        made_in.clear()
        monkeypatch.setattr(logging.LogRecord, "__init__", noting)
        before = time.time()
        log_request(dict(fields))
        after = time.time()
        monkeypatch.setattr(logging.LogRecord, "__init__", real_init)
        if extra is None:
            assert made_in == []  # no record made in the request's thread
        else:
            assert made_in == [threading.get_ident()]
        handler.close()
        line, = lines_of(stream.getvalue())
        assert before - 0.001 <= datetime.fromisoformat(line.pop("ts")).timestamp() \
            <= after + 0.001
        assert line == {"level": "info", "logger": "ecrf.request", **fields}


def test_a_request_log_configured_otherwise_takes_the_configured_path(monkeypatch):
    from ecrf.request_log import log_request

    for configure in (lambda log, h: monkeypatch.setattr(log, "propagate", True),
                      lambda log, h: log.setLevel(logging.WARNING),
                      lambda log, h: h.setLevel(logging.WARNING),
                      lambda log, h: h.addFilter(lambda r: False),
                      lambda log, h: monkeypatch.setattr(log, "filters", [lambda r: False]),
                      # last: it stays set for the rest of the loop
                      lambda log, h: monkeypatch.setattr(
                          logging, "getLogRecordFactory", lambda: logging.makeLogRecord)):
        stream = RecordingStream()
        handler = BatchingStreamHandler(stream, interval=60)
        handler.setFormatter(JsonFormatter())
        configure(_as_set_up(monkeypatch, handler), handler)
        queued: list = []
        monkeypatch.setattr(handler, "queue_fields", lambda *args, q=queued: q.append(args))
        log_request({"request_id": "hidden", "status": 200})
        handler.close()
        assert queued == []  # never the shortcut: the configured path decides


def test_a_queued_line_that_cannot_be_written_as_json_is_reported_and_the_rest_go_on(
        monkeypatch):
    """A field no JSON can hold (a programming error) is reported by logging's own
    ``handleError``, as for any record, and the lines queued after it are written."""
    stream = RecordingStream()
    handler = BatchingStreamHandler(stream, interval=60)
    handler.setFormatter(JsonFormatter())
    reported: list[logging.LogRecord] = []
    monkeypatch.setattr(handler, "handleError", reported.append)
    handler.queue_fields(time.time(), {"request_id": "bad", "status": object()})
    handler.queue_fields(time.time(), {"request_id": "good", "status": 200})
    handler.close()
    assert [line["request_id"] for line in lines_of(stream.getvalue())] == ["good"]
    assert [r.fields["request_id"] for r in reported] == ["bad"]


def test_a_queued_line_is_written_byte_for_byte_as_json_dumps_writes_it():
    stream = RecordingStream()
    handler = BatchingStreamHandler(stream, interval=60)
    handler.setFormatter(JsonFormatter())
    created = 1765152000.123456
    fields = {"request_id": "r-\u00e9\u2028", "method": "GET", "path": "/x\"y", "status": 200,
              "duration_ms": -0.0, "role": None}
    handler.queue_fields(created, dict(fields))
    handler.close()
    expected = json.dumps({"ts": datetime.fromtimestamp(created, UTC).isoformat(),
                           "level": "info", "logger": "ecrf.request", **fields},
                          separators=(",", ":"))
    assert stream.getvalue() == expected + "\n"


def test_a_queued_line_names_its_level_as_a_record_would():
    stream = RecordingStream()
    handler = BatchingStreamHandler(stream, interval=60)
    handler.setFormatter(JsonFormatter())
    logging.addLevelName(logging.INFO, "INFORMATION")
    try:
        handler.queue_fields(time.time(), {"request_id": "r-1"})
        handler.close()
    finally:
        logging.addLevelName(logging.INFO, "INFO")
    line, = lines_of(stream.getvalue())
    assert line["level"] == "information"


def test_a_failed_write_of_queued_lines_is_reported_with_a_record(monkeypatch):
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError("disk full")

    handler = BatchingStreamHandler(Broken(), interval=60)
    handler.setFormatter(JsonFormatter())
    reported: list = []
    monkeypatch.setattr(handler, "handleError", reported.append)
    handler.queue_fields(time.time(), {"request_id": "r-1"})
    handler.close()
    record, = reported
    assert isinstance(record, logging.LogRecord) and record.fields == {"request_id": "r-1"}
