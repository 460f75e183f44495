"""Volunteer activities (志愿活动): one slot each, run by a community."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.bookings.models import Slot
from backend.extensions import UTCDateTime, db, utcnow
from backend.orgs.models import Org
from backend.teams.models import Team


class Activity(db.Model):
    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The community that runs it.
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(sa.String(60))
    description: Mapped[str | None] = mapped_column(sa.String(1000))
    location: Mapped[str] = mapped_column(sa.String(100))
    #: Skills wanted, comma-separated (e.g. 理发,陪诊).
    skills: Mapped[str | None] = mapped_column(sa.String(200))
    #: The places and times.
    slot_id: Mapped[int] = mapped_column(sa.ForeignKey("slots.id", ondelete="RESTRICT"), unique=True)
    #: The volunteer team that runs it, when a team leader organised it.
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    #: A resident unit (驻区单位) it is co-organised with (共建活动).
    partner_unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orgs.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org: Mapped[Org] = relationship(foreign_keys=[org_id])
    slot: Mapped[Slot] = relationship()
    team: Mapped[Team | None] = relationship()
    partner_unit: Mapped[Org | None] = relationship(foreign_keys=[partner_unit_id])


class CheckoutUndo(db.Model):
    """An organiser undoing a mistaken check-out: the attendance reopens, and the credit it
    earned is reversed in the hours book under this row's id, so each undo is in the book once."""

    __tablename__ = "checkout_undos"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("bookings.id", ondelete="CASCADE"), index=True)
    #: The check-out time that was undone.
    checked_out_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Minutes and points the reversed credit had (0 when it credited nothing).
    minutes: Mapped[int] = mapped_column(default=0)
    points: Mapped[int] = mapped_column(default=0)
    undone_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
