"""Volunteer pages: the check-in page the venue QR opens, and my hours and points."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import Blueprint, redirect, render_template, request, session, url_for

from backend.activities import service as activity_service
from backend.activities.models import Activity
from backend.activities.schemas import ActivityCreateSchema
from backend.bookings import service as bookings
from backend.bookings.models import Booking, Slot
from backend.calendar import service as calendar
from backend.core.db import commit
from backend.core.errors import Forbidden, NotFound
from backend.core.permissions import authorize, can, load_authorized
from backend.extensions import db
from backend.hours import service as hours
from backend.orgs.service import units_near
from backend.qrcodes import service as qr_service
from backend.qrcodes.models import QrPurpose
from backend.teams.models import Team
from h5.views import act_and_return, communities_of, form_data, local_iso, require_page_actor, submit_form

bp = Blueprint("activity_pages", __name__, url_prefix="/h5")

SCAN_DONE = {"checked_in": "签到成功，感谢参与！", "checked_out": "签退成功，服务时长已记入"}


def _scanned(activity_id: int, code: str):
    """The signed-in volunteer and the activity whose venue code they scanned."""
    actor = require_page_actor()
    activity = load_authorized(actor, Activity, activity_id, "activity.view")
    qr = qr_service.resolve(code)
    if qr.purpose != QrPurpose.checkin.value or qr.target_id != activity.id:
        raise NotFound("这不是本活动的签到码", code="wrong_code")
    return actor, activity


@bp.get("/a/<int:activity_id>/checkin")
def checkin(activity_id: int):
    code = request.args.get("qr", "")
    actor, activity = _scanned(activity_id, code)
    booking = db.session.scalar(sa.select(Booking).where(
        Booking.slot_id == activity.slot_id, Booking.person_id == actor.person.id).order_by(Booking.id.desc()))
    return render_template("activity_checkin.html", tab="me", activity=activity, booking=booking, qr=code)


@bp.post("/a/<int:activity_id>/checkin")
def checkin_scan(activity_id: int):
    code = request.form.get("qr", "")
    actor, activity = _scanned(activity_id, code)
    return act_and_return(lambda: activity_service.scan(activity, actor.person)[0], SCAN_DONE.get,
                          url_for("activity_pages.checkin", activity_id=activity_id, qr=code))


@bp.get("/me/hours")
def my_hours():
    actor = require_page_actor()
    totals = hours.balance("person", actor.person.id)
    entries = db.session.scalars(hours.entries("person", actor.person.id).limit(50)).all()
    return render_template("my_hours.html", tab="me", hours=totals["minutes"] / 60, points=totals["points"],
                           entries=entries)


# --- activities: list, detail, sign up, cancel, my bookings ------------------------------------

ACTIVITY_FIELDS = ("org_id", "team_id", "partner_unit_id", "title", "location", "day", "start", "end", "capacity",
                   "skills", "description")


def _activity_form(actor, values: dict, errors: dict, status: int = 200):
    """The organiser's form; a team leader's is fixed to their team (and its community)."""
    team = db.session.get(Team, int(values["team_id"])) if values.get("team_id", "").isdigit() else None
    if team is not None:
        authorize(actor, "team.manage", team)
        communities = [team.org]
    else:
        communities = [c for c in communities_of(actor) if can(actor, "org.organise", c)]
    if not communities:
        raise Forbidden("只有社区书记、街道工作人员或服务队队长可以发起活动")
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
    org_id = request.args.get("org", type=int)
    try:
        day = date.fromisoformat(request.args.get("date", ""))
    except ValueError:
        day = None
    items = db.session.scalars(activity_service.listing(actor, org_id=org_id, skill=skill, day=day).limit(100)).all()
    can_create = any(can(actor, "org.organise", c) for c in communities_of(actor))
    return render_template("activities.html", tab="home", activities=items, skill=skill, can_create=can_create,
                           communities=communities_of(actor), org_id=org_id, day=day)


def _my_booking(activity: Activity, person_id: int) -> Booking | None:
    return db.session.scalar(sa.select(Booking).where(
        Booking.slot_id == activity.slot_id, Booking.person_id == person_id).order_by(Booking.id.desc()))


@bp.get("/activities/<int:activity_id>")
def activity_detail(activity_id: int):
    actor = require_page_actor()
    activity = load_authorized(actor, Activity, activity_id, "activity.view")
    return render_template("activity.html", tab="home", activity=activity,
                           booking=_my_booking(activity, actor.person.id),
                           can_sign_up=can(actor, "activity.sign_up", activity),
                           can_organise=can(actor, "org.organise", activity.org))


@bp.post("/activities/<int:activity_id>/signup")
def activity_sign_up(activity_id: int):
    actor = require_page_actor()
    activity = load_authorized(actor, Activity, activity_id, "activity.sign_up")
    return act_and_return(lambda: bookings.sign_up(activity.slot, actor.person),
                          lambda b: "报名成功" if b.status == "confirmed" else "名额已满，已为您候补，有空位时会通知您",
                          url_for("activity_pages.activity_detail", activity_id=activity_id))


@bp.post("/signups/<int:booking_id>/cancel")
def booking_cancel(booking_id: int):
    actor = require_page_actor()
    booking = db.session.get(Booking, booking_id)
    authorize(actor, "booking.cancel", booking)
    activity = db.session.scalar(sa.select(Activity).where(Activity.slot_id == booking.slot_id))
    return act_and_return(lambda: bookings.cancel(booking), "已取消报名",
                          url_for("activity_pages.activity_detail", activity_id=activity.id))


@bp.post("/activities/<int:activity_id>/qrcode")
def activity_qrcode(activity_id: int):
    """The organiser's venue code: made once, then printed from its poster."""
    actor = require_page_actor()
    activity = db.session.get(Activity, activity_id)
    authorize(actor, "org.organise", activity.org if activity else None)
    qr = qr_service.ensure_code(QrPurpose.checkin.value, activity.id, activity.org, actor.person)
    commit()
    return redirect(url_for("h5.qr_poster", qr_id=qr.id))


@bp.get("/me/bookings")
def my_bookings():
    actor = require_page_actor()
    rows = db.session.execute(
        sa.select(Booking, Activity).join(Activity, Activity.slot_id == Booking.slot_id)
        .join(Slot, Slot.id == Booking.slot_id)
        .where(Booking.person_id == actor.person.id).order_by(Slot.starts_at.desc()).limit(100)).all()
    return render_template("my_bookings.html", tab="me", rows=rows, feed=calendar.feed_of(actor.person),
                           feed_url=session.pop("calendar_url", None))
