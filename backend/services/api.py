from __future__ import annotations

import sqlalchemy as sa
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from marshmallow import ValidationError as MarshmallowError

from backend.auth.current import current_actor, require_actor
from backend.bookings.models import Slot
from backend.bookings.schemas import TimeRangeSchema
from backend.core.db import commit
from backend.core.errors import NotFound
from backend.core.paging import PageArgs, page_of, paginate
from backend.core.permissions import authorize
from backend.core.privacy import mask_phone
from backend.extensions import db, utcnow
from backend.orgs.permissions import org_visible_clause
from backend.people.schemas import PHONE_RE
from backend.services import service
from backend.services.models import ServiceBooking, ServiceItem, ServiceSlot

blp = Blueprint("services", __name__, url_prefix="/api/v1", description="微服务")


class ServiceCreateSchema(Schema):
    org_id = fields.Integer(required=True, strict=True)
    name = fields.String(required=True, validate=validate.Length(min=2, max=60))
    category = fields.String(load_default="其他", validate=validate.Length(max=20))
    description = fields.String(validate=validate.Length(max=1000))
    location = fields.String(required=True, validate=validate.Length(min=2, max=100))
    provider_name = fields.String(validate=validate.Length(max=60))
    provider_team_id = fields.Integer(strict=True, allow_none=True, metadata={"description": "a team of the community"})
    provider_unit_id = fields.Integer(strict=True, allow_none=True, metadata={"description": "a resident unit"})


class SlotSchema(Schema):
    id = fields.Integer(dump_only=True)
    starts_at = fields.AwareDateTime(required=True, attribute="slot.starts_at")
    ends_at = fields.AwareDateTime(required=True, attribute="slot.ends_at")
    capacity = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1000),
                              attribute="slot.capacity")
    places_left = fields.Integer(dump_only=True, attribute="slot.places_left")


class SlotCreateSchema(TimeRangeSchema):
    capacity = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1000))


class ServiceSchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    org_name = fields.Function(lambda item: item.org.name)
    name = fields.String()
    category = fields.String()
    description = fields.String(allow_none=True)
    location = fields.String()
    provider_name = fields.String(allow_none=True)
    provider_team_id = fields.Integer(allow_none=True)
    provider_unit_id = fields.Integer(allow_none=True)
    provider = fields.Function(lambda item: item.provider_label,
                               metadata={"description": "who provides it, in words"})
    is_active = fields.Boolean()


def _phone(value):
    if value and not PHONE_RE.match(value):
        raise MarshmallowError("请填写 11 位手机号")


class BookingCreateSchema(Schema):
    contact_name = fields.String(required=True, validate=validate.Length(min=1, max=30))
    contact_phone = fields.String(allow_none=True, validate=_phone)
    consent = fields.Boolean(required=True)
    submit_token = fields.String(validate=validate.Length(min=16, max=64))


class ServiceBookingSchema(Schema):
    id = fields.Integer()
    status = fields.String()
    status_label = fields.String()
    contact_name = fields.String()
    contact_phone = fields.String(allow_none=True, metadata={"description": "masked"})
    delivered_at = fields.AwareDateTime(allow_none=True)
    rating = fields.Integer(allow_none=True)
    receipt = fields.String(metadata={"description": "only in the answer to the booking"})


def present(record: ServiceBooking, receipt: str | None = None) -> dict:
    body = {"id": record.booking_id, "status": record.booking.status, "status_label": record.booking.status_label,
            "contact_name": record.contact_name, "contact_phone": mask_phone(record.contact_phone),
            "delivered_at": record.delivered_at, "rating": record.booking.rating}
    return body | ({"receipt": receipt} if receipt else {})


class ReceiptQuery(Schema):
    receipt = fields.String(required=True, validate=validate.Length(max=64))


class RateSchema(ReceiptQuery):
    rating = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))
    comment = fields.String(validate=validate.Length(max=300))


class ServiceListArgs(PageArgs):
    org_id = fields.Integer()


@blp.post("/services")
@blp.arguments(ServiceCreateSchema)
@blp.response(201, ServiceSchema)
def create(args):
    """Add a service to a community's catalogue (secretaries and street officers)."""
    item = service.create_item(require_actor(), args)
    commit()
    return item


@blp.get("/services")
@blp.arguments(ServiceListArgs, location="query")
@blp.response(200, page_of(ServiceSchema))
def list_services(args):
    """Services of the person's communities."""
    stmt = sa.select(ServiceItem).where(ServiceItem.org.has(org_visible_clause(require_actor())),
                                        ServiceItem.is_active.is_(True))
    if "org_id" in args:
        stmt = stmt.where(ServiceItem.org_id == args["org_id"])
    return paginate(stmt.order_by(ServiceItem.name, ServiceItem.id), args["page"], args["per_page"])


@blp.post("/services/<int:item_id>/slots")
@blp.arguments(SlotCreateSchema)
@blp.response(201, SlotSchema)
def add_slot(args, item_id):
    """A bookable time of the service."""
    item = db.session.get(ServiceItem, item_id)
    authorize(require_actor(), "org.organise", item.org if item else None)
    service_slot = service.add_slot(item, **args)
    commit()
    return service_slot


@blp.get("/services/<int:item_id>/slots")
@blp.response(200, SlotSchema(many=True))
def list_slots(item_id):
    """Upcoming times with places left (public: residents book without an account)."""
    item = db.session.get(ServiceItem, item_id)
    if item is None or not item.is_active:
        raise NotFound("找不到该服务")
    return upcoming_slots(item)


def upcoming_slots(item: ServiceItem) -> list[ServiceSlot]:
    return list(db.session.scalars(sa.select(ServiceSlot).join(Slot, Slot.id == ServiceSlot.slot_id).where(
        ServiceSlot.service_item_id == item.id, Slot.starts_at > utcnow()).order_by(Slot.starts_at)))


@blp.post("/slots/<int:slot_id>/bookings")
@blp.arguments(BookingCreateSchema)
@blp.response(201, ServiceBookingSchema)
@blp.alt_response(409, description="full, signup_closed, service_inactive")
def book(args, slot_id):
    """A resident books a place (no account; keep the receipt)."""
    service_slot = db.session.scalar(sa.select(ServiceSlot).where(ServiceSlot.slot_id == slot_id))
    if service_slot is None:
        raise NotFound("找不到该时段")
    made = service.book(service_slot, **args)
    commit()
    return present(made.service_booking, made.receipt), 201 if made.created else 200


def _record(booking_id: int) -> ServiceBooking:
    record = db.session.scalar(sa.select(ServiceBooking).where(ServiceBooking.booking_id == booking_id))
    if record is None:
        raise NotFound("找不到该预约")
    return record


@blp.post("/bookings/<int:booking_id>/complete")
@blp.response(200, ServiceBookingSchema)
def complete(booking_id):
    """The provider's staff mark the service delivered."""
    record = _record(booking_id)
    authorize(current_actor(), "org.organise", record.booking.slot.org)
    service.complete(record)
    commit()
    return present(record)


@blp.post("/bookings/<int:booking_id>/rate")
@blp.arguments(RateSchema)
@blp.response(200, ServiceBookingSchema)
def rate(args, booking_id):
    """The resident rates the delivered service 1–5 (with the receipt)."""
    record = service.by_receipt(args["receipt"])
    if record.booking_id != booking_id:
        raise NotFound("找不到该预约")
    service.rate(record, args["rating"], args.get("comment"))
    commit()
    return present(record)
