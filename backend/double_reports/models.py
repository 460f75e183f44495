"""Double reporting (双报到): an in-service party member reports to the residential community
where they live, once a year, and the community confirms."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.core.db import conflict_info
from backend.extensions import UTCDateTime, db, utcnow
from backend.orgs.models import Org, enum_check
from backend.people.models import Person


class ReportStatus(enum.StrEnum):
    pending = "pending"
    confirmed = "confirmed"
    rejected = "rejected"


REPORT_STATUS_LABELS = {
    ReportStatus.pending: "待社区确认",
    ReportStatus.confirmed: "已确认",
    ReportStatus.rejected: "未通过",
}


class DoubleReport(db.Model):
    __tablename__ = "double_reports"
    __table_args__ = (
        sa.CheckConstraint(enum_check("status", ReportStatus), name="status"),
        # Once a year: a rejected report may be replaced, a pending or confirmed one may not.
        sa.Index("uq_double_reports_person_year", "person_id", "year", unique=True,
                 sqlite_where=sa.text("status <> 'rejected'"),
                 postgresql_where=sa.text("status <> 'rejected'"),
                 info=conflict_info("already_reported", "本年度已报到")),
        sa.Index("ix_double_reports_community_id_year", "community_id", "year"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"))
    #: The residential community reported to.
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="RESTRICT"))
    year: Mapped[int] = mapped_column()
    #: The work unit at the time of reporting (a person may change jobs between years).
    work_unit: Mapped[str] = mapped_column(sa.String(100))
    #: What they can offer (e.g. 法律咨询、辅导功课), for matching to wishes and activities.
    offer: Mapped[str | None] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(10), default=ReportStatus.pending.value)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    #: Why a report was not accepted.
    reason: Mapped[str | None] = mapped_column(sa.String(200))

    person: Mapped[Person] = relationship(foreign_keys=[person_id])
    community: Mapped[Org] = relationship()

    @property
    def status_label(self) -> str:
        return REPORT_STATUS_LABELS[ReportStatus(self.status)]
