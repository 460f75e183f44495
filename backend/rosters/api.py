from __future__ import annotations

from io import BytesIO

from flask import send_file
from flask_smorest import Blueprint

from backend.auth.current import require_actor
from backend.core.db import commit
from backend.core.uploads import accepts_upload
from backend.rosters import service
from backend.rosters.schemas import RosterFileSchema, RosterImportArgs, RosterReportSchema

blp = Blueprint("rosters", __name__, url_prefix="/api/v1/imports", description="名册导入（Excel）")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@blp.get("/template.xlsx")
@blp.response(200, description="Excel workbook: 说明, 社区, 网格, 网格员, 党员, 志愿者, 驻区单位")
def template():
    """The empty roster workbook with the Chinese headers (staff)."""
    return send_file(BytesIO(service.template_for(require_actor())), mimetype=XLSX, as_attachment=True,
                     download_name="名册导入模板.xlsx")


@blp.post("")
@blp.arguments(RosterImportArgs, location="query")
@blp.arguments(RosterFileSchema, location="files")
@blp.response(200, RosterReportSchema)
@accepts_upload("ROSTER_MAX_BYTES")
def import_roster(args, files):
    """Import a filled-in template into a street or community (its street officer or its
    secretary). `dry_run=1` checks every row and writes nothing: `errors` lists each
    `{sheet, row, column, cell, message}`, `sheets` and `counts` say what the import would do.
    Without it the import is all or nothing: 422 `roster_invalid` (each cell in `fields`) and
    nothing written when any row has an error. Importing the same workbook again changes nothing."""
    report = service.import_roster(require_actor(), args["org_id"], files["file"], dry_run=args["dry_run"])
    commit()
    return report
