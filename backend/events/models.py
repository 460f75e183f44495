"""Domain events, written in the transaction of the change they describe (an outbox): the
rating engine and live dashboards read them; nothing is lost if a reader is down."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import UTCDateTime, db, utcnow


class DomainEvent(db.Model):
    __tablename__ = "domain_events"
    __table_args__ = (sa.Index("ix_domain_events_kind_id", "kind", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: e.g. "poll.result_changed".
    kind: Mapped[str] = mapped_column(sa.String(40))
    #: The org whose numbers changed (what a dashboard subscribes to).
    org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    payload: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
