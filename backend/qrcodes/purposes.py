"""The QR purposes and where each opens. A new domain registers its purpose the same way."""

from __future__ import annotations

from flask import url_for

from backend.extensions import db
from backend.orgs.models import Org, OrgKind
from backend.qrcodes.models import QrPurpose
from backend.qrcodes.service import PurposeHandler, register_purpose


def _grid(target_id: int) -> Org | None:
    org = db.session.get(Org, target_id)
    return org if org is not None and org.kind == OrgKind.grid.value else None


def _activity_org(target_id: int) -> Org | None:
    from backend.activities.models import Activity

    activity = db.session.get(Activity, target_id)
    return activity.org if activity is not None else None


def _service_org(target_id: int) -> Org | None:
    from backend.services.models import ServiceItem

    item = db.session.get(ServiceItem, target_id)
    return item.org if item is not None else None


def _poll_org(target_id: int) -> Org | None:
    from backend.polls.models import Poll

    poll = db.session.get(Poll, target_id)
    return poll.org if poll is not None else None


def register_builtin_purposes() -> None:
    register_purpose(QrPurpose.poll, PurposeHandler(
        owner_org=_poll_org,
        landing_url=lambda qr: url_for("poll_pages.answer", poll_id=qr.target_id, qr=qr.code),
        target_label="测评",
    ))
    register_purpose(QrPurpose.service, PurposeHandler(
        owner_org=_service_org,
        landing_url=lambda qr: url_for("service_pages.service_page", item_id=qr.target_id),
        target_label="服务",
    ))
    register_purpose(QrPurpose.checkin, PurposeHandler(
        owner_org=_activity_org,
        landing_url=lambda qr: url_for("activity_pages.checkin", activity_id=qr.target_id, qr=qr.code),
        target_label="活动",
    ))
    register_purpose(QrPurpose.wish, PurposeHandler(
        owner_org=_grid,
        landing_url=lambda qr: url_for("wish_pages.new", qr=qr.code),
        target_label="网格",
    ))
