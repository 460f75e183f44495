"""Micro-services: a community's catalogue, resident bookings by receipt, delivery, rating."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from backend.bookings import service as engine
from backend.bookings.models import Booking, BookingStatus
from backend.core.errors import Conflict, Invalid, NotFound
from backend.core.permissions import Actor, authorize
from backend.core.receipts import receipt_for, receipt_hash
from backend.extensions import db, utcnow
from backend.orgs.models import Org
from backend.orgs.service import resident_unit
from backend.services.models import ServiceBooking, ServiceItem, ServiceSlot
from backend.teams.models import Team

B = BookingStatus


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
    service_booking: ServiceBooking
    receipt: str
    created: bool


def book(service_slot: ServiceSlot, *, contact_name: str, contact_phone: str | None, consent: bool,
         submit_token: str | None = None) -> Reservation:
    """A resident books a place; the same submit token twice returns the first booking."""
    if not service_slot.service_item.is_active:
        raise Conflict("该服务已暂停预约", code="service_inactive")
    if not consent:
        raise Invalid("请阅读并同意隐私说明", code="consent_required", fields={"consent": ["请阅读并同意隐私说明"]})
    submit_token = submit_token or secrets.token_urlsafe(24)
    receipt = receipt_for("booking", submit_token)
    existing = db.session.scalar(sa.select(ServiceBooking).where(ServiceBooking.submit_token == submit_token))
    if existing is not None:
        return Reservation(existing, receipt, created=False)
    booking = engine.book_without_account(service_slot.slot)
    record = ServiceBooking(booking_id=booking.id, receipt_hash=receipt_hash(receipt), submit_token=submit_token,
                            contact_name=contact_name.strip(), contact_phone=contact_phone or None,
                            consent_version=current_app.config["PRIVACY_NOTICE_VERSION"])
    try:
        with db.session.begin_nested():
            db.session.add(record)
    except IntegrityError:
        raise Conflict("该预约已提交", code="duplicate_submission") from None
    return Reservation(record, receipt, created=True)


def by_receipt(receipt: str) -> ServiceBooking:
    record = db.session.scalar(sa.select(ServiceBooking).where(ServiceBooking.receipt_hash == receipt_hash(receipt)))
    if record is None:
        raise NotFound("找不到该预约，请检查回执链接")
    return record


def complete(record: ServiceBooking) -> None:
    """The provider delivered the service (staff of the offering community)."""
    done = db.session.execute(
        sa.update(Booking).where(Booking.id == record.booking_id, Booking.status == B.confirmed.value)
        .values(status=B.attended.value, checked_in_at=utcnow()).execution_options(synchronize_session=False))
    if done.rowcount != 1:
        raise Conflict("该预约当前不能标记为已服务", code="invalid_state")
    record.delivered_at = utcnow()
    db.session.refresh(record.booking)


def rate(record: ServiceBooking, rating: int, comment: str | None) -> None:
    """The resident rates a delivered service, once."""
    if record.delivered_at is None:
        raise Conflict("服务完成后才能评价", code="not_delivered")
    done = db.session.execute(
        sa.update(Booking).where(Booking.id == record.booking_id, Booking.rating.is_(None))
        .values(rating=rating, rating_comment=comment).execution_options(synchronize_session=False))
    if done.rowcount != 1:
        raise Conflict("已经评价过了", code="already_rated")
    record.rated_at = utcnow()
    db.session.refresh(record.booking)


def cancel(record: ServiceBooking) -> None:
    engine.cancel(record.booking)
