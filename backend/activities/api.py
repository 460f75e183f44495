from __future__ import annotations

from flask_smorest import Blueprint

from backend.activities import service as activity_service
from backend.activities.models import Activity
from backend.activities.schemas import (
    ActivityCreateSchema,
    ActivityListArgs,
    ActivitySchema,
    BookingSchema,
    CancelResultSchema,
    CheckinResultSchema,
    CheckinSchema,
    HoursSchema,
)
from backend.bookings import service as bookings
from backend.bookings.models import Booking
from backend.core.auth import require_actor
from backend.core.db import commit
from backend.core.errors import Invalid, NotFound
from backend.core.paging import PageArgs, page_of, paginate
from backend.core.permissions import authorize, load_authorized
from backend.extensions import db
from backend.hours import service as hours
from backend.people.models import Person
from backend.qrcodes import service as qr_service
from backend.qrcodes.models import QrPurpose

blp = Blueprint("activities", __name__, url_prefix="/api/v1", description="志愿活动（微力量）")


@blp.post("/activities")
@blp.arguments(ActivityCreateSchema)
@blp.response(201, ActivitySchema)
def create(args):
    """A volunteer activity with limited places (secretaries and street officers; a team leader
    with `team_id`). `partner_unit_id` names a resident unit it is co-organised with."""
    activity = activity_service.create_activity(require_actor(), args)
    commit()
    return activity


@blp.get("/activities")
@blp.arguments(ActivityListArgs, location="query")
@blp.response(200, page_of(ActivitySchema))
def list_activities(args):
    """Activities of the person's communities, soonest first; filter by community, team, skill, date."""
    stmt = activity_service.listing(require_actor(), org_id=args.get("org_id"), team_id=args.get("team_id"),
                                    skill=args.get("skill"), day=args.get("date"), upcoming=args["upcoming"])
    return paginate(stmt, args["page"], args["per_page"])


def get_activity(activity_id: int, action: str = "activity.view") -> tuple[object, Activity]:
    actor = require_actor()
    return actor, load_authorized(actor, Activity, activity_id, action)


@blp.get("/activities/<int:activity_id>")
@blp.response(200, ActivitySchema)
def get_one(activity_id):
    return get_activity(activity_id)[1]


@blp.post("/activities/<int:activity_id>/signups")
@blp.response(201, BookingSchema)
@blp.alt_response(409, description="full, duplicate, overlap, blocked, signup_not_open, signup_closed")
def sign_up(activity_id):
    """Take a place (confirmed) or join the waitlist (waitlisted)."""
    actor, activity = get_activity(activity_id, "activity.sign_up")
    booking = bookings.sign_up(activity.slot, actor.person)
    commit()
    return booking


@blp.post("/activities/<int:activity_id>/checkin")
@blp.arguments(CheckinSchema)
@blp.response(200, CheckinResultSchema)
@blp.alt_response(409, description="checkin_closed, not_signed_up, already_checked_out")
def checkin(args, activity_id):
    """Scan the venue QR: first scan checks in, the next checks out and credits the hours."""
    actor = require_actor()
    activity = load_authorized(actor, Activity, activity_id, "activity.view")
    qr = qr_service.resolve(args["qr"])
    if qr.purpose != QrPurpose.checkin.value or qr.target_id != activity.id:
        raise Invalid("这不是本活动的签到码", code="wrong_code", fields={"qr": ["这不是本活动的签到码"]})
    result, booking = activity_service.scan(activity, actor.person)
    commit()
    return {"result": result, "booking": booking}


@blp.get("/people/<int:person_id>/hours")
@blp.arguments(PageArgs, location="query")
@blp.response(200, HoursSchema)
def person_hours(args, person_id):
    """A person's volunteer hours and points: balance and the latest entries."""
    person = db.session.get(Person, person_id)
    authorize(require_actor(), "person.view", person)
    totals = hours.balance("person", person.id)
    page = paginate(hours.entries("person", person.id), args["page"], args["per_page"])
    return {"person_id": person.id, "minutes": totals["minutes"], "hours": round(totals["minutes"] / 60, 2),
            "points": totals["points"], "entries": page["items"]}


@blp.delete("/signups/<int:booking_id>")
@blp.response(200, CancelResultSchema)
@blp.alt_response(409, description="cancel_closed, invalid_state")
def cancel(booking_id):
    """Cancel a sign-up; a freed place goes to the first person on the waitlist."""
    actor = require_actor()
    booking = db.session.get(Booking, booking_id)
    if booking is None:
        raise NotFound("找不到该报名")
    authorize(actor, "booking.cancel", booking)
    promoted = bookings.cancel(booking)
    commit()
    return {"booking": booking, "promoted": promoted}
