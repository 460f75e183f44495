from __future__ import annotations

from flask_smorest import Blueprint

from backend.auth.current import client_ip, current_actor, require_actor
from backend.core.db import commit
from backend.core.errors import NotFound
from backend.core.paging import page_of, paginate
from backend.services import service
from backend.services.schemas import (
    BookingCreateSchema,
    RateSchema,
    ServiceBookingSchema,
    ServiceCreateSchema,
    ServiceListArgs,
    ServiceSchema,
    SlotCreateSchema,
    SlotSchema,
    present,
)

blp = Blueprint("services", __name__, url_prefix="/api/v1", description="微服务")


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
    return paginate(service.listing(require_actor(), args.get("org_id")), args["page"], args["per_page"])


@blp.post("/services/<int:item_id>/slots")
@blp.arguments(SlotCreateSchema)
@blp.response(201, SlotSchema)
def add_slot(args, item_id):
    """A bookable time of the service."""
    service_slot = service.add_slot_by(require_actor(), item_id, **args)
    commit()
    return service_slot


@blp.get("/services/<int:item_id>/slots")
@blp.response(200, SlotSchema(many=True))
def list_slots(item_id):
    """Upcoming times with places left (public: residents book without an account)."""
    return service.upcoming_slots(service.item_for(item_id))


@blp.post("/slots/<int:slot_id>/bookings")
@blp.arguments(BookingCreateSchema)
@blp.response(201, ServiceBookingSchema)
@blp.alt_response(200, description="the same submit_token and form again: the booking it made")
@blp.alt_response(409, description="full, signup_closed, service_inactive, submit_token_reused")
@blp.alt_response(429, description="too_many_requests: BOOKING_CLIENT_HOURLY_LIMIT new bookings an hour from one "
                                   "client without an account (Retry-After)")
def book(args, slot_id):
    """A resident books a place (no account; keep the receipt). Signed in (the mini-program),
    the booking is also theirs, listed under 我的预约."""
    service_slot = service.find_slot(slot_id)
    if service_slot is None:
        raise NotFound("找不到该时段")
    actor = current_actor()
    made = service.book(service_slot, **args, booked_by=actor.person if actor else None, client=client_ip())
    commit()
    return present(made.service_booking, made.receipt), 201 if made.created else 200


@blp.post("/bookings/<int:booking_id>/complete")
@blp.response(200, ServiceBookingSchema)
@blp.alt_response(409, description="service_not_started (before the booked time begins), invalid_state")
def complete(booking_id):
    """The provider's staff mark the service delivered, from the start of the booked time."""
    record = service.complete_by(require_actor(), booking_id)
    commit()
    return present(record)


@blp.post("/bookings/<int:booking_id>/rate")
@blp.arguments(RateSchema)
@blp.response(200, ServiceBookingSchema)
@blp.alt_response(409, description="not_delivered, already_rated")
def rate(args, booking_id):
    """The resident rates the delivered service 1–5 (with the receipt)."""
    record = service.rate_by(args["receipt"], args["rating"], args.get("comment"), booking_id=booking_id)
    commit()
    return present(record)
