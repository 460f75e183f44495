"""The marshmallow fields every schema uses: marshmallow's own, bounded by what the database
and Python's datetime can hold. Schemas import `fields` from here and never from marshmallow,
so a new schema has the bounds without thinking of them (tests/test_architecture.py holds that).

- Integer: a 32-bit signed number, PostgreSQL's INTEGER (every id column). A larger number
  would fail inside the query on PostgreSQL, and beyond 2^63 on SQLite.
- Date, DateTime, AwareDateTime: years 1900 to 2100. Python's datetime ends at years 1 and
  9999, so 0001-01-01 or 9999-12-31T20:00-12:00 would overflow when turned into UTC or moved
  by a day; nothing this product records lies outside these two centuries.
"""

from __future__ import annotations

from datetime import date, datetime

from marshmallow import fields as _ma
from marshmallow import validate
from marshmallow.fields import (
    Boolean,
    Decimal,
    Dict,
    Email,
    Field,
    Float,
    Function,
    List,
    Method,
    Nested,
    Raw,
    String,
    Url,
)

__all__ = ["AwareDateTime", "Boolean", "Date", "DateTime", "Decimal", "Dict", "Email", "Field", "Float",
           "Function", "Integer", "List", "Method", "Nested", "Raw", "String", "Url"]

#: PostgreSQL's INTEGER, the type of every id and count column.
INT_MIN, INT_MAX = -(2 ** 31), 2 ** 31 - 1
#: The years a date or time may name.
YEAR_MIN, YEAR_MAX = 1900, 2100
OUT_OF_RANGE = "数值超出范围"
DATE_OUT_OF_RANGE = f"日期须在 {YEAR_MIN} 年至 {YEAR_MAX} 年之间"


class Integer(_ma.Integer):
    """A whole number the database can store (documented as its minimum and maximum)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.validators.insert(0, validate.Range(min=INT_MIN, max=INT_MAX, error=OUT_OF_RANGE))


class _Bounded:
    """Refuses a date or time whose year is outside YEAR_MIN..YEAR_MAX."""

    default_error_messages = {"range": DATE_OUT_OF_RANGE}

    def _deserialize(self, value, attr, data, **kwargs):
        result: date | datetime = super()._deserialize(value, attr, data, **kwargs)
        if not YEAR_MIN <= result.year <= YEAR_MAX:
            raise self.make_error("range")
        return result


class Date(_Bounded, _ma.Date):
    pass


class DateTime(_Bounded, _ma.DateTime):
    pass


class AwareDateTime(_Bounded, _ma.AwareDateTime):
    pass
