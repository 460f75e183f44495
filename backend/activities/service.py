"""Volunteer activities: check-in and check-out by QR at the venue, and the hours they earn."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from backend.activities.models import Activity
from backend.bookings import service as bookings
from backend.bookings.models import Booking, BookingStatus, Slot
from backend.core.errors import Conflict, Invalid
from backend.core.periods import day_range
from backend.core.permissions import Actor, authorize
from backend.extensions import db, utcnow
from backend.hours import service as hours
from backend.orgs.models import Org
from backend.orgs.permissions import org_visible_clause
from backend.orgs.service import resident_unit
from backend.people.actors import load_actor
from backend.people.models import Person
from backend.teams.models import Team

B = BookingStatus


SLOT_FIELDS = ("starts_at", "ends_at", "capacity", "waitlist", "signup_opens_at", "signup_closes_at",
               "cancel_cutoff_minutes")


def create_activity(actor: Actor, args: dict) -> Activity:
    """An activity of a community, by its organisers or, under a team's name, by the team's leader."""
    org = db.session.get(Org, args["org_id"])
    team = None
    if args.get("team_id"):
        team = db.session.get(Team, args["team_id"])
        authorize(actor, "team.manage", team)
        if team.org_id != args["org_id"]:
            raise Invalid("志愿服务队不属于该社区", code="invalid_team", fields={"team_id": ["志愿服务队不属于该社区"]})
    else:
        authorize(actor, "org.organise", org)
    partner = resident_unit(org, args.get("partner_unit_id"), "partner_unit_id")
    slot = bookings.create_slot(org_id=org.id, **{k: args[k] for k in SLOT_FIELDS if k in args})
    activity = Activity(org_id=org.id, slot_id=slot.id, created_by_id=actor.person.id, team=team,
                        partner_unit=partner,
                        **{k: args.get(k) for k in ("title", "description", "location", "skills")})
    db.session.add(activity)
    db.session.flush()
    return activity


def listing(actor: Actor, *, org_id: int | None = None, team_id: int | None = None, skill: str | None = None,
            day: date | None = None, upcoming: bool = True) -> sa.Select:
    """Activities of the person's communities, soonest first, filtered by community, team,
    skill and day."""
    stmt = sa.select(Activity).join(Slot, Slot.id == Activity.slot_id).where(
        Activity.org.has(org_visible_clause(actor)))
    if upcoming:
        stmt = stmt.where(Slot.ends_at > utcnow())
    if org_id is not None:
        stmt = stmt.where(Activity.org_id == org_id)
    if team_id is not None:
        stmt = stmt.where(Activity.team_id == team_id)
    if skill:
        stmt = stmt.where(Activity.skills.contains(skill, autoescape=True))
    if day is not None:
        start, end = day_range(day)
        stmt = stmt.where(Slot.starts_at >= start, Slot.starts_at < end)
    return stmt.order_by(Slot.starts_at, Activity.id)


def credited_minutes(slot: Slot, checked_in_at: datetime, checked_out_at: datetime) -> int:
    """Attended time inside the slot: early arrival and late leaving earn nothing extra."""
    start, end = max(checked_in_at, slot.starts_at), min(checked_out_at, slot.ends_at)
    return max(int((end - start).total_seconds() // 60), 0)


def _credit(activity: Activity, booking: Booking) -> None:
    minutes = credited_minutes(activity.slot, booking.checked_in_at, booking.checked_out_at)
    if minutes <= 0 or hours.already_posted("booking", booking.id):
        return
    actor = load_actor(booking.person_id)
    roles = {r.value for r in actor.roles_around(activity.org)} if actor else set()
    hours.post(person_id=booking.person_id, org_id=activity.org_id, source_type="booking", source_id=booking.id,
                memo=f"{activity.title} {minutes / 60:.1f} 小时", minutes=minutes,
                points=hours.points_for(minutes, roles))


def check_out(activity: Activity, booking: Booking, at: datetime) -> bool:
    """Close the attendance (once) and credit the hours and points."""
    done = db.session.execute(
        sa.update(Booking).where(Booking.id == booking.id, Booking.status == B.attended.value,
                                 Booking.checked_out_at.is_(None))
        .values(checked_out_at=at).execution_options(synchronize_session=False)).rowcount == 1
    db.session.refresh(booking)
    if done:
        _credit(activity, booking)
    return done


def scan(activity: Activity, person: Person, now: datetime | None = None) -> tuple[str, Booking]:
    """The venue QR: the first scan checks in, the next checks out. Returns (what happened, booking)."""
    now = now or utcnow()
    slot = activity.slot
    opens = slot.starts_at - timedelta(minutes=current_app.config["CHECKIN_OPENS_MINUTES"])
    if not opens <= now <= slot.ends_at:
        raise Conflict(f"签到时间为活动开始前 {current_app.config['CHECKIN_OPENS_MINUTES']} 分钟至活动结束",
                       code="checkin_closed")
    booking = db.session.scalar(sa.select(Booking).where(
        Booking.slot_id == slot.id, Booking.person_id == person.id,
        Booking.status.in_([B.confirmed.value, B.attended.value])))
    if booking is None:
        raise Conflict("您没有报名该活动（或仍在候补）", code="not_signed_up")
    if booking.status == B.confirmed:
        db.session.execute(
            sa.update(Booking).where(Booking.id == booking.id, Booking.status == B.confirmed.value)
            .values(status=B.attended.value, checked_in_at=now).execution_options(synchronize_session=False))
        db.session.refresh(booking)
        return "checked_in", booking
    if booking.checked_out_at is None and check_out(activity, booking, now):
        return "checked_out", booking
    raise Conflict("您已签退", code="already_checked_out")


def auto_check_out(now: datetime | None = None) -> int:
    """Attendances still open when their activity has ended are closed at its end."""
    now = now or utcnow()
    open_ = db.session.execute(
        sa.select(Activity, Booking).join(Slot, Slot.id == Activity.slot_id)
        .join(Booking, Booking.slot_id == Slot.id)
        .where(Booking.status == B.attended.value, Booking.checked_out_at.is_(None), Slot.ends_at <= now)).all()
    return sum(check_out(activity, booking, activity.slot.ends_at) for activity, booking in open_)
