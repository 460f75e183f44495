"""Notifications: rows written in the same transaction as the event; delivery comes later."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.extensions import UTCDateTime, db, utcnow
from backend.orgs.models import enum_check


class Notification(db.Model):
    __tablename__ = "notifications"
    __table_args__ = (
        sa.Index("ix_notifications_person_id_read_at", "person_id", "read_at"),
        sa.Index("ix_notifications_subject", "subject_type", "subject_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Who should read it in their inbox; NULL for a resident known only by the phone number
    #: they left (told by SMS alone).
    person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"))
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


class DeliveryStatus(enum.StrEnum):
    pending = "pending"
    sent = "sent"
    #: Gave up after NOTIFY_MAX_ATTEMPTS, or refused for good: listed for admins.
    dead = "dead"
    #: Not sent on purpose (the daily cap); the inbox still holds the message.
    skipped = "skipped"


class Delivery(db.Model):
    """One notification on one outside channel (WeChat, SMS): written with the notification,
    sent by the delivery job after the commit, retried with backoff, at most once per
    (notification, channel) — the key the provider deduplicates by."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("notification_id", "channel", name="uq_notification_deliveries_channel"),
        sa.CheckConstraint(enum_check("status", DeliveryStatus), name="status"),
        sa.Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(sa.ForeignKey("notifications.id", ondelete="CASCADE"))
    #: "sms" or "wechat".
    channel: Mapped[str] = mapped_column(sa.String(10))
    #: Where to: a phone number, an openid.
    address: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(10), default=DeliveryStatus.pending.value)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(sa.String(200))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    notification: Mapped[Notification] = relationship()

    @property
    def key(self) -> str:
        """The idempotency key the provider sees: the same message is never sent twice."""
        return f"sanwei-n{self.notification_id}-{self.channel}"
