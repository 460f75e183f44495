"""Micro-service pages: the service page a QR opens, booking, the receipt with rating, and the
provider's list of bookings to mark delivered."""

from __future__ import annotations

import secrets

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from marshmallow import ValidationError

from backend.auth.current import client_ip, current_actor
from backend.core.db import commit
from backend.core.errors import DomainError, Invalid
from backend.core.input import db_int
from backend.core.submissions import TokenReused
from backend.extensions import db
from backend.orgs.service import public_community
from backend.services import service
from backend.services.models import ServiceItem
from backend.services.schemas import BookingCreateSchema, ServiceCreateSchema, SlotCreateSchema
from h5.views import act_and_return, communities_of, form_data, local_iso, require_page_actor, submit_form

bp = Blueprint("service_pages", __name__, url_prefix="/h5")


def _page(item: ServiceItem, values: dict, errors: dict, status: int = 200, headers: dict | None = None):
    actor = current_actor()
    bookings = service.bookings_of(actor, item)
    return render_template("service.html", tab=None, item=item, slots=service.upcoming_slots(item), values=values,
                           errors=errors, organiser=service.runs(actor, item), bookings=bookings,
                           deliverable={r.booking_id for r, _ in bookings if service.may_complete(r)}), \
        status, headers or {}


SERVICE_FIELDS = ("org_id", "name", "category", "location", "provider_team_id", "provider_unit_id", "provider_name",
                  "description")


@bp.get("/services")
def services_list():
    """Services of the person's communities (organisers add services and times from here)."""
    actor = require_page_actor()
    items = db.session.scalars(service.listing(actor)).all()
    can_create = bool(service.offering_communities(actor, communities_of(actor)))
    return render_template("services.html", tab="home", items=items, can_create=can_create)


@bp.get("/c/<int:org_id>/services")
def community_services(org_id: int):
    """A community's services for residents: the home page and the public wish page link here."""
    community = public_community(org_id)
    return render_template("community_services.html", tab=None, community=community,
                           items=service.community_services(community))


def _service_form(actor, values: dict, errors: dict, status: int = 200):
    communities, teams, units = service.organising_choices(actor, communities_of(actor))
    return render_template("service_form.html", tab="home", communities=communities, teams=teams, units=units,
                           values=values, errors=errors), status


@bp.get("/services/new")
def service_new():
    return _service_form(require_page_actor(), {}, {})


@bp.post("/services/new")
def service_create():
    actor = require_page_actor()
    values = {k: request.form.get(k, "").strip() for k in SERVICE_FIELDS}
    data = form_data(values, ints=("org_id", "provider_team_id", "provider_unit_id"))
    return submit_form(lambda: service.create_item(actor, ServiceCreateSchema().load(data)),
                       lambda errors, status: _service_form(actor, values, errors, status),
                       "服务已上架，请添加可预约的时间",
                       lambda item: url_for("service_pages.service_page", item_id=item.id) + "#times")


@bp.post("/services/<int:item_id>/slots")
def service_add_slot(item_id: int):
    actor = require_page_actor()
    service.item_run_by(actor, item_id)  # a refusal is an error page, not a flash
    day = request.form.get("day", "").strip()
    data = {"starts_at": local_iso(day, request.form.get("start", "").strip()),
            "ends_at": local_iso(day, request.form.get("end", "").strip()),
            "capacity": request.form.get("capacity", type=db_int)}

    def add():
        try:
            args = SlotCreateSchema().load(data)
        except ValidationError as exc:
            raise Invalid("；".join(sorted({m for ms in exc.messages.values() for m in ms}))) from exc
        return service.add_slot_by(actor, item_id, **args)

    return act_and_return(add, "已添加预约时间", url_for("service_pages.service_page", item_id=item_id) + "#times")


@bp.get("/services/<int:item_id>")
def service_page(item_id: int):
    return _page(service.item_for(item_id), {"submit_token": secrets.token_urlsafe(24)}, {})


@bp.get("/services/<int:item_id>/book")
def service_book_page(item_id: int):
    """Where the booking form was sent before it was sent to the page's own address: a
    bookmark or a reload of it lands on the service page, never a 405."""
    return redirect(url_for("service_pages.service_page", item_id=item_id))


# The form posts to the page's own address, so a refused booking is shown at an address a
# reload (or care mode, or sharing) can GET again.
@bp.post("/services/<int:item_id>")
@bp.post("/services/<int:item_id>/book")
def service_book(item_id: int):
    values = {k: request.form.get(k, "").strip() for k in ("slot_id", "contact_name", "contact_phone", "submit_token")}
    values["consent"] = request.form.get("consent") == "on"
    service_slot = service.find_slot(request.form.get("slot_id", type=db_int) or 0, item_id)
    if service_slot is None:
        return _page(service.item_for(item_id), values, {"slot_id": ["请选择时间"]}, 422)
    # A time of a withdrawn service is answered by the booking rule (409 service_inactive).
    item = service_slot.service_item
    data = {k: v for k, v in values.items() if k != "slot_id" and v not in ("", None)}
    data["consent"] = values["consent"]
    try:
        args = BookingCreateSchema().load(data)
        actor = current_actor()
        made = service.book(service_slot, **args, booked_by=actor.person if actor else None, client=client_ip())
    except ValidationError as exc:
        return _page(item, values, exc.messages, 422)
    except DomainError as exc:
        db.session.rollback()
        if isinstance(exc, TokenReused):
            values["submit_token"] = secrets.token_urlsafe(24)
        return _page(item, values, exc.fields or {"_": [exc.message]}, exc.status, exc.headers)
    commit()
    return redirect(url_for("service_pages.receipt", receipt=made.receipt, new=1 if made.created else None))


def _receipt_page(record, receipt: str | None, actions: dict[str, str], is_new: bool = False):
    service_slot = service.slot_of(record)
    return render_template("service_receipt.html", tab=None, record=record, booking=record.booking,
                           item=service_slot.service_item, slot=service_slot.slot, receipt=receipt,
                           state=service.state_label(record), actions=actions, is_new=is_new,
                           retention_days=current_app.config["WISH_CONTACT_RETENTION_DAYS"])


@bp.get("/b/r/<receipt>")
def receipt(receipt: str):
    record = service.by_receipt(receipt)
    actions = {a: url_for(f"service_pages.{a}", receipt=receipt) for a in ("rate", "cancel")}
    return _receipt_page(record, receipt, actions, is_new=bool(request.args.get("new")))


@bp.post("/b/r/<receipt>/rate")
def rate(receipt: str):
    service.by_receipt(receipt)  # an unknown receipt is a 404 page
    rating = request.form.get("rating", type=db_int)
    comment = request.form.get("comment", "").strip()[:300] or None
    return act_and_return(lambda: service.rate_by(receipt, rating, comment), "感谢您的评价！",
                          url_for("service_pages.receipt", receipt=receipt))


@bp.post("/b/r/<receipt>/cancel")
def cancel(receipt: str):
    service.by_receipt(receipt)
    return act_and_return(lambda: service.cancel_by(receipt), "预约已取消",
                          url_for("service_pages.receipt", receipt=receipt))


# --- the resident, signed in: the same receipt page by the booking's id ----------------------

@bp.get("/me/service-bookings/<int:booking_id>")
def my_booking(booking_id: int):
    record = service.my_booking(require_page_actor(), booking_id)
    actions = {a: url_for(f"service_pages.my_booking_{a}", booking_id=booking_id) for a in ("rate", "cancel")}
    return _receipt_page(record, None, actions)


@bp.post("/me/service-bookings/<int:booking_id>/rate")
def my_booking_rate(booking_id: int):
    actor = require_page_actor()
    service.my_booking(actor, booking_id)  # someone else's booking is a 404 page, not a flash
    rating = request.form.get("rating", type=db_int)
    comment = request.form.get("comment", "").strip()[:300] or None
    return act_and_return(lambda: service.rate_mine(actor, booking_id, rating, comment), "感谢您的评价！",
                          url_for("service_pages.my_booking", booking_id=booking_id))


@bp.post("/me/service-bookings/<int:booking_id>/cancel")
def my_booking_cancel(booking_id: int):
    actor = require_page_actor()
    service.my_booking(actor, booking_id)
    return act_and_return(lambda: service.cancel_mine(actor, booking_id), "预约已取消",
                          url_for("service_pages.my_booking", booking_id=booking_id))


@bp.post("/services/bookings/<int:booking_id>/complete")
def complete(booking_id: int):
    actor = require_page_actor()
    record = service.record_for(actor, booking_id)  # a refusal is an error page, not a flash
    return act_and_return(lambda: service.complete_by(actor, booking_id), "已标记为已服务",
                          url_for("service_pages.service_page", item_id=service.slot_of(record).service_item_id))


@bp.post("/services/<int:item_id>/qrcode")
def service_qrcode(item_id: int):
    """The organiser's 扫码预约 code for the service, made once, then printed from its poster."""
    qr = service.service_code_by(require_page_actor(), item_id)
    commit()
    return redirect(url_for("h5.qr_poster", qr_id=qr.id))
