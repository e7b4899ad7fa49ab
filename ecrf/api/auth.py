"""POST /auth/token: exchange a username and password for a bearer token."""

from flask_smorest import Blueprint

from ecrf.accounts.service import authenticate
from ecrf.api.context import services
from ecrf.api.schemas import TokenRequestSchema, TokenSchema

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Authentication")


@blp.route("/token", methods=["POST"])
@blp.arguments(TokenRequestSchema)
@blp.response(200, TokenSchema)
@blp.alt_response(401, description="unknown user or wrong password")
def issue_token(credentials: dict):
    """Issue a bearer token for a username and password."""
    user = authenticate(services().store, credentials["username"], credentials["password"])
    tokens = services().tokens
    return {"access_token": tokens.issue(user), "token_type": "Bearer",
            "expires_in": tokens.ttl}
