from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint

from backend.auth.current import require_actor
from backend.core.db import commit
from backend.core.paging import page_of, paginate
from backend.qrcodes import service
from backend.qrcodes.schemas import QrCodeCreateSchema, QrCodeListArgs, QrCodeSchema

blp = Blueprint("qrcodes", __name__, url_prefix="/api/v1/qrcodes", description="二维码")


@blp.get("")
@blp.arguments(QrCodeListArgs, location="query")
@blp.response(200, page_of(QrCodeSchema))
def list_codes(args):
    """QR codes of the orgs the staff member works in."""
    stmt = service.listing(require_actor(), purpose=args.get("purpose"), active=args.get("active"),
                           org_id=args.get("org_id"))
    return paginate(stmt, args["page"], args["per_page"])


@blp.post("")
@blp.arguments(QrCodeCreateSchema)
@blp.response(201, QrCodeSchema)
def create_code(args):
    """Make a code for a target (wish → grid, checkin → activity or slot, poll, service)."""
    qr = service.create_by(require_actor(), args["purpose"], args["target_id"])
    commit()
    return qr


@blp.get("/<int:qr_id>")
@blp.response(200, QrCodeSchema)
def get_code(qr_id):
    return service.code_for(require_actor(), qr_id)


def _image(body: bytes, mimetype: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


@blp.get("/<int:qr_id>.png")
@blp.response(200, content_type="image/png")
def png(qr_id):
    """PNG for screens; decodes to the code's short URL."""
    return _image(service.render_png(service.code_for(require_actor(), qr_id)), "image/png")


@blp.get("/<int:qr_id>.svg")
@blp.response(200, content_type="image/svg+xml")
def svg(qr_id):
    """SVG for print; decodes to the code's short URL."""
    return _image(service.render_svg(service.code_for(require_actor(), qr_id)), "image/svg+xml")


@blp.post("/<int:qr_id>/revoke")
@blp.response(200, QrCodeSchema)
def revoke(qr_id):
    """Stop a code working (a lost or defaced poster); scans then get a 410 page."""
    qr = service.revoke_by(require_actor(), qr_id)
    commit()
    return qr
