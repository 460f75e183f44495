from __future__ import annotations

from marshmallow import ValidationError, validates_schema

from backend.core import fields
from backend.core.schemas import Schema


class TimeRangeSchema(Schema):
    """Start and end of something bookable; the end comes after the start."""

    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)

    @validates_schema
    def _order(self, data, **kwargs):
        if "starts_at" in data and "ends_at" in data and data["ends_at"] <= data["starts_at"]:
            raise ValidationError("结束时间须晚于开始时间", field_name="ends_at")
