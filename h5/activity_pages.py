"""Volunteer pages: the check-in page the venue QR opens, and my hours and points."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template, request, url_for

from backend.activities import service as activity_service
from backend.activities.models import Activity
from backend.bookings.models import Booking
from backend.core.errors import NotFound
from backend.core.permissions import authorize
from backend.extensions import db
from backend.ledger import service as ledger
from backend.qrcodes import service as qr_service
from backend.qrcodes.models import QrPurpose
from h5.views import require_page_actor
from h5.wish_pages import act_and_return

bp = Blueprint("activity_pages", __name__, url_prefix="/h5")

SCAN_DONE = {"checked_in": "签到成功，感谢参与！", "checked_out": "签退成功，服务时长已记入"}


def _scanned(activity_id: int, code: str):
    """The signed-in volunteer and the activity whose venue code they scanned."""
    actor = require_page_actor()
    activity = db.session.get(Activity, activity_id)
    authorize(actor, "activity.view", activity)
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
    totals = ledger.balance("person", actor.person.id)
    entries = db.session.scalars(ledger.entries("person", actor.person.id).limit(50)).all()
    return render_template("my_hours.html", tab="me", hours=totals["minutes"] / 60, points=totals["points"],
                           entries=entries)
