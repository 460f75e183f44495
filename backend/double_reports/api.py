from __future__ import annotations

from flask_smorest import Blueprint

from backend.auth.current import require_actor
from backend.core.db import commit
from backend.core.paging import page_of, paginate
from backend.double_reports import service
from backend.double_reports.schemas import (
    CommunitySchema,
    ReportCreateSchema,
    ReportListArgs,
    ReportRejectSchema,
    ReportSchema,
)

blp = Blueprint("double_reports", __name__, url_prefix="/api/v1", description="在职党员双报到")


@blp.post("/double-reports")
@blp.arguments(ReportCreateSchema)
@blp.response(201, ReportSchema)
@blp.alt_response(409, description="already_reported")
def create(args):
    """A party member reports to the community where they live (once a year)."""
    record = service.report_by(require_actor(), args["community_id"], work_unit=args["work_unit"],
                               offer=args.get("offer"), year=args.get("year"))
    commit()
    return record


@blp.get("/double-reports/communities")
@blp.response(200, CommunitySchema(many=True))
def communities():
    """Communities a member may report to."""
    require_actor()
    return service.communities()


@blp.get("/double-reports")
@blp.arguments(ReportListArgs, location="query")
@blp.response(200, page_of(ReportSchema))
def list_reports(args):
    """With `org_id`: reports to that org's communities (its staff). Without: my own."""
    actor = require_actor()
    if "org_id" in args:
        stmt = service.reports_to(actor, args["org_id"], args.get("year"), args.get("status"))[1]
    else:
        stmt = service.mine(actor.person)
    return paginate(stmt, args["page"], args["per_page"])


@blp.get("/double-reports/<int:report_id>")
@blp.response(200, ReportSchema)
def get_one(report_id):
    return service.report_for(require_actor(), report_id)


@blp.post("/double-reports/<int:report_id>/confirm")
@blp.response(200, ReportSchema)
@blp.alt_response(409, description="already_decided")
def confirm(report_id):
    """The community confirms: the member appears among its volunteers."""
    record = service.confirm_by(require_actor(), report_id)
    commit()
    return record


@blp.post("/double-reports/<int:report_id>/reject")
@blp.arguments(ReportRejectSchema)
@blp.response(200, ReportSchema)
@blp.alt_response(409, description="already_decided")
def reject(args, report_id):
    """Not accepted, with the reason; the member may report again."""
    record = service.reject_by(require_actor(), report_id, args["reason"])
    commit()
    return record
