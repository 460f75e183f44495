"""Micro-services: a community's catalogue, resident bookings by receipt, delivery, rating."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from backend.bookings import service as engine
from backend.bookings.models import Booking, BookingStatus, Slot
from backend.core import limits
from backend.core.errors import Conflict, Forbidden, Invalid, NotFound
from backend.core.permissions import Actor, authorize, can
from backend.core.receipts import receipt_hash
from backend.core.submissions import Ticket, submit_once
from backend.core.timeutil import format_local
from backend.extensions import db, utcnow
from backend.notifications.models import Notification
from backend.notifications.service import notify
from backend.orgs.models import Org
from backend.orgs.permissions import org_visible_clause
from backend.orgs.service import resident_unit, units_near
from backend.people.models import Person
from backend.qrcodes import service as qr_service
from backend.qrcodes.models import QrCode, QrPurpose
from backend.services.models import ServiceBooking, ServiceItem, ServiceSlot
from backend.teams.models import Team

B = BookingStatus
#: What the resident's pages call a service booking's state (the booking engine's own labels
#: are worded for volunteer activities: 已报名, 已签到).
STATE_LABELS = {B.confirmed: "已预约", B.waitlisted: "候补中", B.cancelled: "已取消", B.attended: "已服务",
                B.no_show: "未到场"}
#: What the page says when no star was picked (the API's schema refuses first).
RATING_MESSAGE = "请点选 1–5 颗星再提交"


def create_item(actor: Actor, args: dict) -> ServiceItem:
    """Add a service to a community's catalogue (its organisers); the provider is one of the
    community's teams, a resident unit of its street, or someone named in words."""
    org = db.session.get(Org, args["org_id"])
    authorize(actor, "org.organise", org)
    team = db.session.get(Team, args["provider_team_id"]) if args.get("provider_team_id") else None
    if args.get("provider_team_id") and (team is None or team.org_id != org.id):
        message = "请选择本社区的志愿服务队"
        raise Invalid(message, code="invalid_team", fields={"provider_team_id": [message]})
    unit = resident_unit(org, args.get("provider_unit_id"), "provider_unit_id")
    item = ServiceItem(org=org, provider_team=team, provider_unit=unit,
                       **{k: args.get(k) for k in ("name", "category", "description", "location", "provider_name")})
    db.session.add(item)
    db.session.flush()
    return item


def add_slot(item: ServiceItem, *, starts_at, ends_at, capacity: int) -> ServiceSlot:
    """A bookable time of the item; no waitlist (a resident picks another time instead)."""
    slot = engine.create_slot(org_id=item.org_id, starts_at=starts_at, ends_at=ends_at, capacity=capacity,
                              waitlist=False, cancel_cutoff_minutes=60)
    service_slot = ServiceSlot(service_item_id=item.id, slot_id=slot.id)
    db.session.add(service_slot)
    db.session.flush()
    return service_slot


@dataclass
class Reservation:
    """A booking made (or found again by its token), with the receipt to follow it."""

    service_booking: ServiceBooking
    receipt: str
    created: bool


#: Bookings without an account one client (address) may make per hour.
TOO_MANY_BOOKINGS = "这台设备预约太频繁了，请 {minutes} 分钟后再试（已填写的内容会保留）；急需服务请联系社区"


def book(service_slot: ServiceSlot, *, contact_name: str, contact_phone: str | None = None, consent: bool,
         submit_token: str | None = None, booked_by: Person | None = None, client: str | None = None) -> Reservation:
    """A resident books a place; the same submit token twice with the same form (or two taps
    racing) returns the first booking and takes no second place, with another form (another
    time, another name) it is 409 `submit_token_reused`. `booked_by` is the signed-in person who booked
    (their 我的预约 lists it on any phone); without one the receipt alone follows the booking, and
    `client` (the address) may make BOOKING_CLIENT_HOURLY_LIMIT new bookings an hour, then 429."""
    if not service_slot.service_item.is_active:
        raise Conflict("该服务已暂停预约", code="service_inactive")

    def build(ticket: Ticket) -> ServiceBooking:
        if booked_by is None and client is not None:
            limits.take(limits.Limit("booking.client", current_app.config["BOOKING_CLIENT_HOURLY_LIMIT"], 3600),
                        limits.keyed(client), TOO_MANY_BOOKINGS)
        booking = engine.book_without_account(service_slot.slot)
        record = ServiceBooking(booking_id=booking.id, receipt_hash=ticket.receipt_hash,
                                submit_token=ticket.token_hash,
                                contact_name=contact_name.strip(), contact_phone=contact_phone or None,
                                consent_version=current_app.config["PRIVACY_NOTICE_VERSION"],
                                booked_by_id=booked_by.id if booked_by is not None else None)
        db.session.add(record)
        return record

    form = {"slot": service_slot.id, "contact_name": contact_name, "contact_phone": contact_phone,
            "by": booked_by.id if booked_by is not None else None}
    record, ticket, created = submit_once(ServiceBooking, "booking", consent=consent, submit_token=submit_token,
                                          form=form, build=build)
    return Reservation(record, ticket.receipt, created)


def by_receipt(receipt: str) -> ServiceBooking:
    """The booking a receipt opens; 404 for anything else."""
    record = db.session.scalar(sa.select(ServiceBooking).where(ServiceBooking.receipt_hash == receipt_hash(receipt)))
    if record is None:
        raise NotFound("找不到该预约，请检查回执链接")
    return record


def state_label(record: ServiceBooking) -> str:
    """The booking's state as the resident reads it: 已预约, 已取消, 已服务 (delivered), 未到场."""
    if record.delivered_at is not None:
        return STATE_LABELS[B.attended]
    return STATE_LABELS[B(record.booking.status)]


def may_complete(record: ServiceBooking, now: datetime | None = None) -> bool:
    """Whether the booking can be marked delivered now: still booked, and its time has begun
    (the page shows 已服务 only then)."""
    return record.booking.status == B.confirmed and (now or utcnow()) >= record.booking.slot.starts_at


def complete(record: ServiceBooking, now: datetime | None = None) -> None:
    """The provider delivered the service (staff of the offering community): from the start of
    its time, never before — a delivery marked early would let its rating move the score."""
    now = now or utcnow()
    slot = record.booking.slot
    if now < slot.starts_at:
        raise Conflict(f"服务时间（{format_local(slot.starts_at, '%m月%d日 %H:%M')}）开始后才能标记为已服务",
                       code="service_not_started")
    # correlate_except: the live scores re-read this WHERE inside a query that joins slots too.
    begun = sa.select(Slot.id).where(Slot.id == Booking.slot_id, Slot.starts_at <= now).correlate_except(Slot).exists()
    done = db.session.execute(
        sa.update(Booking).where(Booking.id == record.booking_id, Booking.status == B.confirmed.value, begun)
        .values(status=B.attended.value, checked_in_at=now).execution_options(synchronize_session=False))
    if done.rowcount != 1:
        raise Conflict("该预约当前不能标记为已服务", code="invalid_state")
    record.delivered_at = now
    db.session.refresh(record.booking)


def rate(record: ServiceBooking, rating: int, comment: str | None) -> None:
    """The resident rates a delivered service 1–5, once."""
    if rating not in range(1, 6):
        raise Invalid(RATING_MESSAGE, fields={"rating": [RATING_MESSAGE]})
    if record.delivered_at is None:
        raise Conflict("服务完成后才能评价", code="not_delivered")
    done = db.session.execute(
        sa.update(Booking).where(Booking.id == record.booking_id, Booking.status == B.attended.value,
                                 Booking.rating.is_(None))
        .values(rating=rating, rating_comment=comment).execution_options(synchronize_session=False))
    if done.rowcount != 1:
        raise Conflict("已经评价过了", code="already_rated")
    record.rated_at = utcnow()
    db.session.refresh(record.booking)


def cancel(record: ServiceBooking) -> None:
    """The resident cancels; the place is free again."""
    engine.cancel(record.booking)


# --- the doors: look up, authorise, act (API and pages call these) -----------------------------

def item_for(item_id: int) -> ServiceItem:
    """A service on offer (public: residents book without an account); 404 for a missing or
    withdrawn one."""
    item = db.session.get(ServiceItem, item_id)
    if item is None or not item.is_active:
        raise NotFound("找不到该服务")
    return item


def community_services(community: Org) -> list[ServiceItem]:
    """The services a community offers, for its public page (residents book without an account)."""
    return list(db.session.scalars(sa.select(ServiceItem).where(ServiceItem.org_id == community.id,
                                                                ServiceItem.is_active.is_(True))
                                   .order_by(ServiceItem.name, ServiceItem.id)))


def listing(actor: Actor, org_id: int | None = None) -> sa.Select:
    """Services on offer in the person's communities (or one of them), by name."""
    stmt = sa.select(ServiceItem).where(ServiceItem.org.has(org_visible_clause(actor)),
                                        ServiceItem.is_active.is_(True))
    if org_id is not None:
        stmt = stmt.where(ServiceItem.org_id == org_id)
    return stmt.order_by(ServiceItem.name, ServiceItem.id)


def runs(actor: Actor | None, item: ServiceItem) -> bool:
    """Whether the person runs this service: adds its times, sees its bookings, marks them delivered."""
    return can(actor, "org.organise", item.org)


def offering_communities(actor: Actor, communities: list[Org]) -> list[Org]:
    """Those of `communities` where the person may put a service on offer."""
    return [c for c in communities if can(actor, "org.organise", c)]


def organising_choices(actor: Actor, communities: list[Org]) -> tuple[list[Org], list[Team], list[Org]]:
    """Where the person may put a service on offer, with the teams and resident units that may
    provide it; 403 when nowhere."""
    communities = offering_communities(actor, communities)
    if not communities:
        raise Forbidden("只有社区书记或街道工作人员可以新增服务")
    teams = db.session.scalars(sa.select(Team).where(Team.org_id.in_([c.id for c in communities]),
                                                     Team.is_active.is_(True)).order_by(Team.name)).all()
    return communities, list(teams), list(db.session.scalars(units_near(communities[0])))


def item_run_by(actor: Actor | None, item_id: int) -> ServiceItem:
    """A service on offer, for those who run it (404 / 403 for anyone else)."""
    item = item_for(item_id)
    authorize(actor, "org.organise", item.org)
    return item


def add_slot_by(actor: Actor, item_id: int, *, starts_at, ends_at, capacity: int) -> ServiceSlot:
    """A bookable time of a service on offer, added by those who run it."""
    return add_slot(item_run_by(actor, item_id), starts_at=starts_at, ends_at=ends_at, capacity=capacity)


def upcoming_slots(item: ServiceItem) -> list[ServiceSlot]:
    """The service's times still to come, soonest first."""
    return list(db.session.scalars(sa.select(ServiceSlot).join(Slot, Slot.id == ServiceSlot.slot_id).where(
        ServiceSlot.service_item_id == item.id, Slot.starts_at > utcnow()).order_by(Slot.starts_at)))


def find_slot(slot_id: int, item_id: int | None = None) -> ServiceSlot | None:
    """The bookable time `slot_id` (of the service `item_id`, when given), if there is one."""
    stmt = sa.select(ServiceSlot).where(ServiceSlot.slot_id == slot_id)
    if item_id is not None:
        stmt = stmt.where(ServiceSlot.service_item_id == item_id)
    return db.session.scalar(stmt)


def slot_of(record: ServiceBooking) -> ServiceSlot:
    """The service time a booking is for."""
    return find_slot(record.booking.slot_id)


def bookings_of(actor: Actor | None, item: ServiceItem, limit: int = 100) -> list[tuple[ServiceBooking, ServiceSlot]]:
    """The live bookings of a service, newest first, for those who run it (nobody else)."""
    if not runs(actor, item):
        return []
    return list(db.session.execute(
        sa.select(ServiceBooking, ServiceSlot).join(Booking, Booking.id == ServiceBooking.booking_id)
        .join(ServiceSlot, ServiceSlot.slot_id == Booking.slot_id)
        .where(ServiceSlot.service_item_id == item.id,
               Booking.status.in_([B.confirmed.value, B.attended.value]))
        .order_by(Booking.id.desc()).limit(limit)).all())


def record_for(actor: Actor | None, booking_id: int) -> ServiceBooking:
    """A resident's booking, for the staff who run the service (404 / 403 for anyone else)."""
    record = db.session.scalar(sa.select(ServiceBooking).where(ServiceBooking.booking_id == booking_id))
    if record is None:
        raise NotFound("找不到该预约")
    authorize(actor, "org.organise", record.booking.slot.org)
    return record


def complete_by(actor: Actor, booking_id: int) -> ServiceBooking:
    """Staff of the offering community mark a booking delivered."""
    record = record_for(actor, booking_id)
    complete(record)
    return record


def rate_by(receipt: str, rating: int, comment: str | None = None, booking_id: int | None = None) -> ServiceBooking:
    """The holder of the receipt rates the delivered service (of `booking_id`, when named)."""
    record = by_receipt(receipt)
    if booking_id is not None and record.booking_id != booking_id:
        raise NotFound("找不到该预约")
    rate(record, rating, comment)
    return record


def cancel_by(receipt: str) -> ServiceBooking:
    """The holder of the receipt cancels the booking."""
    record = by_receipt(receipt)
    cancel(record)
    return record


def service_code_by(actor: Actor, item_id: int) -> QrCode:
    """The 扫码预约 code of a service, made once, by those who run it."""
    item = item_run_by(actor, item_id)
    return qr_service.ensure_code(QrPurpose.service.value, item.id, item.org, actor.person)


# --- the resident, signed in: their own bookings without the receipt ------------------------

def my_service_bookings(actor: Actor, limit: int = 50) -> list[tuple[ServiceBooking, ServiceSlot]]:
    """我的预约: the bookings the signed-in person made, newest first, each with its service
    time (`.slot`, `.service_item`)."""
    return list(db.session.execute(
        sa.select(ServiceBooking, ServiceSlot).join(Booking, Booking.id == ServiceBooking.booking_id)
        .join(ServiceSlot, ServiceSlot.slot_id == Booking.slot_id)
        .where(ServiceBooking.booked_by_id == actor.person_id)
        .order_by(ServiceBooking.id.desc()).limit(limit)).all())


def my_booking(actor: Actor | None, booking_id: int) -> ServiceBooking:
    """One of the person's own bookings, opened without its receipt (only the receipt's hash is
    kept); 404 for anyone else's, as for an unknown receipt."""
    record = db.session.scalar(sa.select(ServiceBooking).where(ServiceBooking.booking_id == booking_id))
    if record is None or actor is None or record.booked_by_id != actor.person_id:
        raise NotFound("找不到该预约")
    return record


def rate_mine(actor: Actor, booking_id: int, rating: int, comment: str | None = None) -> ServiceBooking:
    """The person who booked, signed in, rates the delivered service (as with the receipt)."""
    record = my_booking(actor, booking_id)
    rate(record, rating, comment)
    return record


def cancel_mine(actor: Actor, booking_id: int) -> ServiceBooking:
    """The person who booked, signed in, cancels (as with the receipt)."""
    record = my_booking(actor, booking_id)
    cancel(record)
    return record


# --- rules the scheduler runs ---------------------------------------------------------------

def remind_upcoming(now: datetime | None = None) -> int:
    """A day before a booked service, remind the resident (once): in their inbox (and WeChat,
    if they allowed it) when they booked signed in, by SMS to the number they left. Returns
    how many were reminded."""
    now = now or utcnow()
    already = sa.exists().where(Notification.subject_type == "service_booking",
                                Notification.subject_id == Booking.id, Notification.kind == "booking_reminder")
    due = db.session.execute(
        sa.select(ServiceBooking, Slot, ServiceItem.name).join(Booking, Booking.id == ServiceBooking.booking_id)
        .join(Slot, Slot.id == Booking.slot_id).join(ServiceSlot, ServiceSlot.slot_id == Slot.id)
        .join(ServiceItem, ServiceItem.id == ServiceSlot.service_item_id).where(
            Booking.status == B.confirmed.value, Slot.starts_at > now, Slot.starts_at <= now + timedelta(days=1),
            ServiceBooking.booked_by_id.is_not(None) | ServiceBooking.contact_phone.is_not(None), ~already)).all()
    told = 0
    for record, slot, name in due:
        note = notify(record.booked_by_id, "booking_reminder", "service_booking", record.booking_id,
                      f"提醒：您预约的“{name}”将于{format_local(slot.starts_at)}开始，请准时到场；去不了请提前取消",
                      phone=record.contact_phone)
        told += note is not None
    return told
