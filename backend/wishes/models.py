"""Micro-wishes (微心愿): a resident's small concrete need, claimed and fulfilled by a party
member or volunteer, confirmed and rated by the resident."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.core.db import conflict_info
from backend.extensions import UTCDateTime, db, utcnow
from backend.orgs.models import Org, enum_check
from backend.people.models import Person


class WishStatus(enum.StrEnum):
    pending_review = "pending_review"
    open = "open"
    claimed = "claimed"
    fulfilled = "fulfilled"
    confirmed = "confirmed"
    rejected = "rejected"
    cancelled = "cancelled"


#: Not yet fulfilled nor closed: the states in which a wish can fall overdue.
WAITING = (WishStatus.pending_review, WishStatus.open, WishStatus.claimed)

STATUS_LABELS = {
    WishStatus.pending_review: "待审核",
    WishStatus.open: "待认领",
    WishStatus.claimed: "办理中",
    WishStatus.fulfilled: "待确认",
    WishStatus.confirmed: "已完成",
    WishStatus.rejected: "未受理",
    WishStatus.cancelled: "已撤回",
}

#: Urgency 1..3; the due time follows from it (WISH_DUE_HOURS).
URGENCY_LABELS = {1: "一般", 2: "较急", 3: "紧急"}

#: States in which the wish is finished and its contact details may be erased later.
CLOSED = {WishStatus.confirmed, WishStatus.rejected, WishStatus.cancelled}


def status_label(status: str) -> str:
    """A state as people read it (a wish's, or a listed row's)."""
    return STATUS_LABELS[WishStatus(status)]


def urgency_label(urgency: int) -> str:
    """An urgency as people read it."""
    return URGENCY_LABELS[urgency]


class WishChannel(enum.StrEnum):
    qr = "qr"
    staff_proxy = "staff_proxy"
    api = "api"


class Wish(db.Model):
    __tablename__ = "wishes"
    __table_args__ = (
        sa.CheckConstraint(enum_check("status", WishStatus), name="status"),
        sa.CheckConstraint(enum_check("channel", WishChannel), name="channel"),
        sa.CheckConstraint("urgency BETWEEN 1 AND 3", name="urgency"),
        sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating"),
        sa.CheckConstraint("status NOT IN ('claimed', 'fulfilled') OR claimant_id IS NOT NULL", name="claimant"),
        sa.CheckConstraint("rejection_upheld_at IS NULL OR status = 'rejected'", name="rejection_upheld"),
        sa.UniqueConstraint("receipt_hash", name="uq_wishes_receipt_hash"),
        sa.UniqueConstraint("submit_token", name="uq_wishes_submit_token",
                            info=conflict_info("duplicate_submission", "该心愿已提交")),
        sa.Index("ix_wishes_grid_id_status", "grid_id", "status"),
        sa.Index("ix_wishes_community_id_status", "community_id", "status"),
        sa.Index("ix_wishes_claimant_id_status", "claimant_id", "status"),
        # The live counts of `figures._read_open` seek by state within a grid's open wishes: a
        # grid's workload is found past its rejections awaiting a ruling, which are counted
        # from the index alone.
        sa.Index("ix_wishes_grid_id_figures_open", "grid_id", "figures_open", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The grid whose QR code (or leader) took the wish.
    grid_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="RESTRICT"))
    #: The grid's community, kept for the task board and statistics.
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="RESTRICT"))
    #: Short headline ("楼道灯坏了").
    title: Mapped[str] = mapped_column(sa.String(40))
    #: What is needed, in the resident's words.
    content: Mapped[str] = mapped_column(sa.String(500))
    #: One of the configured categories (WISH_CATEGORIES).
    category: Mapped[str] = mapped_column(sa.String(20))
    #: 1 一般, 2 较急, 3 紧急.
    urgency: Mapped[int] = mapped_column(default=1)
    #: Lifecycle state; see WishStatus and service.TRANSITIONS.
    status: Mapped[str] = mapped_column(sa.String(20))
    #: How it came in: qr (resident), staff_proxy (a grid leader for an elderly resident), api.
    channel: Mapped[str] = mapped_column(sa.String(12))
    #: Optional; erased N days after the wish closes.
    contact_name: Mapped[str | None] = mapped_column(sa.String(30))
    contact_phone: Mapped[str | None] = mapped_column(sa.String(20))
    #: 楼栋/门牌 ("3号楼2单元401"), optional; shown to those who see the contact, erased with it.
    location: Mapped[str | None] = mapped_column(sa.String(40))
    #: Privacy notice version the submitter agreed to, and when.
    consent_version: Mapped[str] = mapped_column(sa.String(20))
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: sha256 of the receipt secret that lets the submitter follow, confirm or cancel.
    receipt_hash: Mapped[str] = mapped_column(sa.String(64))
    #: Keyed hash (HMAC-SHA256) of the submit form's random token: a double tap sends it twice,
    #: the database keeps one wish. The token itself is never stored (with it comes the receipt).
    submit_token: Mapped[str | None] = mapped_column(sa.String(64))
    #: The signed-in submitter (a grid leader on behalf of someone, or a signed-in resident).
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    #: Who holds the claim now.
    claimant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Last sign of life from the claimant; a claim silent for too long is released.
    last_progress_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: First claim ever (for "hours to claim" even after releases).
    first_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fulfil_note: Mapped[str | None] = mapped_column(sa.String(300))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: 1..5 stars from the resident; NULL when confirmed automatically.
    rating: Mapped[int | None] = mapped_column()
    rating_comment: Mapped[str | None] = mapped_column(sa.String(300))
    #: True when confirmed by the rule, not the resident.
    auto_confirmed: Mapped[bool] = mapped_column(default=False)
    reject_reason: Mapped[str | None] = mapped_column(sa.String(200))
    #: When a street officer agreed that the rejected wish did not belong (who and why: its
    #: `rejection_upheld` timeline entry). Only then does it leave the wish rates; until then
    #: a rejection counts against the community that made it.
    rejection_upheld_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the wish should be done by (from urgency).
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When the community secretary was alerted (once).
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When it reached confirmed, rejected or cancelled.
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the contact details were erased.
    contact_erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: What the wish adds to the running figures (`backend.wishes.figures`), as last counted:
    #: the next change takes exactly this out before it adds the new share. NULL: nothing.
    tallied: Mapped[str | None] = mapped_column(sa.String(80), deferred=True)
    #: Whether some figure of the wish still moves with time alone (waiting for review, a
    #: claim or fulfilment): such wishes are read live, the others only through the tallies.
    figures_open: Mapped[bool] = mapped_column(default=False, server_default=sa.false(), deferred=True)

    grid: Mapped[Org] = relationship(foreign_keys=[grid_id])
    community: Mapped[Org] = relationship(foreign_keys=[community_id])
    claimant: Mapped[Person | None] = relationship(foreign_keys=[claimant_id])
    events: Mapped[list[WishEvent]] = relationship(back_populates="wish", order_by="WishEvent.id",
                                                   cascade="all, delete-orphan")
    photos: Mapped[list[WishPhoto]] = relationship(back_populates="wish", order_by="WishPhoto.id",
                                                   cascade="all, delete-orphan")

    @property
    def status_label(self) -> str:
        return status_label(self.status)

    @property
    def urgency_label(self) -> str:
        return urgency_label(self.urgency)

    # Overdue, one rule in two forms: past the due time before being fulfilled, or still
    # waiting for review `review_hours` (WISH_REVIEW_HOURS) after submission.
    def is_late(self, now: datetime, review_hours: int) -> bool:
        """Fulfilled after its due time, or not fulfilled and past it now, or still unreviewed
        past the review window (timeliness figures)."""
        unreviewed = self.status == WishStatus.pending_review and now > self.created_at + timedelta(hours=review_hours)
        return (self.fulfilled_at or now) > self.due_at or unreviewed

    @classmethod
    def overdue_clause(cls, now: datetime, review_hours: int):
        """SQL: still waiting (unreviewed, unclaimed or in hand) past its due time, or waiting
        for review past the review window — what is escalated to the secretary and what the
        street's board counts."""
        unreviewed = sa.and_(cls.status == WishStatus.pending_review.value,
                             cls.created_at < now - timedelta(hours=review_hours))
        return sa.and_(cls.status.in_([s.value for s in WAITING]), sa.or_(cls.due_at < now, unreviewed))


class WishEvent(db.Model):
    """The timeline: who did what, when. Append-only."""

    __tablename__ = "wish_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    wish_id: Mapped[int] = mapped_column(sa.ForeignKey("wishes.id", ondelete="CASCADE"), index=True)
    #: submitted, published, claimed, assigned, released, claim_expired, fulfilled, reopened,
    #: confirmed, auto_confirmed, rejected, rejection_upheld, cancelled, escalated, contact_erased.
    action: Mapped[str] = mapped_column(sa.String(20))
    #: The person who acted; NULL for the resident (receipt) and for rules.
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    #: How the actor is shown publicly: role and surname only ("网格长 张**", "居民", "系统").
    actor_label: Mapped[str] = mapped_column(sa.String(30))
    note: Mapped[str | None] = mapped_column(sa.String(300))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    wish: Mapped[Wish] = relationship(back_populates="events")


class WishPhoto(db.Model):
    """A photo the resident sent with the wish (up to WISH_MAX_PHOTOS), shrunk on the phone
    first. The bytes live in the file store by their SHA-256 (area `wishes`); only the claimant
    and the grid leader see them, as with the contact details, and they go with them."""

    __tablename__ = "wish_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    wish_id: Mapped[int] = mapped_column(sa.ForeignKey("wishes.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    extension: Mapped[str] = mapped_column(sa.String(8))
    content_type: Mapped[str] = mapped_column(sa.String(40))
    size: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    wish: Mapped[Wish] = relationship(back_populates="photos")
    #: The bytes between receiving and keeping them; never stored in the database.
    data = None


class WishContactView(db.Model):
    """Each time someone saw a wish's personal details in full: its contact details, or one
    of its photos (`what`)."""

    __tablename__ = "wish_contact_views"

    id: Mapped[int] = mapped_column(primary_key=True)
    wish_id: Mapped[int] = mapped_column(sa.ForeignKey("wishes.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: "contact" or "photo"; a string, not the photo's id, so the record outlives the photo's erasure.
    what: Mapped[str] = mapped_column(sa.String(10), default="contact", server_default="contact")


class WishFigures(db.Model):
    """Running figures of the wishes submitted in one grid in one (local) year, moved in the
    transaction of every change to a wish: what the star rating reads, so a write costs the
    same whatever the history. Only the settled share of each wish is here; what still moves
    with time is read live from the open wishes (`Wish.figures_open`)."""

    __tablename__ = "wish_figures"
    __table_args__ = (sa.PrimaryKeyConstraint("grid_id", "year", name="pk_wish_figures"),
                      {"sqlite_with_rowid": False})

    grid_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column()
    #: Every wish but those withdrawn and rejections the street upheld.
    counted: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    confirmed: Mapped[int] = mapped_column(default=0)
    auto_confirmed: Mapped[int] = mapped_column(default=0)
    #: Residents' ratings of confirmed wishes: how many, and their sum.
    ratings: Mapped[int] = mapped_column(default=0)
    rating_sum: Mapped[int] = mapped_column(default=0)
    #: Wishes whose timeliness is known (rejected, or fulfilled), and those done by their due time.
    decided: Mapped[int] = mapped_column(default=0)
    on_time: Mapped[int] = mapped_column(default=0)


class WishClaimTime(db.Model):
    """How many wishes of a grid and year were first claimed after so many tenths of an hour:
    the histogram the median time to claim is read from (exact at that resolution)."""

    __tablename__ = "wish_claim_times"
    __table_args__ = (sa.PrimaryKeyConstraint("grid_id", "year", "tenths", name="pk_wish_claim_times"),
                      {"sqlite_with_rowid": False})

    grid_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column()
    tenths: Mapped[int] = mapped_column()
    wishes: Mapped[int] = mapped_column(default=0)
