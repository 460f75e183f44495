from __future__ import annotations

import sqlalchemy as sa
from flask_smorest import Blueprint

from backend.auth.current import require_actor
from backend.core.db import commit
from backend.core.errors import Forbidden, NotFound
from backend.core.paging import page_of, paginate
from backend.core.permissions import authorize, load_authorized
from backend.double_reports import service
from backend.double_reports.models import DoubleReport
from backend.double_reports.schemas import (
    CommunitySchema,
    ReportCreateSchema,
    ReportListArgs,
    ReportRejectSchema,
    ReportSchema,
)
from backend.extensions import db
from backend.orgs.models import Org

blp = Blueprint("double_reports", __name__, url_prefix="/api/v1", description="在职党员双报到")


@blp.post("/double-reports")
@blp.arguments(ReportCreateSchema)
@blp.response(201, ReportSchema)
@blp.alt_response(409, description="already_reported")
def create(args):
    """A party member reports to the community where they live (once a year)."""
    actor = require_actor()
    community = db.session.get(Org, args["community_id"])
    if community is None:
        raise NotFound("找不到该社区")
    record = service.report(actor.person, community, work_unit=args["work_unit"], offer=args.get("offer"),
                            year=args.get("year"))
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
        org = db.session.get(Org, args["org_id"])
        authorize(actor, "org.view", org)
        if not actor.is_staff_over(org):
            raise Forbidden()
        stmt = service.reports_for(org, args.get("year"), args.get("status"))
    else:
        stmt = sa.select(DoubleReport).where(DoubleReport.person_id == actor.person.id).order_by(
            DoubleReport.year.desc(), DoubleReport.id.desc())
    return paginate(stmt, args["page"], args["per_page"])


def _report(report_id: int, action: str) -> tuple[object, DoubleReport]:
    actor = require_actor()
    return actor, load_authorized(actor, DoubleReport, report_id, action)


@blp.get("/double-reports/<int:report_id>")
@blp.response(200, ReportSchema)
def get_one(report_id):
    return _report(report_id, "double_report.view")[1]


@blp.post("/double-reports/<int:report_id>/confirm")
@blp.response(200, ReportSchema)
@blp.alt_response(409, description="already_decided")
def confirm(report_id):
    """The community confirms: the member appears among its volunteers."""
    actor, record = _report(report_id, "double_report.decide")
    service.confirm(record, actor.person)
    commit()
    return record


@blp.post("/double-reports/<int:report_id>/reject")
@blp.arguments(ReportRejectSchema)
@blp.response(200, ReportSchema)
@blp.alt_response(409, description="already_decided")
def reject(args, report_id):
    """Not accepted, with the reason; the member may report again."""
    actor, record = _report(report_id, "double_report.decide")
    service.reject(record, actor.person, args["reason"])
    commit()
    return record
