"""Throttle password guessing per client address: 429 with Retry-After after 20 failures a
minute on ``POST /auth/token`` and ``POST /auth/password`` (NIST SP 800-63B 5.2.2).

Only failed attempts count (a 401 or 403 answer), so a client that logs in correctly is never
slowed. The client address is the one the WSGI server gives (``request.remote_addr``); behind
reverse proxies, set ``TRUSTED_PROXIES`` (``ECRF_TRUSTED_PROXIES``) to how many of them add
``X-Forwarded-For``, and werkzeug's ProxyFix takes the address from that header. Counts are kept
in memory per process (flask-limiter's ``memory://``; ``RATELIMIT_STORAGE_URI`` for another
store); ``RATELIMIT_ENABLED = False`` switches the throttle off.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

FAILED_ATTEMPTS_LIMIT = "20 per minute"
THROTTLED_ENDPOINTS = ("auth.issue_token", "auth.password")


def _failed(response: Response) -> bool:
    return response.status_code in (401, 403)


def init_app(app: Flask) -> Limiter:
    """Wrap the password endpoints of this app in a limiter of its own (its own counts)."""
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies)  # type: ignore[method-assign]
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter = Limiter(get_remote_address, app=app, default_limits=[])
    rule = limiter.limit(FAILED_ATTEMPTS_LIMIT, deduct_when=_failed)
    for endpoint in THROTTLED_ENDPOINTS:
        app.view_functions[endpoint] = rule(app.view_functions[endpoint])
    _only_on_throttled_endpoints(app, limiter)
    app.extensions["ecrf_throttle"] = limiter  # the limits refer to it only weakly
    return limiter


def _only_on_throttled_endpoints(app: Flask, limiter: Limiter) -> None:
    """Run the limiter's per-request hooks only where a limit applies: it has no default
    limits, yet its hooks cost ~0.2 ms on every request (form submissions included). Its
    teardown resets the per-request state that only those hooks and the throttled views
    make (resetting builds it first, on every request)."""
    for funcs in (app.before_request_funcs.get(None, []), app.after_request_funcs.get(None, []),
                  app.teardown_request_funcs.get(None, [])):
        for index, func in enumerate(funcs):
            if getattr(func, "__self__", None) is limiter or (
                    isinstance(func, functools.partial) and limiter in func.args):
                funcs[index] = _when_throttled(func)


def _when_throttled(hook: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(hook)
    def run(*args: Any) -> Any:
        if request.endpoint in THROTTLED_ENDPOINTS:
            return hook(*args)
        return args[0] if args else None  # an after_request hook hands the response on

    return run
