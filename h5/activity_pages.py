"""Volunteer pages: the check-in page the venue QR opens, and my hours and points."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, redirect, render_template, request, session, url_for

from backend.activities import service as activity_service
from backend.activities.schemas import ActivityCreateSchema
from backend.bookings import service as bookings
from backend.calendar import service as calendar
from backend.core.db import commit
from backend.core.input import db_int
from backend.core.permissions import can
from backend.core.timeutil import format_local
from backend.extensions import db, utcnow
from backend.hours import service as hours
from backend.orgs.service import units_near
from h5.views import act_and_return, communities_of, form_data, local_iso, require_page_actor, submit_form

bp = Blueprint("activity_pages", __name__, url_prefix="/h5")

def _scan_done(outcome) -> str:
    result, booking = outcome
    if result == "checked_in":
        return "签到成功，感谢参与！"
    return f"签退成功：签退时间 {format_local(booking.checked_out_at, '%H:%M')}，服务时长已记入"


def _venue(activity_id: int, code: str):
    """The activity of a scanned venue code with the volunteer's booking; signed out, a login
    for volunteers (inside WeChat, WeChat sign-in)."""
    actor = require_page_actor()
    activity = activity_service.scanned(actor, activity_id, code)
    return actor, activity, activity_service.my_booking(activity, actor.person_id)


@bp.get("/a/<int:activity_id>/checkin")
def checkin(activity_id: int):
    code = request.args.get("qr", "")
    actor, activity, booking = _venue(activity_id, code)
    return render_template("activity_checkin.html", tab="me", activity=activity, qr=code, booking=booking,
                           now=utcnow(), opens_at=activity_service.checkin_opens_at(activity.slot),
                           can_sign_up=can(actor, "activity.sign_up", activity))


@bp.get("/a/<int:activity_id>/checkout")
def checkout_confirm(activity_id: int):
    """签退 asks first, showing the time it will record and what it credits."""
    code = request.args.get("qr", "")
    _actor, activity, booking = _venue(activity_id, code)
    back = url_for("activity_pages.checkin", activity_id=activity_id, qr=code)
    if booking is None or booking.status != "attended" or booking.checked_out_at is not None:
        return redirect(back)
    return render_template("activity_checkout.html", tab="me", activity=activity, qr=code, booking=booking,
                           now=utcnow(), preview=activity_service.checkout_preview(activity, booking), back=back)


@bp.post("/a/<int:activity_id>/checkin")
def checkin_scan(activity_id: int):
    code = request.form.get("qr", "")
    actor = require_page_actor()
    activity_service.scanned(actor, activity_id, code)
    action = request.form.get("action") if request.form.get("action") in ("check_in", "check_out") else None
    return act_and_return(lambda: activity_service.scan_by(actor, activity_id, code, action), _scan_done,
                          url_for("activity_pages.checkin", activity_id=activity_id, qr=code))


@bp.get("/me/hours")
def my_hours():
    actor = require_page_actor()
    totals = hours.balance("person", actor.person_id)
    return render_template("my_hours.html", tab="me", hours=totals["minutes"] / 60, points=totals["points"],
                           rows=activity_service.hours_by_activity(actor.person_id))


# --- activities: list, detail, sign up, cancel, my bookings ------------------------------------

ACTIVITY_FIELDS = ("org_id", "team_id", "partner_unit_id", "title", "location", "day", "start", "end", "capacity",
                   "skills", "description")


def _activity_form(actor, values: dict, errors: dict, status: int = 200):
    """The organiser's form; a team leader's is fixed to their team (and its community)."""
    team_id = int(values["team_id"]) if values.get("team_id", "").isdigit() else None
    team, communities = activity_service.organising_choices(actor, team_id, communities_of(actor))
    units = db.session.scalars(units_near(communities[0])).all()
    return render_template("activity_form.html", tab="home", team=team, communities=communities, units=units,
                           values=values, errors=errors), status


@bp.get("/activities/new")
def activity_new():
    actor = require_page_actor()
    values = {"team_id": request.args.get("team", ""), "capacity": "10", "waitlist": True}
    return _activity_form(actor, values, {})


@bp.post("/activities/new")
def activity_create():
    actor = require_page_actor()
    values = {k: request.form.get(k, "").strip() for k in ACTIVITY_FIELDS}
    values["waitlist"] = request.form.get("waitlist") == "on"
    data = form_data({k: v for k, v in values.items() if k not in ("day", "start", "end")},
                     ints=("org_id", "team_id", "partner_unit_id", "capacity"))
    data |= {"starts_at": local_iso(values["day"], values["start"]), "ends_at": local_iso(values["day"], values["end"]),
             "waitlist": values["waitlist"]}
    return submit_form(lambda: activity_service.create_activity(actor, ActivityCreateSchema().load(data)),
                       lambda errors, status: _activity_form(actor, values, errors, status),
                       "活动已发布，志愿者现在可以报名了",
                       lambda activity: url_for("activity_pages.activity_detail", activity_id=activity.id))


@bp.get("/activities")
def activities_list():
    actor = require_page_actor()
    skill = request.args.get("skill", "").strip()[:20]
    org_id = request.args.get("org", type=db_int)
    try:
        day = date.fromisoformat(request.args.get("date", ""))
    except ValueError:
        day = None
    items = db.session.scalars(activity_service.listing(actor, org_id=org_id, skill=skill, day=day).limit(100)).all()
    can_create = any(can(actor, "org.organise", c) for c in communities_of(actor))
    return render_template("activities.html", tab="home", activities=items, skill=skill, can_create=can_create,
                           communities=communities_of(actor), org_id=org_id, day=day)


@bp.get("/activities/<int:activity_id>")
def activity_detail(activity_id: int):
    actor = require_page_actor()
    activity = activity_service.activity_for(actor, activity_id)
    booking = activity_service.my_booking(activity, actor.person_id)
    can_organise = can(actor, "org.organise", activity.org)
    return render_template("activity.html", tab="home", activity=activity, booking=booking,
                           can_sign_up=can(actor, "activity.sign_up", activity), can_organise=can_organise,
                           may_cancel=bool(booking) and bookings.may_cancel(booking),
                           cancel_closes_at=bookings.cancel_closes_at(activity.slot),
                           attendance=activity_service.attendance(actor, activity_id) if can_organise else [])


@bp.post("/activities/<int:activity_id>/signup")
def activity_sign_up(activity_id: int):
    actor = require_page_actor()
    activity_service.activity_for(actor, activity_id, "activity.sign_up")
    code = request.form.get("qr", "")
    # Signed up from the venue code, the volunteer goes back to check in.
    back = url_for("activity_pages.checkin", activity_id=activity_id, qr=code) if code else \
        url_for("activity_pages.activity_detail", activity_id=activity_id)
    return act_and_return(lambda: activity_service.sign_up_by(actor, activity_id),
                          lambda b: "报名成功" if b.status == "confirmed" else "名额已满，已为您候补，有空位时会通知您",
                          back)


@bp.post("/signups/<int:booking_id>/cancel")
def booking_cancel(booking_id: int):
    actor = require_page_actor()
    activity = activity_service.booking_for(actor, booking_id)[1]
    return act_and_return(lambda: activity_service.cancel_by(actor, booking_id), "已取消报名",
                          url_for("activity_pages.activity_detail", activity_id=activity.id))


@bp.post("/signups/<int:booking_id>/checkout-undo")
def checkout_undo(booking_id: int):
    """The organiser undoes a volunteer's mistaken check-out from the activity page."""
    actor = require_page_actor()
    activity = activity_service.booking_for(actor, booking_id)[1]
    activity_service.attendance(actor, activity.id)  # not an organiser: an error page, not a flash
    reason = request.form.get("reason", "").strip()[:200] or None
    return act_and_return(lambda: activity_service.undo_check_out(actor, booking_id, reason),
                          "已撤销签退，志愿者可重新签退；未签退的按活动结束时间记入",
                          url_for("activity_pages.activity_detail", activity_id=activity.id) + "#attendance")


@bp.post("/activities/<int:activity_id>/qrcode")
def activity_qrcode(activity_id: int):
    """The organiser's venue code: made once, then printed from its poster."""
    qr = activity_service.venue_code(require_page_actor(), activity_id)
    commit()
    return redirect(url_for("h5.qr_poster", qr_id=qr.id))


@bp.get("/me/bookings")
def my_bookings():
    actor = require_page_actor()
    return render_template("my_bookings.html", tab="me", rows=activity_service.my_bookings(actor.person),
                           feed=calendar.feed_of(actor.person),
                           feed_url=session.pop("calendar_url", None))
