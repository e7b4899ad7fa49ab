"""Submission files: the SDTM package (zip of XPT v5, Dataset-JSON 1.1 and define.xml) and
a subject's PDF casebook.

Recorded like every export: an ``ExportGenerated`` event on the ``audit-log`` stream (kind
``sdtm`` or ``casebook_pdf``, filters, subjects, position); a refused request records
nothing.
"""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint

from ecrf.api.context import as_of_position, current_user, services
from ecrf.api.exports_files import AS_OF_PARAMETERS, record_export
from ecrf.commands.subjects import load_casebook
from ecrf.exports.casebook_pdf import build_casebook_pdf, head_checkpoint
from ecrf.exports.sdtm.build import build_sdtm
from ecrf.exports.sdtm.package import ZIP_NAME, package_zip
from ecrf.permissions import require

blp = Blueprint("exports_sdtm", __name__, url_prefix="/api/v1",
                description="Submission files: SDTM datasets (SDTMIG 3.4) with their "
                            "Define-XML 2.1, PDF casebooks")


@blp.route("/export/sdtm", methods=["GET"])
@blp.doc(parameters=AS_OF_PARAMETERS, responses={"200": {
    "description": "a zip: one SAS transport v5 file (dm.xpt ...) and one Dataset-JSON 1.1 "
                   "file (dm.json ...) per dataset, SUPP-- datasets with the trace of every "
                   "record, and define.xml (Define-XML 2.1)",
    "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}})
def export_sdtm():
    """The trial's SDTM datasets as of now or a past moment (data manager, auditor)."""
    user = current_user()
    require(user.role, "export.sdtm")
    package = build_sdtm(services().store, user=user, up_to_position=as_of_position(),
                         config=services().trial)
    data = package_zip(package)
    record_export("sdtm", package.subject_ids, package.position)
    return Response(data, mimetype="application/zip", headers={
        "Content-Disposition": f"attachment; filename={ZIP_NAME}", "Cache-Control": "no-store"})


@blp.route("/subjects/<subject_id>/casebook.pdf", methods=["GET"])
@blp.doc(parameters=AS_OF_PARAMETERS, responses={"200": {
    "description": "the subject's casebook as a PDF for the site archive: every entry with its "
                   "values, every change, queries, verification, signatures, and the log "
                   "position, head hash and checkpoint of the moment it was printed",
    "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}})
def casebook_pdf(subject_id: str):
    """The subject's PDF casebook as of now or a past moment (anyone who may read it)."""
    user = current_user()
    require(user.role, "subject.read")
    store = services().store
    book = load_casebook(store, user, subject_id, up_to_position=as_of_position())
    events = store.read_stream(book.subject_id, up_to_position=book.position)
    data = build_casebook_pdf(book, events, head_checkpoint(store))
    record_export("casebook_pdf", [book.subject_id], book.position)
    return Response(data, mimetype="application/pdf", headers={
        "Content-Disposition": f"attachment; filename=casebook-{book.subject_id}.pdf",
        "Cache-Control": "no-store"})
