"""Exports: the trial (or one subject) as CDISC ODM 1.3.2, each export recorded as an event."""

from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint

from ecrf.api.context import as_of_position, current_user, services
from ecrf.commands.subjects import load_casebook
from ecrf.exports.odm import build_odm_export
from ecrf.permissions import require
from events import NewEvent

blp = Blueprint("exports", __name__, url_prefix="/api/v1/export",
                description="Exports (CDISC ODM 1.3.2 with audit records and signatures)")
AUDIT_LOG = "audit-log"
PARAMETERS = [
    {"name": "subject_id", "in": "query", "required": False,
     "description": "export this subject only (404 when unknown or of another site)",
     "schema": {"type": "string"}},
    {"name": "as_of", "in": "query", "required": False,
     "description": "the data as they stood at this moment (ISO 8601 date-time with offset)",
     "schema": {"type": "string", "format": "date-time"}},
    {"name": "position", "in": "query", "required": False,
     "description": "the data as they stood after this event log position",
     "schema": {"type": "integer", "minimum": 0}},
]


@blp.route("/odm", methods=["GET"])
@blp.doc(parameters=PARAMETERS, responses={"200": {
    "description": "CDISC ODM 1.3.2 XML (FileType Transactional): metadata, admin data and "
                   "every value with its audit records, queries as annotations, signatures",
    "content": {"application/xml": {"schema": {"type": "string"}}}}})
def odm():
    """Export as CDISC ODM 1.3.2 every subject the caller may see, or one (?subject_id=), as of
    now or of ?as_of= / ?position= (data manager, auditor)."""
    user = current_user()
    require(user.role, "export.odm")
    store = services().store
    position = as_of_position()
    subject_id = request.args.get("subject_id")
    if subject_id is not None:
        load_casebook(store, user, subject_id)  # 404 when unknown or of another site
    export = build_odm_export(store, user=user, up_to_position=position,
                              subject_ids=None if subject_id is None else [subject_id],
                              config=services().trial)
    filters = {name: request.args[name] for name in ("subject_id", "as_of", "position")
               if name in request.args}
    if "position" in filters:
        filters["position"] = int(filters["position"])
    store.append(AUDIT_LOG, [NewEvent("ExportGenerated", {
        "kind": "odm", "filters": filters, "subject_ids": list(export.subject_ids),
        "up_to_position": export.position, "file_oid": export.file_oid})],
        expected_version=None)
    filename = f"odm-{export.created_at.strftime('%Y%m%dT%H%M%SZ')}.xml"
    return Response(export.data, mimetype="application/xml", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})
