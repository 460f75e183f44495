"""QR codes as a platform service: make, resolve, revoke, and render them.

Each purpose registers how to find its target and which H5 page the code opens; the
application factory wires each domain's targets to it (backend.app.register_qr_purposes), so
this module never imports them.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import qrcode
import qrcode.constants
import qrcode.image.svg
import sqlalchemy as sa

from backend.core.errors import Gone, Invalid, NotFound
from backend.core.permissions import Actor, authorize
from backend.core.urls import public_base_url
from backend.extensions import db, utcnow
from backend.orgs.models import Org
from backend.people.models import Person
from backend.qrcodes.models import QrCode, QrPurpose
from backend.qrcodes.permissions import qrcode_visible_clause

#: 12 random bytes = 96 bits, 16 URL-safe characters.
CODE_BYTES = 12


@dataclass(frozen=True)
class PurposeHandler:
    """How codes of one purpose find their target and which page they open."""

    #: target id → the org that owns the target, or None when there is no such target.
    owner_org: Callable[[int], Org | None]
    #: code → the URL of the H5 page the scan opens.
    landing_url: Callable[[QrCode], str]
    #: Chinese name of the target kind, for error messages ("网格").
    target_label: str


_HANDLERS: dict[QrPurpose, PurposeHandler] = {}


def register_purpose(purpose: QrPurpose, handler: PurposeHandler) -> None:
    """Say how codes of `purpose` find their target and which page they open."""
    _HANDLERS[purpose] = handler


def handler_for(purpose: str) -> PurposeHandler:
    """The registered handler of a purpose; 422 `purpose_unavailable` when none is."""
    handler = _HANDLERS.get(QrPurpose(purpose))
    if handler is None:
        raise Invalid("该用途的二维码尚未开通", code="purpose_unavailable",
                      fields={"purpose": ["该用途尚未开通"]})
    return handler


def target_org(purpose: str, target_id: int) -> Org:
    """The org owning the target of a would-be code; 422 when the target does not exist."""
    handler = handler_for(purpose)
    org = handler.owner_org(target_id)
    if org is None:
        raise Invalid(f"找不到该{handler.target_label}", code="unknown_target",
                      fields={"target_id": [f"找不到该{handler.target_label}"]})
    return org


def create_code(purpose: str, target_id: int, org: Org, created_by: Person | None) -> QrCode:
    """A new active code for the target. Callers check permission on `org` first."""
    qr = QrCode(code=secrets.token_urlsafe(CODE_BYTES), purpose=QrPurpose(purpose).value,
                target_id=target_id, org=org, created_by_id=created_by.id if created_by else None)
    db.session.add(qr)
    db.session.flush()
    return qr


def ensure_code(purpose: str, target_id: int, org: Org, created_by: Person | None = None) -> QrCode:
    """The active code for the target, made if missing (used by the demo data and pages)."""
    existing = db.session.scalar(sa.select(QrCode).where(
        QrCode.purpose == purpose, QrCode.target_id == target_id, QrCode.is_active.is_(True)
    ).order_by(QrCode.id))
    return existing or create_code(purpose, target_id, org, created_by)


def revoke(qr: QrCode) -> None:
    """Stop the code working; scans then show a 410 page. Idempotent."""
    if qr.is_active:
        qr.is_active = False
        qr.revoked_at = utcnow()


#: Built once: every scan and every wish sent through a code reads it.
_BY_CODE = sa.select(QrCode).where(QrCode.code == sa.bindparam("scanned"))


def resolve(code: str) -> QrCode:
    """The code behind a scan: 404 `unknown_code`, 410 `revoked_code`."""
    qr = db.session.scalar(_BY_CODE, {"scanned": code}) if len(code) <= 32 else None
    if qr is None:
        raise NotFound("二维码无效，请确认是否扫描了正确的二维码", code="unknown_code")
    if not qr.is_active:
        raise Gone("该二维码已停用，请扫描最新张贴的二维码", code="revoked_code")
    return qr


def landing_url(qr: QrCode) -> str:
    """The H5 page a scan of the code opens."""
    return handler_for(qr.purpose).landing_url(qr)


def short_url(qr: QrCode) -> str:
    """Exactly what the printed code encodes."""
    return f"{public_base_url()}/q/{qr.code}"


def _matrix(url: str, border: int = 4) -> qrcode.QRCode:
    q = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=border, box_size=10)
    q.add_data(url)
    q.make(fit=True)
    return q


def render_png(qr: QrCode, box_size: int = 10) -> bytes:
    """A PNG for screens, decoding to the short URL."""
    q = _matrix(short_url(qr))
    q.box_size = box_size
    buf = io.BytesIO()
    q.make_image().save(buf, format="PNG")
    return buf.getvalue()


def render_svg(qr: QrCode) -> bytes:
    """A single-path SVG, crisp at any print size."""
    return url_svg(short_url(qr)).encode()


def url_svg(url: str, border: int = 4) -> str:
    """Any address as a single-path SVG QR code (error correction M, like the printed codes);
    `border` is the quiet zone in modules (4 is the standard; small slips print 2)."""
    return _matrix(url, border).make_image(image_factory=qrcode.image.svg.SvgPathImage).to_string(encoding="unicode")


# --- the doors: look up, authorise, act (API and pages call these) -----------------------------

def code_for(actor: Actor | None, qr_id: int, action: str = "qrcode.view") -> QrCode:
    """A code of an org the person staffs, if they may `action` it (404 / 403)."""
    qr = db.session.get(QrCode, qr_id)
    authorize(actor, action, qr)
    return qr


def listing(actor: Actor, *, purpose: str | None = None, active: bool | None = None,
            org_id: int | None = None) -> sa.Select:
    """Codes of the orgs the person staffs (under `org_id`, when given), newest first."""
    stmt = sa.select(QrCode).where(qrcode_visible_clause(actor))
    if purpose is not None:
        stmt = stmt.where(QrCode.purpose == purpose)
    if active is not None:
        stmt = stmt.where(QrCode.is_active == active)
    if org_id is not None:
        org = db.session.get(Org, org_id)
        if org is None:
            raise NotFound("找不到该组织")
        stmt = stmt.where(QrCode.org.has(Org.path.startswith(org.path)))
    return stmt.order_by(QrCode.id.desc())


def create_by(actor: Actor, purpose: str, target_id: int) -> QrCode:
    """A new code for a target, by the managers of the org that owns it."""
    org = target_org(purpose, target_id)
    authorize(actor, "org.qrcodes.create", org)
    return create_code(purpose, target_id, org, actor.person)


def revoke_by(actor: Actor, qr_id: int) -> QrCode:
    """A manager of the code's org stops it working."""
    qr = code_for(actor, qr_id, "qrcode.revoke")
    revoke(qr)
    return qr
