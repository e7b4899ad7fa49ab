"""The SDTM submission package (zip of XPT v5, Dataset-JSON 1.1 and define.xml).

Recorded like every export: an ``ExportGenerated`` event on the ``audit-log`` stream (kind
``sdtm``, filters, subjects, position); a refused request records nothing.
"""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint

from ecrf.api.context import as_of_position, current_user, services
from ecrf.api.exports_files import AS_OF_PARAMETERS, record_export
from ecrf.exports.sdtm.build import build_sdtm
from ecrf.exports.sdtm.package import ZIP_NAME, package_zip
from ecrf.permissions import require

blp = Blueprint("exports_sdtm", __name__, url_prefix="/api/v1",
                description="SDTM datasets (SDTMIG 3.4) with their Define-XML 2.1")


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
