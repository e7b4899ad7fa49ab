"""Authentication: tokens for a username and password, logout, password change."""

import uuid

from flask import current_app, g
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from ecrf.accounts.lockout import check_current_password, record_success
from ecrf.accounts.model import user_stream
from ecrf.accounts.service import authenticate, change_password
from ecrf.api.context import current_user, services
from ecrf.api.schemas import TokenRequestSchema, TokenSchema
from events import NewEvent

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Authentication")


class PasswordChangeSchema(Schema):
    current_password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    new_password = fields.String(required=True, validate=validate.Length(min=8, max=1024))


@blp.route("/token", methods=["POST"])
@blp.arguments(TokenRequestSchema)
@blp.response(200, TokenSchema)
@blp.alt_response(401, description="refused: the same answer for an unknown user, a wrong "
                  "password, a locked or a deactivated account")
@blp.alt_response(429, description="too many failed attempts from this address; see Retry-After")
@blp.doc(security=[])
def issue_token(credentials: dict):
    """Issue a bearer token for a username and password (failures are recorded)."""
    store = services().store
    user = authenticate(store, credentials["username"], credentials["password"],
                        secret_key=current_app.config["SECRET_KEY"])
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
@blp.alt_response(403, description="the current password does not match (counts toward lockout)")
@blp.alt_response(429, description="too many failed attempts from this address; see Retry-After")
def password(body: dict):
    """Change one's own password, re-entering the current one; a wrong one counts toward the
    lockout, and the change revokes every other token of the account."""
    user = current_user()
    check_current_password(services().store, user, body["current_password"])
    change_password(services().store, user, body["new_password"], keep_token_id=g.token_id)
