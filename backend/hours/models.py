"""Volunteer hours and points as a double-entry ledger: every credit to a person has its
matching debit on the organising org, so all balances sum to zero and any balance is the
sum of its entries."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import conflict_info
from backend.extensions import UTCDateTime, db, utcnow
from backend.orgs.models import enum_check


class Unit(enum.StrEnum):
    minutes = "minutes"
    points = "points"


class AccountKind(enum.StrEnum):
    person = "person"
    org = "org"


class HoursEntry(db.Model):
    __tablename__ = "hours_entries"
    __table_args__ = (
        sa.CheckConstraint(enum_check("unit", Unit), name="unit"),
        sa.CheckConstraint(enum_check("account_kind", AccountKind), name="account_kind"),
        sa.CheckConstraint("amount <> 0", name="amount"),
        # One credit per source and unit: re-running a check-out or a job credits nothing twice.
        sa.UniqueConstraint("source_type", "source_id", "unit", "account_kind", name="uq_hours_entries_source",
                            info=conflict_info("already_credited", "已记录过")),
        sa.Index("ix_hours_entries_account", "account_kind", "account_id", "unit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Entries of one transaction share it; a transaction's amounts sum to zero per unit.
    txn_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    #: person (a volunteer's balance) or org (what the organising org has given out).
    account_kind: Mapped[str] = mapped_column(sa.String(8))
    account_id: Mapped[int] = mapped_column()
    #: minutes (volunteer time) or points.
    unit: Mapped[str] = mapped_column(sa.String(8))
    #: Signed whole number: + credit, − debit.
    amount: Mapped[int] = mapped_column()
    #: What earned it: "booking" (attended activity) or "wish" (a confirmed micro-wish).
    source_type: Mapped[str] = mapped_column(sa.String(12))
    source_id: Mapped[int] = mapped_column()
    #: Shown to the person ("敬老院理发 2 小时").
    memo: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
