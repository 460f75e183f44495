"""Sign-in state that must be revocable: access tokens."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.extensions import UTCDateTime, db, utcnow
from backend.people.models import Person


class AuthToken(db.Model):
    """A bearer token (API) or an H5 session; only its SHA-256 is stored."""

    __tablename__ = "auth_tokens"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('bearer', 'session')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: sha256 hex of the secret; the secret itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: bearer (API clients) or session (H5 cookie).
    kind: Mapped[str] = mapped_column(sa.String(10))
    #: Whose token.
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"), index=True)
    #: Issued at.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Not valid from this moment on.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Set by logout; a revoked token never works again.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship()
