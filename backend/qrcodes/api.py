from __future__ import annotations

import sqlalchemy as sa
from flask import Response
from flask_smorest import Blueprint

from backend.auth.current import require_actor
from backend.core.db import commit
from backend.core.errors import NotFound
from backend.core.paging import page_of, paginate
from backend.core.permissions import authorize
from backend.extensions import db
from backend.orgs.models import Org
from backend.qrcodes import service
from backend.qrcodes.models import QrCode
from backend.qrcodes.permissions import qrcode_visible_clause
from backend.qrcodes.schemas import QrCodeCreateSchema, QrCodeListArgs, QrCodeSchema

blp = Blueprint("qrcodes", __name__, url_prefix="/api/v1/qrcodes", description="二维码")


def get_visible(qr_id: int, action: str = "qrcode.view") -> QrCode:
    qr = db.session.get(QrCode, qr_id)
    authorize(require_actor(), action, qr)
    return qr


@blp.get("")
@blp.arguments(QrCodeListArgs, location="query")
@blp.response(200, page_of(QrCodeSchema))
def list_codes(args):
    """QR codes of the orgs the staff member works in."""
    stmt = sa.select(QrCode).where(qrcode_visible_clause(require_actor()))
    for key, column in (("purpose", QrCode.purpose), ("active", QrCode.is_active)):
        if key in args:
            stmt = stmt.where(column == args[key])
    if "org_id" in args:
        org = db.session.get(Org, args["org_id"])
        if org is None:
            raise NotFound("找不到该组织")
        stmt = stmt.where(QrCode.org.has(Org.path.startswith(org.path)))
    return paginate(stmt.order_by(QrCode.id.desc()), args["page"], args["per_page"])


@blp.post("")
@blp.arguments(QrCodeCreateSchema)
@blp.response(201, QrCodeSchema)
def create_code(args):
    """Make a code for a target (wish → grid, checkin → activity or slot, poll, service)."""
    actor = require_actor()
    org = service.target_org(args["purpose"], args["target_id"])
    authorize(actor, "org.qrcodes.create", org)
    qr = service.create_code(args["purpose"], args["target_id"], org, actor.person)
    commit()
    return qr


@blp.get("/<int:qr_id>")
@blp.response(200, QrCodeSchema)
def get_code(qr_id):
    return get_visible(qr_id)


def _image(qr_id: int, body: bytes, mimetype: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


@blp.get("/<int:qr_id>.png")
@blp.response(200, content_type="image/png")
def png(qr_id):
    """PNG for screens; decodes to the code's short URL."""
    return _image(qr_id, service.render_png(get_visible(qr_id)), "image/png")


@blp.get("/<int:qr_id>.svg")
@blp.response(200, content_type="image/svg+xml")
def svg(qr_id):
    """SVG for print; decodes to the code's short URL."""
    return _image(qr_id, service.render_svg(get_visible(qr_id)), "image/svg+xml")


@blp.post("/<int:qr_id>/revoke")
@blp.response(200, QrCodeSchema)
def revoke(qr_id):
    """Stop a code working (a lost or defaced poster); scans then get a 410 page."""
    qr = get_visible(qr_id, "qrcode.revoke")
    service.revoke(qr)
    commit()
    return qr
