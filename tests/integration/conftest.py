"""Integration tests share the API fixtures (app, users, clients)."""

from tests.api.conftest import anonymous, app, as_user, staff, store  # noqa: F401
