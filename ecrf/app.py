"""The Flask application factory."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSessionInterface, SessionMixin

from ecrf import evidence, request_log
from ecrf.accounts.service import Tokens
from ecrf.api import (
    audit,
    auth,
    entries,
    errors,
    exports,
    exports_files,
    exports_sdtm,
    forms,
    projections,
    replay,
    request_guard,
    strict_json,
    subjects,
    throttle,
    trial,
    workflow,
)
from ecrf.api.context import Services, begin_request, end_request
from ecrf.api.docs_ui import register_assets, swagger_ui_config
from ecrf.api.openapi import CompleteOperations
from ecrf.config import from_environment
from events import EventStore, make_engine
from projections.readmodel.runner import ProjectionRunner
from projections.trial_config import DEFAULT_TRIAL


class NoSessions(SecureCookieSessionInterface):
    """The API keeps no cookie session (bearer tokens only): skip opening and saving one."""

    def open_session(self, app: Flask, request: Request) -> None:
        return None  # Flask then uses a null session, and saves nothing

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None


class EcrfFlask(Flask):
    """Flask, remembering which hooks and views are plain functions.

    Flask asks ``inspect.iscoroutinefunction`` of every hook and view in every request
    (``ensure_sync``): ten times for a read, ~2.5% of it in process (py-spy). The answer
    cannot change for a function, so it is asked once per function: the app's own hooks and
    views (a function made per request, as ``after_this_request`` takes, is asked each time
    once ``SYNC_KNOWN`` are known, so that they cannot fill the memory)."""

    SYNC_KNOWN = 1024

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        known = self.__dict__.setdefault("_sync_known", {})
        try:
            sync = known.get(func)
        except TypeError:  # unhashable: ask each time
            return super().ensure_sync(func)
        if sync is None:
            sync = super().ensure_sync(func)
            if len(known) < self.SYNC_KNOWN:
                known[func] = sync
        return sync


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: configuration, event store, API blueprints and the error shape."""
    # ECRF_INSTANCE_PATH moves the instance folder (secret key, default SQLite file) elsewhere.
    app = EcrfFlask(__name__, instance_relative_config=True,
                    instance_path=os.environ.get("ECRF_INSTANCE_PATH") or None)
    app.config.from_mapping(from_environment(app.instance_path))
    app.session_interface = NoSessions()
    app.config.update(
        API_TITLE="eCRF: CAR-T in chronic or refractory ITP",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        JSON_SORT_KEYS=False,
        **swagger_ui_config(),
    )
    if test_config:
        app.config.update(test_config)
    engine = app.config.get("ENGINE") or make_engine(
        app.config["DATABASE_URL"], **app.config.get("ENGINE_OPTIONS", {}))
    store = EventStore(engine, signer=evidence.load_signer(app.config))
    trial_config = app.config.get("TRIAL", DEFAULT_TRIAL)
    app.extensions["ecrf"] = Services(
        store=store,
        tokens=Tokens(app.config["SECRET_KEY"], app.config["TOKEN_TTL_SECONDS"]),
        trial=trial_config,
        runner=ProjectionRunner(store, config=trial_config),
    )
    evidence.connect_witness(app)
    api = errors.EcrfApi(app, spec_kwargs={"security": [{"bearerAuth": []}],
                                           "extra_plugins": [errors.DocumentJsonObjects(),
                                                             CompleteOperations()]})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    for blueprint in (auth.blp, subjects.blp, forms.blp, entries.blp, projections.blp,
                      trial.blp, workflow.blp, audit.blp, replay.blp,
                      exports_files.blp, exports.blp, exports_sdtm.blp):
        api.register_blueprint(blueprint)
    forms.register_fallback(app)
    register_assets(app)
    throttle.init_app(app)
    errors.register(app)
    app.before_request(begin_request)
    request_guard.init_app(app)
    strict_json.init_app(app)
    app.teardown_request(end_request)
    request_log.init_app(app)
    logging.getLogger("ecrf").setLevel(logging.INFO)
    return app
