"""The NUL guard's one pass over the environ (ecrf.api.request_guard.may_hold_nul) sees a NUL
wherever the detailed check would find one: raw in the path or in any header (those the
environ holds without the ``HTTP_`` prefix included), raw or percent-encoded in the query
string. Only a request it clears skips the detailed check."""

from __future__ import annotations

import pytest

from ecrf.api.request_guard import may_hold_nul

PLAIN = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/v1/subjects/ITP-001/efficacy",
         "QUERY_STRING": "position=12&as_of=", "SERVER_NAME": "x", "HTTP_HOST": "x",
         "HTTP_AUTHORIZATION": "Bearer abc", "CONTENT_TYPE": "application/json",
         "CONTENT_LENGTH": "12", "wsgi.input": object(), "wsgi.errors": object()}


def test_a_request_without_a_nul_anywhere_is_cleared():
    assert may_hold_nul(PLAIN) is False
    assert may_hold_nul({}) is False


@pytest.mark.parametrize(("key", "value"), [
    ("PATH_INFO", "/api/v1/subjects/ITP\x00001"),
    ("QUERY_STRING", "subject=%00"),
    ("QUERY_STRING", "a=1&%00=2"),
    ("QUERY_STRING", "subject=\x00"),
    ("HTTP_IDEMPOTENCY_KEY", "key\x00"),
    ("HTTP_USER_AGENT", "\x00"),
    ("HTTP_X_ANYTHING", "a\x00b"),
    ("CONTENT_TYPE", "application/json\x00"),
    ("CONTENT_LENGTH", "1\x00"),
])
def test_a_nul_in_any_place_the_detailed_check_reads_is_seen(key, value):
    assert may_hold_nul({**PLAIN, key: value}) is True


def test_environ_entries_that_are_not_headers_are_not_read():
    # the server's own entries (wsgi.*, SERVER_*) are neither headers nor parameters
    assert may_hold_nul({**PLAIN, "SERVER_SOFTWARE": "x\x00", "wsgi.url_scheme": "\x00"}) \
        is False
