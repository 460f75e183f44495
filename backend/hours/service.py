"""Posting to the volunteer hours-and-points book. Each posting is balanced by construction."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from backend.core.db import conflict_for
from backend.extensions import db
from backend.hours.models import AccountKind, HoursEntry, Unit


def points_for(minutes: int, roles: set[str]) -> int:
    """Points for volunteer time: hours × the best per-role rate (POINTS_PER_HOUR)."""
    rates = current_app.config["POINTS_PER_HOUR"]
    rate = max((rates[r] for r in roles if r in rates), default=rates["default"])
    return round(minutes * rate / 60)


def post(*, person_id: int, org_id: int, source_type: str, source_id: int, memo: str,
         minutes: int = 0, points: int = 0) -> str | None:
    """Credit the person and debit the org by the same amounts, in one transaction id.

    Returns the transaction id, or None when there was nothing to post."""
    txn = uuid.uuid4().hex
    rows = []
    for unit, amount in ((Unit.minutes, minutes), (Unit.points, points)):
        if amount:
            rows += [HoursEntry(txn_id=txn, account_kind=AccountKind.person.value, account_id=person_id,
                                 unit=unit.value, amount=amount, source_type=source_type, source_id=source_id,
                                 memo=memo),
                     HoursEntry(txn_id=txn, account_kind=AccountKind.org.value, account_id=org_id,
                                 unit=unit.value, amount=-amount, source_type=source_type, source_id=source_id,
                                 memo=memo)]
    if not rows:
        return None
    try:
        with db.session.begin_nested():
            db.session.add_all(rows)
    except IntegrityError as exc:  # the same source credited twice: refused, nothing half-posted
        raise conflict_for(exc) from exc
    return txn


def already_posted(source_type: str, source_id: int) -> bool:
    """Whether this source (a booking, a wish) has been credited already."""
    return db.session.scalar(sa.select(sa.exists().where(
        HoursEntry.source_type == source_type, HoursEntry.source_id == source_id))) or False


def credited(source_type: str, source_id: int) -> dict[str, int]:
    """{"minutes": n, "points": n} a source credited to its person: what reversing it takes back."""
    rows = db.session.execute(sa.select(HoursEntry.unit, sa.func.sum(HoursEntry.amount)).where(
        HoursEntry.source_type == source_type, HoursEntry.source_id == source_id,
        HoursEntry.account_kind == AccountKind.person.value).group_by(HoursEntry.unit))
    totals = {u.value: 0 for u in Unit}
    totals.update({unit: int(total) for unit, total in rows})
    return totals


def balance(kind: str, account_id: int) -> dict[str, int]:
    """{"minutes": n, "points": n} for one account: the sum of its entries."""
    rows = db.session.execute(sa.select(HoursEntry.unit, sa.func.sum(HoursEntry.amount)).where(
        HoursEntry.account_kind == kind, HoursEntry.account_id == account_id).group_by(HoursEntry.unit))
    totals = {u.value: 0 for u in Unit}
    totals.update({unit: int(total) for unit, total in rows})
    return totals


def entries(kind: str, account_id: int) -> sa.Select:
    """One account's entries, newest first (a statement, for paging)."""
    return sa.select(HoursEntry).where(HoursEntry.account_kind == kind, HoursEntry.account_id == account_id) \
        .order_by(HoursEntry.created_at.desc(), HoursEntry.id.desc())


def trial_balance() -> dict[str, int]:
    """Sum of every entry per unit: zero in a healthy ledger."""
    rows = db.session.execute(sa.select(HoursEntry.unit, sa.func.sum(HoursEntry.amount)).group_by(HoursEntry.unit))
    totals = {u.value: 0 for u in Unit}
    totals.update({unit: int(total) for unit, total in rows})
    return totals
