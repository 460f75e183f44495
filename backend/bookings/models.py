"""The booking engine shared by volunteer activities (微力量) and micro-services (微服务).

A slot has a capacity and a running count of confirmed bookings; the count can only move
through a conditional UPDATE and a CHECK keeps it within 0..capacity on both databases.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.core.db import conflict_info
from backend.extensions import UTCDateTime, db, utcnow
from backend.orgs.models import Org, enum_check


class BookingStatus(enum.StrEnum):
    confirmed = "confirmed"
    waitlisted = "waitlisted"
    cancelled = "cancelled"
    attended = "attended"
    no_show = "no_show"


BOOKING_STATUS_LABELS = {
    BookingStatus.confirmed: "已报名",
    BookingStatus.waitlisted: "候补中",
    BookingStatus.cancelled: "已取消",
    BookingStatus.attended: "已签到",
    BookingStatus.no_show: "未到场",
}

#: A person holds at most one of these per slot.
ACTIVE = (BookingStatus.confirmed.value, BookingStatus.waitlisted.value)


class Slot(db.Model):
    __tablename__ = "slots"
    __table_args__ = (
        sa.CheckConstraint("capacity > 0", name="capacity"),
        sa.CheckConstraint("confirmed_count >= 0 AND confirmed_count <= capacity", name="confirmed_count"),
        sa.CheckConstraint("ends_at > starts_at", name="times"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The community (or unit) that runs it: who manages it, whose numbers it counts in.
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="RESTRICT"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    #: Indexed: the lists of what is still to come (activities, services) start from the slots
    #: not yet ended, however many have gone before.
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    #: Places.
    capacity: Mapped[int] = mapped_column()
    #: Confirmed bookings now; moved only by conditional UPDATEs, kept in range by a CHECK.
    confirmed_count: Mapped[int] = mapped_column(default=0)
    #: Whether people beyond capacity queue (FIFO) instead of being turned away.
    waitlist: Mapped[bool] = mapped_column(default=True)
    #: Sign-up window; NULL opens = open from creation, NULL closes = until the start.
    signup_opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signup_closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: A confirmed booking can be cancelled until this many minutes before the start.
    cancel_cutoff_minutes: Mapped[int] = mapped_column(default=120)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org: Mapped[Org] = relationship()

    @property
    def places_left(self) -> int:
        return self.capacity - self.confirmed_count

    @property
    def minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)


class Booking(db.Model):
    __tablename__ = "bookings"
    __table_args__ = (
        sa.CheckConstraint(enum_check("status", BookingStatus), name="status"),
        sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating"),
        sa.Index("uq_bookings_active_person", "slot_id", "person_id", unique=True,
                 sqlite_where=sa.text("status IN ('confirmed', 'waitlisted')"),
                 postgresql_where=sa.text("status IN ('confirmed', 'waitlisted')"),
                 info=conflict_info("duplicate", "您已报名，无需重复报名")),
        sa.Index("ix_bookings_slot_id_status_id", "slot_id", "status", "id"),
        sa.Index("ix_bookings_person_id_status", "person_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slot_id: Mapped[int] = mapped_column(sa.ForeignKey("slots.id", ondelete="CASCADE"))
    #: Who booked; NULL for a resident booking a service by receipt only.
    person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    #: See BookingStatus.
    status: Mapped[str] = mapped_column(sa.String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When it became confirmed (at once, or when promoted from the waitlist).
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Service bookings: the resident's 1–5 rating once delivered.
    rating: Mapped[int | None] = mapped_column()
    rating_comment: Mapped[str | None] = mapped_column(sa.String(300))

    slot: Mapped[Slot] = relationship()

    @property
    def status_label(self) -> str:
        return BOOKING_STATUS_LABELS[BookingStatus(self.status)]
