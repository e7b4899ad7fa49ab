"""``EcrfFlask.ensure_sync`` asks once per function whether it is a coroutine function, and
answers as Flask does: a plain function as it is, a coroutine function never as it is."""

from __future__ import annotations

import pytest
from flask import Flask

from ecrf.app import EcrfFlask


def plain() -> str:
    return "plain"


async def coroutine() -> str:
    return "coroutine"


def test_a_plain_function_is_run_as_it_is_and_asked_about_once(monkeypatch):
    app = EcrfFlask(__name__)
    asked = []
    real = Flask.ensure_sync
    monkeypatch.setattr(Flask, "ensure_sync", lambda self, f: asked.append(f) or real(self, f))
    assert app.ensure_sync(plain) is plain
    assert app.ensure_sync(plain) is plain
    assert asked == [plain]


def test_a_coroutine_function_is_not_run_as_it_is():
    app = EcrfFlask(__name__)
    try:
        wrapped = app.ensure_sync(coroutine)
    except RuntimeError as needs_async_extra:  # Flask without asgiref: refused as Flask does
        with pytest.raises(RuntimeError):
            Flask(__name__).ensure_sync(coroutine)
        assert "async" in str(needs_async_extra)
        return
    assert wrapped is not coroutine
    assert wrapped() == "coroutine"


def test_functions_made_per_request_cannot_fill_the_memory():
    app = EcrfFlask(__name__)
    for n in range(EcrfFlask.SYNC_KNOWN + 500):
        def hook(n=n) -> int:
            return n
        assert app.ensure_sync(hook)() == n
    assert len(app._sync_known) == EcrfFlask.SYNC_KNOWN


def test_an_unhashable_callable_is_asked_each_time():
    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self) -> str:
            return "called"

    app = EcrfFlask(__name__)
    thing = Unhashable()
    assert app.ensure_sync(thing) is thing
    assert app._sync_known == {}
