"""Micro-services (微服务): convenience services a community offers, booked online and
delivered offline, on the shared booking engine."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.bookings.models import Booking, Slot
from backend.core.db import conflict_info
from backend.extensions import UTCDateTime, db, utcnow
from backend.orgs.models import Org
from backend.teams.models import Team


class ServiceItem(db.Model):
    __tablename__ = "service_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The community that offers it.
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(sa.String(60))
    #: e.g. 理发, 家电维修, 法律咨询.
    category: Mapped[str] = mapped_column(sa.String(20))
    description: Mapped[str | None] = mapped_column(sa.String(1000))
    #: Who provides it: a volunteer team, a resident unit (驻区单位), or someone named in words.
    provider_team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id", ondelete="SET NULL"))
    provider_unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orgs.id", ondelete="SET NULL"))
    provider_name: Mapped[str | None] = mapped_column(sa.String(60))
    location: Mapped[str] = mapped_column(sa.String(100))
    #: Withdrawn services take no bookings but keep their history.
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org: Mapped[Org] = relationship(foreign_keys=[org_id])
    provider_unit: Mapped[Org | None] = relationship(foreign_keys=[provider_unit_id])
    provider_team: Mapped[Team | None] = relationship()

    @property
    def provider_label(self) -> str | None:
        named = self.provider_team or self.provider_unit
        return named.name if named else self.provider_name


class ServiceSlot(db.Model):
    """A bookable time of a service item."""

    __tablename__ = "service_slots"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_item_id: Mapped[int] = mapped_column(sa.ForeignKey("service_items.id", ondelete="CASCADE"), index=True)
    slot_id: Mapped[int] = mapped_column(sa.ForeignKey("slots.id", ondelete="CASCADE"), unique=True)

    service_item: Mapped[ServiceItem] = relationship()
    slot: Mapped[Slot] = relationship()


class ServiceBooking(db.Model):
    """What a resident without an account left with a service booking: contact and receipt."""

    __tablename__ = "service_bookings"
    __table_args__ = (
        sa.UniqueConstraint("receipt_hash", name="uq_service_bookings_receipt_hash"),
        sa.UniqueConstraint("submit_token", name="uq_service_bookings_submit_token",
                            info=conflict_info("duplicate_submission", "该预约已提交")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("bookings.id", ondelete="CASCADE"), unique=True)
    #: sha256 of the receipt that lets the resident follow, cancel and rate.
    receipt_hash: Mapped[str] = mapped_column(sa.String(64))
    #: Keyed hash (HMAC-SHA256) of the form's random token; the same token twice is the same
    #: booking. The token itself is never stored (with it comes the receipt).
    submit_token: Mapped[str] = mapped_column(sa.String(64))
    contact_name: Mapped[str] = mapped_column(sa.String(30))
    #: Optional; shown masked to everyone but the provider's staff.
    contact_phone: Mapped[str | None] = mapped_column(sa.String(20))
    consent_version: Mapped[str] = mapped_column(sa.String(20))
    #: The signed-in resident who booked (a WeChat sign-in), so that 我的预约 finds it on any
    #: phone; NULL for a booking made without signing in (the receipt alone follows it).
    booked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"), index=True)
    #: When the provider marked the service delivered.
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: What the booking adds to the running service figures (`backend.services.figures`), as
    #: last counted; NULL: nothing.
    tallied: Mapped[str | None] = mapped_column(sa.String(60), deferred=True)

    booking: Mapped[Booking] = relationship()


class ServiceFigures(db.Model):
    """Running figures of the micro-services an org delivered, per (local) year, moved in the
    transaction of every change to a delivery, a rating or a service's time: what the star
    rating reads (deliveries in the year of their delivery, ratings in the year given)."""

    __tablename__ = "service_figures"
    __table_args__ = (sa.PrimaryKeyConstraint("org_id", "year", name="pk_service_figures"),
                      {"sqlite_with_rowid": False})

    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column()
    delivered: Mapped[int] = mapped_column(default=0)
    ratings: Mapped[int] = mapped_column(default=0)
    rating_sum: Mapped[int] = mapped_column(default=0)
