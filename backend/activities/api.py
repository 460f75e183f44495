from __future__ import annotations

from flask_smorest import Blueprint

from backend.activities import service as activity_service
from backend.activities.schemas import (
    ActivityCreateSchema,
    ActivityListArgs,
    ActivitySchema,
    BookingSchema,
    CancelResultSchema,
    CheckinResultSchema,
    CheckinSchema,
    CheckoutUndoArgs,
    CheckoutUndoSchema,
    HoursSchema,
)
from backend.auth.current import require_actor
from backend.core.db import commit
from backend.core.paging import PageArgs, page_of, paginate, paginate_rows
from backend.hours import service as hours

blp = Blueprint("activities", __name__, url_prefix="/api/v1", description="志愿活动（微力量）")


@blp.post("/activities")
@blp.arguments(ActivityCreateSchema)
@blp.response(201, ActivitySchema)
def create(args):
    """A volunteer activity with limited places (secretaries and street officers; a team leader
    with `team_id`). `partner_unit_id` names a resident unit it is co-organised with."""
    activity = activity_service.create_activity(require_actor(), args)
    commit()
    return activity_service.presented(activity)


@blp.get("/activities")
@blp.arguments(ActivityListArgs, location="query")
@blp.response(200, page_of(ActivitySchema))
def list_activities(args):
    """Activities of the person's communities, soonest first; filter by community, team, skill, date."""
    listing = activity_service.listing_rows(
        require_actor(), org_id=args.get("org_id"), team_id=args.get("team_id"), skill=args.get("skill"),
        day=args.get("date"), upcoming=args["upcoming"])
    return paginate_rows(listing, args["page"], args["per_page"])


@blp.get("/activities/<int:activity_id>")
@blp.response(200, ActivitySchema)
def get_one(activity_id):
    """One activity of the person's communities."""
    return activity_service.presented(activity_service.activity_for(require_actor(), activity_id))


@blp.post("/activities/<int:activity_id>/signups")
@blp.response(201, BookingSchema)
@blp.alt_response(409, description="full, duplicate, overlap, blocked, signup_not_open, signup_closed")
def sign_up(activity_id):
    """Take a place (confirmed) or join the waitlist (waitlisted)."""
    booking = activity_service.sign_up_by(require_actor(), activity_id)
    commit()
    return booking


@blp.post("/activities/<int:activity_id>/checkin")
@blp.arguments(CheckinSchema)
@blp.response(200, CheckinResultSchema)
@blp.alt_response(409, description="checkin_closed, not_signed_up, already_checked_in, not_checked_in, "
                                   "checkout_before_start, already_checked_out")
def checkin(args, activity_id):
    """Scan the venue QR: first scan checks in, the next checks out and credits the hours
    (`action` says which is meant). Checking out before the activity starts is refused."""
    result, booking = activity_service.scan_by(require_actor(), activity_id, args["qr"], args.get("action"))
    commit()
    return {"result": result, "booking": booking}


@blp.get("/people/<int:person_id>/hours")
@blp.arguments(PageArgs, location="query")
@blp.response(200, HoursSchema)
def person_hours(args, person_id):
    """A person's volunteer hours and points: balance and the latest entries."""
    person, totals = activity_service.hours_of(require_actor(), person_id)
    page = paginate(hours.entries("person", person.id), args["page"], args["per_page"])
    return {"person_id": person.id, "minutes": totals["minutes"], "hours": round(totals["minutes"] / 60, 2),
            "points": totals["points"], "entries": page["items"]}


@blp.delete("/signups/<int:booking_id>")
@blp.response(200, CancelResultSchema)
@blp.alt_response(409, description="cancel_closed, invalid_state")
def cancel(booking_id):
    """Cancel a sign-up; a freed place goes to the first person on the waitlist."""
    booking, promoted = activity_service.cancel_by(require_actor(), booking_id)
    commit()
    return {"booking": booking, "promoted": promoted}


@blp.post("/signups/<int:booking_id>/checkout-undo")
@blp.arguments(CheckoutUndoArgs)
@blp.response(201, CheckoutUndoSchema)
@blp.alt_response(409, description="not_checked_out")
def undo_checkout(args, booking_id):
    """The organiser undoes a mistaken check-out: the attendance reopens and the credit is
    reversed in the hours book (an entry of its own, with who undid it)."""
    undo = activity_service.undo_check_out(require_actor(), booking_id, args["reason"])
    commit()
    return undo
