"""Secret calendar feed addresses: a phone calendar subscribes without signing in."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import UTCDateTime, db, utcnow


class CalendarFeed(db.Model):
    __tablename__ = "calendar_feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: One live address per person; making a new one replaces (revokes) the old.
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"), unique=True)
    #: sha256 of the secret in the address; the secret itself is never stored.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Last time a calendar fetched it, so a person can tell whether the subscription works.
    last_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
