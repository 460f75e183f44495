from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import validate

from backend.auth.current import require_actor
from backend.core import fields
from backend.core.periods import PeriodArgs, period
from backend.core.schemas import Schema
from backend.stats import service

blp = Blueprint("stats", __name__, url_prefix="/api/v1", description="微力量与微服务统计、排行榜")


class MicroStatsSchema(Schema):
    org_id = fields.Integer()
    from_ = fields.AwareDateTime(data_key="from", attribute="from")
    to = fields.AwareDateTime()
    activities_held = fields.Integer(metadata={"description": "ended in the period with someone attending"})
    co_organised_activities = fields.Integer(metadata={"description": "of those, co-organised with a resident unit"})
    volunteer_hours = fields.Float(metadata={"description": "credited by the org's activities in the period"})
    party_members = fields.Integer(metadata={"description": "party-member roles here plus confirmed double reports"})
    party_member_hours = fields.Float()
    hours_per_party_member = fields.Float(allow_none=True)
    in_service_party_members = fields.Integer()
    double_reported = fields.Integer(metadata={"description": "confirmed double reports in the period's years"})
    double_report_share = fields.Float(allow_none=True)
    communities = fields.Integer()
    teams = fields.Integer(metadata={"description": "active volunteer teams"})
    teams_per_community = fields.Float(allow_none=True)
    grids = fields.Integer()
    grids_staffed = fields.Integer(metadata={"description": "grids with a grid leader and a service team"})
    service_bookings_delivered = fields.Integer()
    service_ratings = fields.Integer()
    mean_service_rating = fields.Float(allow_none=True)


class LeaderboardArgs(PeriodArgs):
    by = fields.String(load_default="hours", validate=validate.OneOf(["hours", "wishes"]))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class LeaderSchema(Schema):
    rank = fields.Integer()
    person_id = fields.Integer()
    name = fields.String(metadata={"description": "masked (张**) unless the viewer is staff of the org"})
    hours = fields.Float()
    fulfilled_wishes = fields.Integer()


@blp.get("/orgs/<int:org_id>/micro-stats")
@blp.arguments(PeriodArgs, location="query")
@blp.response(200, MicroStatsSchema)
def micro_stats(args, org_id):
    """Activities held (and co-organised), volunteer hours, hours per party member, share of
    in-service party members double-reported, teams per community, grids staffed, service
    bookings delivered and mean service rating, for a grid, community or street."""
    return service.micro_stats_for(require_actor(), org_id, *period(args))


@blp.get("/orgs/<int:org_id>/leaderboard")
@blp.arguments(LeaderboardArgs, location="query")
@blp.response(200, LeaderSchema(many=True))
def leaderboard(args, org_id):
    """People ranked by volunteer hours or by micro-wishes fulfilled (not claimed) here."""
    return service.leaderboard_for(require_actor(), org_id, *period(args), by=args["by"], limit=args["limit"])[1]
