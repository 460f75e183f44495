"""The booking engine: sign up, cancel with FIFO promotion, check-in, no-shows and blocks.

Capacity is held by one conditional UPDATE on the slot's confirmed count (a CHECK keeps it
in range) and one active booking per person per slot by a partial unique index, so no
interleaving of requests can overbook, on either database.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from backend.bookings.models import ACTIVE, Booking, BookingStatus, Slot
from backend.core.db import conflict_for
from backend.core.errors import Conflict
from backend.core.timeutil import format_local
from backend.extensions import db, utcnow
from backend.notifications.models import Notification
from backend.notifications.service import notify

B = BookingStatus


def create_slot(*, org_id: int, starts_at: datetime, ends_at: datetime, capacity: int, waitlist: bool = True,
                signup_opens_at: datetime | None = None, signup_closes_at: datetime | None = None,
                cancel_cutoff_minutes: int = 120) -> Slot:
    """A new slot; times must be aware and in order (the CHECK refuses the rest)."""
    slot = Slot(org_id=org_id, starts_at=starts_at, ends_at=ends_at, capacity=capacity, waitlist=waitlist,
                signup_opens_at=signup_opens_at, signup_closes_at=signup_closes_at,
                cancel_cutoff_minutes=cancel_cutoff_minutes)
    db.session.add(slot)
    db.session.flush()
    return slot


#: The statements every sign-up runs, built once with their values bound.
_NO_SHOWS = (sa.select(Slot.ends_at).join(Booking, Booking.slot_id == Slot.id)
             .where(Booking.person_id == sa.bindparam("person_id"), Booking.status == B.no_show.value,
                    Slot.ends_at > sa.bindparam("since"))
             .order_by(Slot.ends_at.desc()))
_ACTIVE = sa.select(Booking.id).where(Booking.slot_id == sa.bindparam("slot_id"),
                                      Booking.person_id == sa.bindparam("person_id"), Booking.status.in_(ACTIVE))
_CLASH = (sa.select(Slot).join(Booking, Booking.slot_id == Slot.id)
          .where(Booking.person_id == sa.bindparam("person_id"), Booking.status == B.confirmed.value,
                 Slot.id != sa.bindparam("slot_id"), Slot.starts_at < sa.bindparam("ends_at"),
                 Slot.ends_at > sa.bindparam("starts_at"))
          .limit(1))
#: A place taken if one is left. ("taken": a bound name that is no column of the slots, which
#: an UPDATE keeps for its SET values.)
_TAKE = (sa.update(Slot).where(Slot.id == sa.bindparam("taken"), Slot.confirmed_count < Slot.capacity)
         .values(confirmed_count=Slot.confirmed_count + 1).execution_options(synchronize_session=False))


def blocked_until(person_id: int, now: datetime | None = None) -> datetime | None:
    """When repeated no-shows stop blocking the person `person_id` (None: not blocked).

    NO_SHOW_LIMIT no-shows within NO_SHOW_WINDOW_DAYS block new sign-ups for
    NO_SHOW_BLOCK_DAYS after the latest one."""
    cfg = current_app.config
    now = now or utcnow()
    recent = db.session.scalars(_NO_SHOWS, {"person_id": person_id,
                                            "since": now - timedelta(days=cfg["NO_SHOW_WINDOW_DAYS"])}).all()
    if len(recent) < cfg["NO_SHOW_LIMIT"]:
        return None
    until = recent[0] + timedelta(days=cfg["NO_SHOW_BLOCK_DAYS"])
    return until if until > now else None


def _check_window(slot: Slot, now: datetime) -> None:
    if slot.signup_opens_at is not None and now < slot.signup_opens_at:
        raise Conflict(f"报名 {format_local(slot.signup_opens_at)} 开始", code="signup_not_open")
    if now >= (slot.signup_closes_at or slot.starts_at):
        raise Conflict("报名已截止", code="signup_closed")


def _check_person(slot: Slot, person_id: int, now: datetime) -> None:
    until = blocked_until(person_id, now)
    if until is not None:
        raise Conflict(f"近期多次报名未到场，{format_local(until, '%m月%d日')}前暂不能报名", code="blocked")
    active = db.session.scalar(_ACTIVE, {"slot_id": slot.id, "person_id": person_id})
    if active is not None:
        raise Conflict("您已报名，无需重复报名", code="duplicate")
    clash = db.session.scalar(_CLASH, {"person_id": person_id, "slot_id": slot.id, "starts_at": slot.starts_at,
                                       "ends_at": slot.ends_at})
    if clash is not None:
        raise Conflict(f"与您已报名的 {format_local(clash.starts_at)} 的安排时间冲突", code="overlap")


def sign_up(slot: Slot, person_id: int, now: datetime | None = None) -> Booking:
    """Confirm a place if one is left, else join the waitlist (or 409 `full` without one)."""
    now = now or utcnow()
    _check_window(slot, now)
    _check_person(slot, person_id, now)
    return take_place(slot, person_id, now)


def book_without_account(slot: Slot, now: datetime | None = None) -> Booking:
    """A resident without an account takes a place (window and capacity rules only)."""
    now = now or utcnow()
    _check_window(slot, now)
    return take_place(slot, None, now)


def take_place(slot: Slot, person_id: int | None, now: datetime) -> Booking:
    """The capacity rule itself: a confirmed place if the conditional UPDATE got one, else the
    waitlist, else 409 `full`."""
    try:
        with db.session.begin_nested():
            took = db.session.execute(_TAKE, {"taken": slot.id}).rowcount == 1
            if not took and not slot.waitlist:
                raise Conflict("名额已满", code="full")
            booking = Booking(slot_id=slot.id, person_id=person_id, created_at=now,
                              status=(B.confirmed if took else B.waitlisted).value,
                              confirmed_at=now if took else None)
            db.session.add(booking)
            db.session.flush()
    except IntegrityError as exc:  # the same person twice at once: the partial unique index
        raise conflict_for(exc) from exc
    # Read again only if asked: a sign-up's answer does not show the slot.
    db.session.expire(slot, ["confirmed_count"])
    return booking


def _promote(slot: Slot, now: datetime) -> Booking | None:
    """Give a freed place to the first person on the waitlist (first come, first served)."""
    first = db.session.scalar(sa.select(Booking).where(
        Booking.slot_id == slot.id, Booking.status == B.waitlisted.value).order_by(Booking.id).limit(1))
    if first is None:
        return None
    took = db.session.execute(_TAKE, {"taken": slot.id}).rowcount
    if took != 1:
        return None
    moved = db.session.execute(
        sa.update(Booking).where(Booking.id == first.id, Booking.status == B.waitlisted.value)
        .values(status=B.confirmed.value, confirmed_at=now).execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise Conflict("候补状态已变化，请重试", code="conflict")
    db.session.refresh(first)
    if first.person_id is not None:
        notify(first.person_id, "booking_promoted", "booking", first.id,
               f"候补成功：{format_local(slot.starts_at)} 的安排已为您保留名额")
    return first


def cancel_closes_at(slot: Slot) -> datetime:
    """The last moment a confirmed place can be cancelled (the slot's cut-off before its start)."""
    return slot.starts_at - timedelta(minutes=slot.cancel_cutoff_minutes)


def may_cancel(booking: Booking, now: datetime | None = None) -> bool:
    """Whether `cancel` would take this booking now: waitlisted always, confirmed until the cut-off.
    Pages offer 取消 only where this holds."""
    if booking.status == B.waitlisted:
        return True
    return booking.status == B.confirmed and (now or utcnow()) <= cancel_closes_at(booking.slot)


def cancel(booking: Booking, now: datetime | None = None) -> Booking | None:
    """Cancel; a confirmed place goes to the first waitlisted person, who is returned."""
    now = now or utcnow()
    slot = booking.slot
    if booking.status == B.confirmed and not may_cancel(booking, now):
        raise Conflict(f"开始前 {slot.cancel_cutoff_minutes} 分钟内不能取消", code="cancel_closed")
    was = booking.status
    done = db.session.execute(
        sa.update(Booking).where(Booking.id == booking.id, Booking.status.in_(ACTIVE))
        .values(status=B.cancelled.value, cancelled_at=now).execution_options(synchronize_session=False)).rowcount
    if done != 1:
        raise Conflict("该报名已不能取消", code="invalid_state")
    db.session.refresh(booking)
    if was != B.confirmed:
        return None
    db.session.execute(sa.update(Slot).where(Slot.id == slot.id, Slot.confirmed_count > 0)
                       .values(confirmed_count=Slot.confirmed_count - 1).execution_options(synchronize_session=False))
    promoted = _promote(slot, now)
    db.session.refresh(slot)
    return promoted


def mark_no_shows(now: datetime | None = None) -> int:
    """After a slot ends, confirmed bookings nobody checked in for become `no_show`."""
    now = now or utcnow()
    ended = sa.select(Slot.id).where(Slot.ends_at <= now)
    return db.session.execute(
        sa.update(Booking).where(Booking.status == B.confirmed.value, Booking.slot_id.in_(ended))
        .values(status=B.no_show.value).execution_options(synchronize_session=False)).rowcount


#: Reminders before a confirmed place: (kind, how long before the start, what it says).
REMINDERS = (("booking_reminder", timedelta(days=1), "明天"), ("booking_reminder_soon", timedelta(hours=1), "1 小时后"))


def remind_upcoming(now: datetime | None = None) -> int:
    """A day before and an hour before, tell each person with a confirmed place (once each);
    how many were told. Run every few minutes: a place confirmed late still gets the nearer one."""
    now = now or utcnow()
    told = 0
    for kind, ahead, when in REMINDERS:
        due = db.session.execute(sa.select(Booking, Slot).join(Slot, Slot.id == Booking.slot_id).where(
            Booking.status == B.confirmed.value, Booking.person_id.is_not(None),
            Slot.starts_at > now, Slot.starts_at <= now + ahead,
            ~sa.exists().where(Notification.subject_type == "booking", Notification.subject_id == Booking.id,
                               Notification.kind == kind))).all()
        for booking, slot in due:
            notify(booking.person_id, kind, "booking", booking.id,
                   f"提醒：您报名的安排{when}开始（{format_local(slot.starts_at)}），请准时到场；去不了请提前取消")
        told += len(due)
    return told
