"""Notifications: rows written in the same transaction as the event; delivery comes later."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import UTCDateTime, db, utcnow


class Notification(db.Model):
    __tablename__ = "notifications"
    __table_args__ = (
        sa.Index("ix_notifications_person_id_read_at", "person_id", "read_at"),
        sa.Index("ix_notifications_subject", "subject_type", "subject_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Who should read it.
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"))
    #: Stable machine name, e.g. wish_escalated.
    kind: Mapped[str] = mapped_column(sa.String(40))
    #: What it is about: table name and id (e.g. "wish", 12).
    subject_type: Mapped[str] = mapped_column(sa.String(20))
    subject_id: Mapped[int] = mapped_column()
    #: The Chinese text shown to the person.
    message: Mapped[str] = mapped_column(sa.String(200))
    #: When it was written.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When the person read it.
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
