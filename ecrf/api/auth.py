"""Authentication: tokens for a username and password, logout, password change."""

import uuid

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from ecrf.accounts.lockout import record_success
from ecrf.accounts.model import user_stream
from ecrf.accounts.service import authenticate, change_password, password_matches
from ecrf.api.context import current_user, services
from ecrf.api.schemas import TokenRequestSchema, TokenSchema
from ecrf.errors import Forbidden
from events import NewEvent

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Authentication")


class PasswordChangeSchema(Schema):
    current_password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    new_password = fields.String(required=True, validate=validate.Length(min=8, max=1024))


@blp.route("/token", methods=["POST"])
@blp.arguments(TokenRequestSchema)
@blp.response(200, TokenSchema)
@blp.alt_response(401, description="unknown user, wrong password, or account locked")
@blp.doc(security=[])
def issue_token(credentials: dict):
    """Issue a bearer token for a username and password (failures are recorded)."""
    store = services().store
    user = authenticate(store, credentials["username"], credentials["password"])
    token_id = uuid.uuid4().hex
    record_success(store, user, token_id)
    tokens = services().tokens
    return {"access_token": tokens.issue(user, token_id), "token_type": "Bearer",
            "expires_in": tokens.ttl}


@blp.route("/logout", methods=["POST"])
@blp.response(204)
def logout():
    """Revoke the token used for this request."""
    user = current_user()
    services().store.append(user_stream(user.username), [NewEvent(
        "LoggedOut", {"username": user.username, "token_id": g.token_id})],
        expected_version=None)


@blp.route("/password", methods=["POST"])
@blp.arguments(PasswordChangeSchema)
@blp.response(204)
def password(body: dict):
    """Change one's own password, re-entering the current one."""
    user = current_user()
    if not password_matches(user, body["current_password"]):
        raise Forbidden("password_refused", "the current password does not match",
                        {"current_password": ["wrong password"]})
    change_password(services().store, user, body["new_password"])
