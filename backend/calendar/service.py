"""A person's confirmed volunteer activities as an iCalendar feed behind a secret address,
so a phone calendar shows them (and reminds) without signing in."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

import icalendar
import sqlalchemy as sa
from flask import current_app

from backend.activities.models import Activity
from backend.bookings.models import Booking, BookingStatus, Slot
from backend.calendar.models import CalendarFeed
from backend.core.errors import NotFound
from backend.core.urls import public_base_url
from backend.extensions import db, utcnow
from backend.people.models import Person

#: How far back past activities stay in the feed.
KEEP_PAST = timedelta(days=30)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_url(token: str) -> str:
    """The secret address of a calendar feed."""
    return f"{public_base_url()}/cal/{token}.ics"


def issue(person: Person) -> str:
    """A new secret address for the person; any older one stops working."""
    token = secrets.token_urlsafe(24)
    db.session.execute(sa.delete(CalendarFeed).where(CalendarFeed.person_id == person.id))
    db.session.add(CalendarFeed(person_id=person.id, token_hash=_hash(token)))
    db.session.flush()
    return token


def revoke(person: Person) -> bool:
    """Stop the person's feed address working; whether there was one."""
    return db.session.execute(sa.delete(CalendarFeed).where(CalendarFeed.person_id == person.id)).rowcount > 0


def feed_of(person: Person) -> CalendarFeed | None:
    """The person's calendar feed, if they made one."""
    return db.session.scalar(sa.select(CalendarFeed).where(CalendarFeed.person_id == person.id))


def owner_of(token: str) -> Person:
    """The person whose feed this is (and note the fetch); 404 for an unknown or replaced address."""
    feed = db.session.scalar(sa.select(CalendarFeed).where(CalendarFeed.token_hash == _hash(token)))
    person = db.session.get(Person, feed.person_id) if feed else None
    if person is None or not person.is_active:
        raise NotFound("该日历订阅地址已失效，请在“我的报名”中重新生成")
    feed.last_fetched_at = utcnow()
    return person


def render(person: Person) -> bytes:
    """VCALENDAR of the person's confirmed (and attended) activities from 30 days ago on."""
    base = current_app.config["PUBLIC_BASE_URL"]
    host = urlsplit(base).hostname or "sanwei"
    rows = db.session.execute(
        sa.select(Booking, Activity).join(Slot, Slot.id == Booking.slot_id)
        .join(Activity, Activity.slot_id == Slot.id)
        .where(Booking.person_id == person.id,
               Booking.status.in_([BookingStatus.confirmed.value, BookingStatus.attended.value]),
               Slot.ends_at > utcnow() - KEEP_PAST)
        .order_by(Slot.starts_at)).all()
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Sanwei//三微//ZH")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", "三微·我的志愿活动")
    cal.add("x-wr-timezone", current_app.config["TIMEZONE"])
    cal.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    for booking, activity in rows:
        event = icalendar.Event()
        event.add("uid", f"booking-{booking.id}@{host}")
        event.add("dtstamp", booking.confirmed_at or booking.created_at)
        event.add("dtstart", activity.slot.starts_at)
        event.add("dtend", activity.slot.ends_at)
        event.add("summary", activity.title)
        event.add("location", activity.location)
        event.add("description", f"{activity.org.name}志愿活动。签到：到场后扫描现场二维码。")
        event.add("url", f"{base}/h5/activities/{activity.id}")
        event.add("status", "CONFIRMED")
        alarm = icalendar.Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", f"{activity.title} 将在 1 小时后开始")
        alarm.add("trigger", timedelta(hours=-1))
        event.add_component(alarm)
        cal.add_component(event)
    return cal.to_ical()
