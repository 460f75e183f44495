"""Printed QR codes: a short random code that opens the right H5 page, and can be revoked."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.extensions import UTCDateTime, db, utcnow
from backend.orgs.models import Org, enum_check


class QrPurpose(enum.StrEnum):
    wish = "wish"
    checkin = "checkin"
    poll = "poll"
    service = "service"


#: What a code is for, as printed on the poster.
QR_PURPOSE_LABELS = {
    QrPurpose.wish: "扫码提交微心愿",
    QrPurpose.checkin: "扫码签到",
    QrPurpose.poll: "扫码参与满意度测评",
    QrPurpose.service: "扫码预约微服务",
}


class QrCode(db.Model):
    __tablename__ = "qr_codes"
    __table_args__ = (
        sa.CheckConstraint(enum_check("purpose", QrPurpose), name="purpose"),
        sa.Index("ix_qr_codes_purpose_target_id", "purpose", "target_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: URL-safe random code (96 bits) printed in the short URL /q/<code>.
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    #: wish, checkin, poll or service.
    purpose: Mapped[str] = mapped_column(sa.String(16))
    #: Id of the grid, activity/slot, poll or service item the code opens.
    target_id: Mapped[int] = mapped_column()
    #: The org the code belongs to: who may manage it, and whose name is on the poster.
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    #: False once revoked; a revoked code answers 410.
    is_active: Mapped[bool] = mapped_column(default=True)
    #: Who made it.
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    #: When it was made.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When it was revoked.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    org: Mapped[Org] = relationship()

    @property
    def purpose_label(self) -> str:
        return QR_PURPOSE_LABELS[QrPurpose(self.purpose)]
