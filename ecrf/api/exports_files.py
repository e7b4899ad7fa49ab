"""File exports: the CSV zip of the whole trial and a subject's platelet chart (SVG).

Each export is recorded as an ``ExportGenerated`` event on the ``audit-log`` stream (what, which
filters, which subjects, up to which position); the request context stamps who. A refused
request (403, 404) records nothing.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask_smorest import Blueprint

from ecrf.api.context import as_of_position, current_user, services
from ecrf.commands.subjects import load_casebook
from ecrf.exports.csv_export import build_csv_export
from ecrf.exports.platelet_chart import platelet_chart_svg
from ecrf.permissions import require
from events import NewEvent

AUDIT_LOG = "audit-log"
ZIP_NAME = "ecrf-export.zip"
AS_OF_PARAMETERS = [
    {"name": "as_of", "in": "query", "required": False,
     "description": "the data as they stood at this moment (ISO 8601 date-time with offset)",
     "schema": {"type": "string", "format": "date-time"}},
    {"name": "position", "in": "query", "required": False,
     "description": "the data as they stood after this event log position",
     "schema": {"type": "integer", "minimum": 0}},
]

blp = Blueprint("exports_files", __name__, url_prefix="/api/v1",
                description="File exports: CSV (zip) and the platelet chart (SVG)")


@blp.route("/export/csv", methods=["GET"])
@blp.doc(parameters=AS_OF_PARAMETERS, responses={"200": {
    "description": "a zip: one CSV per form (current values), audit_trail.csv, README.txt",
    "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}})
def export_csv():
    """The trial's data as CSV files (one per form, plus the audit trail), zipped."""
    user = current_user()
    require(user.role, "export.csv")
    export = build_csv_export(services().store, user=user, up_to_position=as_of_position())
    record_export("csv", export.subject_ids, export.position)
    return Response(export.data, mimetype="application/zip", headers={
        "Content-Disposition": f"attachment; filename={ZIP_NAME}",
        "Cache-Control": "no-store"})


@blp.route("/subjects/<subject_id>/platelets.svg", methods=["GET"])
@blp.doc(parameters=AS_OF_PARAMETERS, responses={"200": {
    "description": "the platelet count over study days with thresholds, baseline, infusion, "
                   "rescue therapy, bleeding and the confirmed response periods",
    "content": {"image/svg+xml": {"schema": {"type": "string"}}}}})
def platelet_chart(subject_id: str):
    """The subject's platelet chart (SVG) as of now or a past moment."""
    user = current_user()
    require(user.role, "subject.read")
    book = load_casebook(services().store, user, subject_id, up_to_position=as_of_position())
    svg = platelet_chart_svg(book, config=services().trial)
    record_export("platelet_chart", [book.subject_id], book.position)
    return Response(svg, mimetype="image/svg+xml", headers={"Cache-Control": "no-store"})


def record_export(kind: str, subject_ids: Any, up_to_position: int | None) -> None:
    """Append the ExportGenerated event: what was exported, with which filters, for whom."""
    filters = {name: request.args[name] for name in ("as_of", "position") if name in request.args}
    services().store.append(AUDIT_LOG, [NewEvent("ExportGenerated", {
        "kind": kind, "filters": filters, "subject_ids": list(subject_ids),
        "up_to_position": up_to_position})], expected_version=None)
