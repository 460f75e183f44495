"""Micro-service pages: the service page a QR opens, booking, the receipt with rating, and the
provider's list of bookings to mark delivered."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from marshmallow import ValidationError

from backend.auth.current import current_actor
from backend.bookings.models import Booking
from backend.core.db import commit
from backend.core.errors import DomainError, Forbidden, Invalid, NotFound
from backend.core.permissions import authorize, can
from backend.extensions import db
from backend.orgs.permissions import org_visible_clause
from backend.orgs.service import units_near
from backend.qrcodes import service as qr_service
from backend.qrcodes.models import QrPurpose
from backend.services import service
from backend.services.api import BookingCreateSchema, ServiceCreateSchema, SlotCreateSchema, upcoming_slots
from backend.services.models import ServiceBooking, ServiceItem, ServiceSlot
from backend.teams.models import Team
from h5.views import act_and_return, communities_of, form_data, local_iso, require_page_actor, submit_form

bp = Blueprint("service_pages", __name__, url_prefix="/h5")


def _item(item_id: int) -> ServiceItem:
    item = db.session.get(ServiceItem, item_id)
    if item is None or not item.is_active:
        raise NotFound("找不到该服务")
    return item


def _page(item: ServiceItem, values: dict, errors: dict, status: int = 200):
    actor = current_actor()
    organiser = actor is not None and can(actor, "org.organise", item.org)
    bookings = []
    if organiser:
        bookings = db.session.execute(
            sa.select(ServiceBooking, ServiceSlot).join(Booking, Booking.id == ServiceBooking.booking_id)
            .join(ServiceSlot, ServiceSlot.slot_id == Booking.slot_id)
            .where(ServiceSlot.service_item_id == item.id, Booking.status.in_(["confirmed", "attended"]))
            .order_by(Booking.id.desc()).limit(100)).all()
    return render_template("service.html", tab=None, item=item, slots=upcoming_slots(item), values=values,
                           errors=errors, organiser=organiser, bookings=bookings), status


SERVICE_FIELDS = ("org_id", "name", "category", "location", "provider_team_id", "provider_unit_id", "provider_name",
                  "description")


@bp.get("/services")
def services_list():
    """Services of the person's communities (organisers add services and times from here)."""
    actor = require_page_actor()
    items = db.session.scalars(sa.select(ServiceItem).where(
        ServiceItem.is_active.is_(True), ServiceItem.org.has(org_visible_clause(actor)))
        .order_by(ServiceItem.name)).all()
    can_create = any(can(actor, "org.organise", c) for c in communities_of(actor))
    return render_template("services.html", tab="home", items=items, can_create=can_create)


def _service_form(actor, values: dict, errors: dict, status: int = 200):
    communities = [c for c in communities_of(actor) if can(actor, "org.organise", c)]
    if not communities:
        raise Forbidden("只有社区书记或街道工作人员可以新增服务")
    teams = db.session.scalars(sa.select(Team).where(Team.org_id.in_([c.id for c in communities]),
                                                     Team.is_active.is_(True)).order_by(Team.name)).all()
    units = db.session.scalars(units_near(communities[0])).all()
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
    item = _item(item_id)
    authorize(actor, "org.organise", item.org)
    day = request.form.get("day", "").strip()
    data = {"starts_at": local_iso(day, request.form.get("start", "").strip()),
            "ends_at": local_iso(day, request.form.get("end", "").strip()),
            "capacity": request.form.get("capacity", type=int)}

    def add():
        try:
            args = SlotCreateSchema().load(data)
        except ValidationError as exc:
            raise Invalid("；".join(sorted({m for ms in exc.messages.values() for m in ms}))) from exc
        return service.add_slot(item, **args)

    return act_and_return(add, "已添加预约时间", url_for("service_pages.service_page", item_id=item.id) + "#times")


@bp.get("/services/<int:item_id>")
def service_page(item_id: int):
    return _page(_item(item_id), {"submit_token": secrets.token_urlsafe(24)}, {})


@bp.post("/services/<int:item_id>/book")
def service_book(item_id: int):
    item = _item(item_id)
    values = {k: request.form.get(k, "").strip() for k in ("slot_id", "contact_name", "contact_phone", "submit_token")}
    values["consent"] = request.form.get("consent") == "on"
    service_slot = db.session.scalar(sa.select(ServiceSlot).where(
        ServiceSlot.service_item_id == item.id, ServiceSlot.slot_id == (request.form.get("slot_id", type=int) or 0)))
    if service_slot is None:
        return _page(item, values, {"slot_id": ["请选择时间"]}, 422)
    data = {k: v for k, v in values.items() if k != "slot_id" and v not in ("", None)}
    data["consent"] = values["consent"]
    try:
        args = BookingCreateSchema().load(data)
        made = service.book(service_slot, **args)
    except ValidationError as exc:
        return _page(item, values, exc.messages, 422)
    except DomainError as exc:
        return _page(item, values, exc.fields or {"_": [exc.message]}, exc.status)
    commit()
    return redirect(url_for("service_pages.receipt", receipt=made.receipt, new=1 if made.created else None))


@bp.get("/b/r/<receipt>")
def receipt(receipt: str):
    record = service.by_receipt(receipt)
    service_slot = db.session.scalar(sa.select(ServiceSlot).where(ServiceSlot.slot_id == record.booking.slot_id))
    return render_template("service_receipt.html", tab=None, record=record, booking=record.booking,
                           item=service_slot.service_item, slot=service_slot.slot, receipt=receipt,
                           is_new=bool(request.args.get("new")),
                           retention_days=current_app.config["WISH_CONTACT_RETENTION_DAYS"])


@bp.post("/b/r/<receipt>/rate")
def rate(receipt: str):
    record = service.by_receipt(receipt)
    rating = request.form.get("rating", type=int)
    back = url_for("service_pages.receipt", receipt=receipt)
    if rating not in range(1, 6):
        flash("请点选 1–5 颗星再提交", "warn")
        return redirect(back)
    comment = request.form.get("comment", "").strip()[:300] or None
    return act_and_return(lambda: service.rate(record, rating, comment), "感谢您的评价！", back)


@bp.post("/b/r/<receipt>/cancel")
def cancel(receipt: str):
    record = service.by_receipt(receipt)
    return act_and_return(lambda: service.cancel(record), "预约已取消",
                          url_for("service_pages.receipt", receipt=receipt))


@bp.post("/services/bookings/<int:booking_id>/complete")
def complete(booking_id: int):
    actor = require_page_actor()
    record = db.session.scalar(sa.select(ServiceBooking).where(ServiceBooking.booking_id == booking_id))
    if record is None:
        raise NotFound("找不到该预约")
    service_slot = db.session.scalar(sa.select(ServiceSlot).where(ServiceSlot.slot_id == record.booking.slot_id))
    authorize(actor, "org.organise", service_slot.service_item.org)
    return act_and_return(lambda: service.complete(record), "已标记为已服务",
                          url_for("service_pages.service_page", item_id=service_slot.service_item_id))


@bp.post("/services/<int:item_id>/qrcode")
def service_qrcode(item_id: int):
    """The organiser's 扫码预约 code for the service, made once, then printed from its poster."""
    actor = require_page_actor()
    item = _item(item_id)
    authorize(actor, "org.organise", item.org)
    qr = qr_service.ensure_code(QrPurpose.service.value, item.id, item.org, actor.person)
    commit()
    return redirect(url_for("h5.qr_poster", qr_id=qr.id))
