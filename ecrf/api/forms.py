"""Form submission, one route per form so each is documented with its own schema."""

from flask import Flask
from flask_smorest import Blueprint

from ecrf.api.context import current_user, if_match, json_body, services
from ecrf.api.idempotency import idempotency, written
from ecrf.api.schemas import OutcomeSchema
from ecrf.commands.forms import NOT_SUBMITTABLE, submit_form
from ecrf.errors import NotFound
from ecrf.forms.describe import describe_all
from ecrf.forms.registry import FORMS, FormDef
from ecrf.permissions import require

blp = Blueprint("forms", __name__, url_prefix="/api/v1", description="Case report forms")


@blp.route("/forms", methods=["GET"])
def list_forms():
    """Describe every form: fields, types, units, ranges, choices and required rules."""
    require(current_user().role, "forms.describe")
    return {"forms": describe_all()}


def _submit_view(form: FormDef):
    def submit(subject_id: str):
        retry = idempotency()
        outcome = submit_form(services().store, current_user(), subject_id, form.name,
                              json_body(), if_match=if_match(), idempotency_key=retry.key,
                              fingerprint=retry.fingerprint, config=services().trial)
        return written(outcome)

    submit.__name__ = f"submit_{form.name}"
    submit.__doc__ = f"Submit the {form.title} form (recorded as {form.event_type})."
    return submit


for _form in FORMS.values():
    if _form.name in NOT_SUBMITTABLE:
        continue
    blp.route(f"/subjects/<subject_id>/forms/{_form.name}", methods=["POST"],
              endpoint=f"submit_{_form.name}")(
        blp.doc(requestBody={"required": True, "content": {
            "application/json": {"schema": _form.schema}}})(
            blp.response(201, OutcomeSchema)(_submit_view(_form))))


def register_fallback(app: Flask) -> None:
    """Answer an unknown form name with a clear 404 rather than a bare one."""

    @app.route("/api/v1/subjects/<subject_id>/forms/<form>", methods=["POST"])
    def unknown_form(subject_id: str, form: str):
        current_user()
        raise NotFound("unknown_form", f"there is no form {form!r}")
