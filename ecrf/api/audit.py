"""Integrity of the log: the chain check and the head an inspector can note."""

from flask_smorest import Blueprint

from ecrf.api.context import current_user, services
from ecrf.permissions import require
from events import verify_chain

blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit", description="Audit")


@blp.route("/verify", methods=["GET"])
def verify():
    """Re-check the whole hash chain; report the head and the first broken link, if any."""
    require(current_user().role, "audit.verify")
    return verify_chain(services().store.engine).to_dict()
