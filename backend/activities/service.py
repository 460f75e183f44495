"""Volunteer activities: check-in and check-out by QR at the venue, and the hours they earn."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from functools import lru_cache

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import contains_eager, joinedload

from backend.activities.models import Activity, CheckoutUndo
from backend.bookings import service as bookings
from backend.bookings.models import Booking, BookingStatus, Slot
from backend.core.db import Bound, read_rows
from backend.core.errors import Conflict, Forbidden, Invalid, NotFound
from backend.core.periods import day_range
from backend.core.permissions import Actor, authorize, can, load_authorized
from backend.core.timeutil import format_local
from backend.extensions import db, utcnow
from backend.hours import service as hours
from backend.notifications.service import notify
from backend.orgs.models import Org
from backend.orgs.permissions import org_visible_bound, org_visible_by_shape
from backend.orgs.service import resident_unit
from backend.people.actors import load_actor
from backend.people.models import Person
from backend.qrcodes import service as qr_service
from backend.qrcodes.models import QrCode, QrPurpose
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
    activity = Activity(org_id=org.id, slot_id=slot.id, created_by_id=actor.person_id, team=team,
                        partner_unit=partner,
                        **{k: args.get(k) for k in ("title", "description", "location", "skills")})
    db.session.add(activity)
    db.session.flush()
    return activity


def _filters(actor: Actor, *, org_id: int | None = None, team_id: int | None = None, skill: str | None = None,
             day: date | None = None, upcoming: bool = True) -> tuple[tuple, dict]:
    """The shape of a list's statement (what `_listed` builds it from) and the values it binds."""
    visible, params = org_visible_bound(actor)
    params.update(now=utcnow(), org_id=org_id, team_id=team_id)
    if skill:
        # What contains(skill, autoescape=True) matches, with the pattern as a bound value.
        params["skill"] = "%" + re.sub(r"([/%_])", r"/\1", skill) + "%"
    if day is not None:
        params["day_start"], params["day_end"] = day_range(day)
    return (visible, upcoming, org_id is not None, team_id is not None, bool(skill), day is not None), params


#: An activity with the slot and the org every list and answer shows.
_JOINED = sa.select(Activity).join(Slot, Slot.id == Activity.slot_id).join(Org, Org.id == Activity.org_id)


@lru_cache(maxsize=256)
def _listed(shape: tuple, rows: bool) -> sa.Select:
    """The activities a list shows, soonest first, built once per shape (`_filters`): as
    entities with their slot, org, team and partner unit, or as the rows the API shows
    (`rows`, paged by `paginate_rows`). The org is joined once, for what a list shows and for whether the person sees
    it (an EXISTS beside a second join of the same org cost a third more to build and run)."""
    visible, upcoming, by_org, by_team, by_skill, by_day = shape
    stmt = _JOINED.where(org_visible_by_shape(visible))
    if upcoming:
        stmt = stmt.where(Slot.ends_at > sa.bindparam("now"))
    if by_org:
        stmt = stmt.where(Activity.org_id == sa.bindparam("org_id"))
    if by_team:
        stmt = stmt.where(Activity.team_id == sa.bindparam("team_id"))
    if by_skill:
        stmt = stmt.where(Activity.skills.like(sa.bindparam("skill"), escape="/"))
    if by_day:
        stmt = stmt.where(Slot.starts_at >= sa.bindparam("day_start"), Slot.starts_at < sa.bindparam("day_end"))
    stmt = stmt.order_by(Slot.starts_at, Activity.id)
    if rows:
        return _as_rows(stmt)
    return stmt.options(contains_eager(Activity.slot), contains_eager(Activity.org), joinedload(Activity.team),
                        joinedload(Activity.partner_unit))


def listing(actor: Actor, **filters) -> sa.Select:
    """Activities of the person's communities, soonest first, filtered by community (`org_id`),
    `team_id`, `skill` and `day` (and only those not yet ended unless `upcoming=False`). Each
    activity comes with its slot, org, team and partner unit from the same statement: every
    list shows them, and a page costs the same for 3 activities as for 30."""
    shape, params = _filters(actor, **filters)
    return _listed(shape, rows=False).params(**params)


def listing_rows(actor: Actor, **filters) -> Bound:
    """`listing` as rows of what the API shows of each activity (ActivitySchema)."""
    shape, params = _filters(actor, **filters)
    return Bound(_listed(shape, rows=True), params)


_PARTNER = sa.orm.aliased(Org)

#: What the API says of an activity, as plain columns: the list reads no Activity, Slot, Org or
#: Team objects (building them was two fifths of a page's CPU).
_ROW = (Activity.id, Activity.org_id, Org.name.label("org_name"), Activity.title, Activity.description,
        Activity.location, Activity.skills, Activity.team_id, Team.name.label("team_name"),
        Activity.partner_unit_id, _PARTNER.name.label("partner_unit_name"), Slot.starts_at, Slot.ends_at,
        Slot.capacity, Slot.confirmed_count.label("confirmed"),
        (Slot.capacity - Slot.confirmed_count).label("places_left"), Slot.waitlist, Slot.signup_opens_at,
        Slot.signup_closes_at, Slot.cancel_cutoff_minutes)


def _as_rows(stmt: sa.Select) -> sa.Select:
    return (stmt.with_only_columns(*_ROW).outerjoin(Team, Team.id == Activity.team_id)
            .outerjoin(_PARTNER, _PARTNER.id == Activity.partner_unit_id))


#: One activity as the API shows it, the same row as a list's.
_ONE = _as_rows(_JOINED.where(Activity.id == sa.bindparam("activity_id")))


def presented(activity: Activity) -> sa.Row:
    """`activity` as the API shows it (ActivitySchema), read as a list reads it."""
    return read_rows(_ONE, {"activity_id": activity.id}).one()


def credited_minutes(slot: Slot, checked_in_at: datetime, checked_out_at: datetime) -> int:
    """Attended time inside the slot: early arrival and late leaving earn nothing extra."""
    start, end = max(checked_in_at, slot.starts_at), min(checked_out_at, slot.ends_at)
    return max(int((end - start).total_seconds() // 60), 0)


def credit_source(booking: Booking) -> tuple[str, int]:
    """What the booking's check-out credit is keyed by in the hours book: the booking itself,
    or after an undo the latest undo, so a check-out after each undo is credited once again."""
    undo_id = db.session.scalar(sa.select(CheckoutUndo.id).where(CheckoutUndo.booking_id == booking.id)
                                .order_by(CheckoutUndo.id.desc()).limit(1))
    return ("booking_redo", undo_id) if undo_id is not None else ("booking", booking.id)


def _credit(activity: Activity, booking: Booking) -> None:
    minutes = credited_minutes(activity.slot, booking.checked_in_at, booking.checked_out_at)
    source_type, source_id = credit_source(booking)
    if minutes <= 0 or hours.already_posted(source_type, source_id):
        return
    actor = load_actor(booking.person_id)
    roles = {r.value for r in actor.roles_around(activity.org)} if actor else set()
    hours.post(person_id=booking.person_id, org_id=activity.org_id, source_type=source_type, source_id=source_id,
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


def checkin_opens_at(slot: Slot) -> datetime:
    """Check-in opens CHECKIN_OPENS_MINUTES before the start (and closes at the end)."""
    return slot.starts_at - timedelta(minutes=current_app.config["CHECKIN_OPENS_MINUTES"])


def _check_window(slot: Slot, now: datetime) -> None:
    if now < checkin_opens_at(slot):
        raise Conflict(f"签到 {format_local(checkin_opens_at(slot), '%m月%d日 %H:%M')} 开始（活动开始前 "
                       f"{current_app.config['CHECKIN_OPENS_MINUTES']} 分钟）", code="checkin_closed")
    if now > slot.ends_at:
        raise Conflict("活动已结束，不能再签到或签退", code="checkin_closed")


def _check_out_now(activity: Activity, booking: Booking, now: datetime) -> str:
    if booking.checked_out_at is None and now < activity.slot.starts_at:
        raise Conflict(f"活动 {format_local(activity.slot.starts_at, '%H:%M')} 才开始，开始后才能签退",
                       code="checkout_before_start")
    if booking.checked_out_at is None and check_out(activity, booking, now):
        return "checked_out"
    raise Conflict("您已签退", code="already_checked_out")


def scan(activity: Activity, person: Person, now: datetime | None = None,
         action: str | None = None) -> tuple[str, Booking]:
    """The venue QR: the first scan checks in, the next checks out. `action` (check_in or
    check_out) says which one the volunteer meant, so a second tap on 签到 never checks out.
    Returns (what happened, booking)."""
    now = now or utcnow()
    slot = activity.slot
    _check_window(slot, now)
    booking = db.session.scalar(sa.select(Booking).where(
        Booking.slot_id == slot.id, Booking.person_id == person.id,
        Booking.status.in_([B.confirmed.value, B.attended.value])))
    if booking is None:
        raise Conflict("您没有报名该活动（或仍在候补）", code="not_signed_up")
    if booking.status == B.confirmed:
        if action == "check_out":
            raise Conflict("您还没有签到", code="not_checked_in")
        db.session.execute(
            sa.update(Booking).where(Booking.id == booking.id, Booking.status == B.confirmed.value)
            .values(status=B.attended.value, checked_in_at=now).execution_options(synchronize_session=False))
        db.session.refresh(booking)
        return "checked_in", booking
    if action == "check_in":
        raise Conflict(f"您已于 {format_local(booking.checked_in_at, '%H:%M')} 签到，无需重复签到",
                       code="already_checked_in")
    return _check_out_now(activity, booking, now), booking


def checkout_preview(activity: Activity, booking: Booking, now: datetime | None = None) -> dict:
    """What checking out now would record: the time, and the minutes and points it credits."""
    now = now or utcnow()
    minutes = credited_minutes(activity.slot, booking.checked_in_at, now)
    actor = load_actor(booking.person_id)
    roles = {r.value for r in actor.roles_around(activity.org)} if actor else set()
    return {"at": now, "minutes": minutes, "points": hours.points_for(minutes, roles) if minutes > 0 else 0}


def auto_check_out(now: datetime | None = None) -> int:
    """Attendances still open when their activity has ended are closed at its end."""
    now = now or utcnow()
    open_ = db.session.execute(
        sa.select(Activity, Booking).join(Slot, Slot.id == Activity.slot_id)
        .join(Booking, Booking.slot_id == Slot.id)
        .where(Booking.status == B.attended.value, Booking.checked_out_at.is_(None), Slot.ends_at <= now)).all()
    return sum(check_out(activity, booking, activity.slot.ends_at) for activity, booking in open_)


# --- the doors: look up, authorise, act (API and pages call these) -----------------------------

#: An activity with its org (who may see it) and its slot (when, how many places), in one
#: statement: whoever opens an activity reads both.
_ACTIVITY = (sa.select(Activity)
             .options(joinedload(Activity.org, innerjoin=True), joinedload(Activity.slot, innerjoin=True))
             .where(Activity.id == sa.bindparam("ident")))


def activity_for(actor: Actor | None, activity_id: int, action: str = "activity.view") -> Activity:
    """The activity, if the actor may `action` it (404 / 403)."""
    return load_authorized(actor, Activity, activity_id, action, _ACTIVITY)


def scanned(actor: Actor | None, activity_id: int, code: str) -> Activity:
    """The activity whose venue code the volunteer scanned: 422 `wrong_code` for a code made
    for anything else (another activity's venue, a building, a poll)."""
    activity = activity_for(actor, activity_id)
    qr = qr_service.resolve(code)
    if qr.purpose != QrPurpose.checkin.value or qr.target_id != activity.id:
        raise Invalid("这不是本活动的签到码", code="wrong_code", fields={"qr": ["这不是本活动的签到码"]})
    return activity


def scan_by(actor: Actor, activity_id: int, code: str, action: str | None = None) -> tuple[str, Booking]:
    """A volunteer scans the venue code: check in, or check out and credit the hours."""
    return scan(scanned(actor, activity_id, code), actor.person, action=action)


def my_booking(activity: Activity, person_id: int) -> Booking | None:
    """The person's latest booking of the activity, if any."""
    return db.session.scalar(sa.select(Booking).where(
        Booking.slot_id == activity.slot_id, Booking.person_id == person_id).order_by(Booking.id.desc()))


def sign_up_by(actor: Actor | None, activity_id: int) -> Booking:
    """A volunteer of the community takes a place, or joins the waitlist."""
    return bookings.sign_up(activity_for(actor, activity_id, "activity.sign_up").slot, actor.person_id)


def booking_for(actor: Actor | None, booking_id: int) -> tuple[Booking, Activity]:
    """A sign-up its volunteer (or a manager of its org) may cancel, with its activity."""
    booking = db.session.get(Booking, booking_id)
    if booking is None:
        raise NotFound("找不到该报名")
    authorize(actor, "booking.cancel", booking)
    return booking, db.session.scalar(sa.select(Activity).where(Activity.slot_id == booking.slot_id))


def cancel_by(actor: Actor | None, booking_id: int) -> tuple[Booking, Booking | None]:
    """Cancel a sign-up; the freed place goes to the first on the waitlist (who is returned)."""
    booking, activity = booking_for(actor, booking_id)
    promoted = bookings.cancel(booking)
    if booking.person_id is not None and booking.person_id != actor.person_id:
        notify(booking.person_id, "booking_cancelled", "booking", booking.id,
               f"组织方取消了您在“{activity.title}”的报名，如有疑问请联系组织方")
    return booking, promoted


def venue_code(actor: Actor | None, activity_id: int) -> QrCode:
    """The organiser's venue code of an activity, made once."""
    activity = db.session.get(Activity, activity_id)
    authorize(actor, "org.organise", activity.org if activity else None)
    return qr_service.ensure_code(QrPurpose.checkin.value, activity.id, activity.org, actor.person)


def organising_choices(actor: Actor, team_id: int | None, communities: list[Org]) -> tuple[Team | None, list[Org]]:
    """Where the person may organise an activity: their team's community as its leader, or the
    communities they organise; 403 when nowhere."""
    team = db.session.get(Team, team_id) if team_id else None
    if team is not None:
        authorize(actor, "team.manage", team)
        communities = [team.org]
    else:
        communities = [c for c in communities if can(actor, "org.organise", c)]
    if not communities:
        raise Forbidden("只有社区书记、街道工作人员或服务队队长可以发起活动")
    return team, communities


def my_bookings(person: Person, limit: int = 100) -> list[tuple[Booking, Activity]]:
    """The person's sign-ups with their activities, latest first."""
    return db.session.execute(
        sa.select(Booking, Activity).join(Activity, Activity.slot_id == Booking.slot_id)
        .join(Slot, Slot.id == Booking.slot_id)
        .where(Booking.person_id == person.id).order_by(Slot.starts_at.desc()).limit(limit)).all()


def hours_of(actor: Actor | None, person_id: int) -> tuple[Person, dict]:
    """A person's volunteer minutes and points, to whoever may see the person."""
    person = db.session.get(Person, person_id)
    authorize(actor, "person.view", person)
    return person, hours.balance("person", person.id)


def undo_check_out(actor: Actor | None, booking_id: int, reason: str | None = None) -> CheckoutUndo:
    """The organiser undoes a mistaken check-out: the attendance reopens (the volunteer checks
    out again, or is checked out at the end), the credit it earned is reversed in the hours
    book, and the undo is kept with who and when. 409 `not_checked_out` when there is none."""
    booking = db.session.get(Booking, booking_id)
    activity = booking and db.session.scalar(sa.select(Activity).where(Activity.slot_id == booking.slot_id))
    if activity is None:
        raise NotFound("找不到该报名")
    authorize(actor, "org.organise", activity.org)
    was = booking.checked_out_at
    reopened = was is not None and db.session.execute(
        sa.update(Booking).where(Booking.id == booking.id, Booking.status == B.attended.value,
                                 Booking.checked_out_at.is_not(None))
        .values(checked_out_at=None).execution_options(synchronize_session=False)).rowcount == 1
    if not reopened:
        raise Conflict("该志愿者还没有签退，无需撤销", code="not_checked_out")
    taken = hours.credited(*credit_source(booking))
    undo = CheckoutUndo(booking_id=booking.id, checked_out_at=was, minutes=taken["minutes"], points=taken["points"],
                        undone_by_id=actor.person_id, reason=reason)
    db.session.add(undo)
    db.session.flush()
    hours.post(person_id=booking.person_id, org_id=activity.org_id, source_type="booking_undo", source_id=undo.id,
               memo=f"{activity.title} 撤销签退", minutes=-taken["minutes"], points=-taken["points"])
    db.session.refresh(booking)
    notify(booking.person_id, "checkout_undone", "booking", booking.id,
           f"组织方撤销了您在“{activity.title}”{format_local(was, '%H:%M')} 的签退，请离开时重新扫码签退；"
           f"未签退的按活动结束时间记入")
    return undo


def attendance(actor: Actor | None, activity_id: int) -> list[tuple[Booking, Person]]:
    """Who signed up and checked in or out, for the activity's organisers."""
    activity = db.session.get(Activity, activity_id)
    authorize(actor, "org.organise", activity.org if activity else None)
    return db.session.execute(
        sa.select(Booking, Person).join(Person, Person.id == Booking.person_id)
        .where(Booking.slot_id == activity.slot_id, Booking.status.in_([B.confirmed.value, B.attended.value]))
        .order_by(Booking.checked_in_at.is_(None), Booking.checked_in_at, Booking.id)).all()


#: Hours-book sources that belong to a booking through an undo's id.
_UNDO_SOURCES = ("booking_undo", "booking_redo")


def hours_by_activity(person_id: int, limit: int = 50) -> list[dict]:
    """The person's hours book as one row per activity (hours and points together, undos netted),
    dated by the activity; a wish's points are a row of their own, dated when credited."""
    entries = db.session.scalars(hours.entries("person", person_id).limit(1000)).all()
    undo_ids = {e.source_id for e in entries if e.source_type in _UNDO_SOURCES}
    undone = dict(db.session.execute(sa.select(CheckoutUndo.id, CheckoutUndo.booking_id)
                                     .where(CheckoutUndo.id.in_(undo_ids))).all()) if undo_ids else {}
    rows: dict[tuple[str, int], dict] = {}
    for e in entries:
        key = ("booking", undone[e.source_id]) if e.source_type in _UNDO_SOURCES else (e.source_type, e.source_id)
        row = rows.setdefault(key, {"title": e.memo, "at": e.created_at, "minutes": 0, "points": 0})
        row[e.unit] += e.amount
    booked = [source_id for kind, source_id in rows if kind == "booking"]
    for booking_id, title, starts_at in db.session.execute(
            sa.select(Booking.id, Activity.title, Slot.starts_at).join(Activity, Activity.slot_id == Booking.slot_id)
            .join(Slot, Slot.id == Booking.slot_id).where(Booking.id.in_(booked))):
        rows[("booking", booking_id)].update(title=title, at=starts_at)
    return sorted(rows.values(), key=lambda r: r["at"], reverse=True)[:limit]
