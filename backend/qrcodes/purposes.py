"""Purposes whose targets exist so far. Later domains register theirs the same way."""

from __future__ import annotations

from flask import url_for

from backend.extensions import db
from backend.orgs.models import Org, OrgKind
from backend.qrcodes.models import QrPurpose
from backend.qrcodes.service import PurposeHandler, register_purpose


def _grid(target_id: int) -> Org | None:
    org = db.session.get(Org, target_id)
    return org if org is not None and org.kind == OrgKind.grid.value else None


def register_builtin_purposes() -> None:
    register_purpose(QrPurpose.wish, PurposeHandler(
        owner_org=_grid,
        landing_url=lambda qr: url_for("wish_pages.new", qr=qr.code),
        target_label="网格",
    ))
