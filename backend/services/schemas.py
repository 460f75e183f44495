from __future__ import annotations

from marshmallow import validate

from backend.bookings.schemas import TimeRangeSchema
from backend.core import fields
from backend.core.paging import PageArgs
from backend.core.privacy import mask_phone
from backend.core.schemas import Schema
from backend.core.submissions import submit_token_field
from backend.people.schemas import Phone
from backend.services.models import ServiceBooking


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
    # The booking engine's slot: the id POST /slots/{id}/bookings takes.
    id = fields.Integer(dump_only=True, attribute="slot_id")
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


class BookingCreateSchema(Schema):
    contact_name = fields.String(required=True, validate=validate.Length(min=1, max=30))
    contact_phone = Phone(allow_none=True)
    consent = fields.Boolean(required=True)
    submit_token = submit_token_field()


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
    """A booking as its resident and the provider's staff see it: the phone masked."""
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
