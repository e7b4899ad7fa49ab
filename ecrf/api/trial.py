"""Trial-wide views, from the read models (caught up before answering)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_smorest import Blueprint

from ecrf.accounts.model import ALL_SITES
from ecrf.api.context import current_user, services
from ecrf.permissions import require
from projections.readmodel.summary import trial_summary

blp = Blueprint("trial", __name__, url_prefix="/api/v1/trial", description="Trial views")


@blp.route("/summary", methods=["GET"])
def summary():
    """Subjects by status, eligibility, W12 response, AEs, CRS/ICANS, open SAEs, overdue."""
    user = current_user()
    require(user.role, "trial.summary")
    runner = services().runner
    runner.catch_up()
    sites = None if ALL_SITES in user.sites else list(user.sites)
    body = trial_summary(services().store.engine, sites=sites,
                         today=datetime.now(UTC).date())
    return {**body, "read_model": runner.status()}
