"""Reporting periods given as inclusive local dates (default: this year so far)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from marshmallow import ValidationError, validates_schema

from backend.core import fields
from backend.core.schemas import Schema
from backend.core.timeutil import local_zone


class PeriodArgs(Schema):
    """Inclusive local dates; default: 1 January of this year to today."""

    from_ = fields.Date(data_key="from")
    to = fields.Date()

    @validates_schema
    def _order(self, data, **kwargs):
        if "from_" in data and "to" in data and data["from_"] > data["to"]:
            raise ValidationError("开始日期不能晚于结束日期", field_name="from")


def period(args) -> tuple[datetime, datetime]:
    """Inclusive local dates → [start, end) aware datetimes."""
    zone = local_zone()
    today = datetime.now(zone).date()
    start = args.get("from_") or today.replace(month=1, day=1)
    end = (args.get("to") or today) + timedelta(days=1)
    return datetime.combine(start, time(), zone), datetime.combine(end, time(), zone)


def years_of(start: datetime, end: datetime) -> range:
    """Calendar years (local) that [start, end) touches."""
    zone = local_zone()
    return range(start.astimezone(zone).year, (end - timedelta(microseconds=1)).astimezone(zone).year + 1)


def day_range(day: date) -> tuple[datetime, datetime]:
    """A local calendar day as [start, end) aware datetimes."""
    start = datetime.combine(day, time(), local_zone())
    return start, start + timedelta(days=1)
