"""The browsable API docs served by the app itself: Swagger UI from the pinned
``swagger-ui-bundle`` package, so the page works on a network with no internet access."""

from __future__ import annotations

from flask import Blueprint, Flask
from swagger_ui_bundle import swagger_ui_path

#: where the Swagger UI assets are served (outside /api/v1: they are not API operations).
ASSETS_URL = "/assets/swagger-ui/"


def swagger_ui_config() -> dict:
    """flask-smorest settings pointing the docs page at the local assets."""
    return {
        "OPENAPI_SWAGGER_UI_PATH": "/docs",
        "OPENAPI_SWAGGER_UI_URL": ASSETS_URL,
        # no call to the public validator (Swagger UI's default): nothing leaves the network
        "OPENAPI_SWAGGER_UI_CONFIG": {"validatorUrl": None},
    }


def register_assets(app: Flask) -> None:
    """Serve the package's Swagger UI files (css, js) at ASSETS_URL."""
    app.register_blueprint(Blueprint("swagger_ui_assets", __name__,
                                     static_folder=swagger_ui_path,
                                     static_url_path=ASSETS_URL.rstrip("/")))
