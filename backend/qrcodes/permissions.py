"""QR codes are seen and made by the staff of their org, revoked by its managers."""

from __future__ import annotations

import sqlalchemy as sa

from backend.core.permissions import Actor, capability, rule, visible_if
from backend.orgs.models import Org
from backend.qrcodes.models import QrCode


def qrcode_visible_clause(actor: Actor):
    """SQL condition on QrCode: codes of orgs the actor staffs."""
    if actor.is_admin:
        return sa.true()
    paths = actor.staff_paths()
    if not paths:
        return sa.false()
    return QrCode.org.has(sa.or_(*[Org.path.startswith(p) for p in paths]))


visible_if(QrCode, lambda actor, qr: actor.is_staff_over(qr.org))
rule("qrcode.view", QrCode, lambda actor, qr, **_: True)
rule("qrcode.revoke", QrCode, lambda actor, qr, **_: actor.is_manager_over(qr.org))
rule("org.qrcodes.create", Org, lambda actor, org, **_: actor.is_manager_over(org))
capability("qrcodes.manage", lambda actor: actor.is_manager)
