from __future__ import annotations

from marshmallow import validate

from backend.bookings.schemas import TimeRangeSchema
from backend.core import fields
from backend.core.paging import PageArgs
from backend.core.schemas import Schema


class ActivityCreateSchema(TimeRangeSchema):
    org_id = fields.Integer(required=True, strict=True)
    title = fields.String(required=True, validate=validate.Length(min=2, max=60))
    description = fields.String(validate=validate.Length(max=1000))
    location = fields.String(required=True, validate=validate.Length(min=2, max=100))
    skills = fields.String(validate=validate.Length(max=200))
    capacity = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=10000))
    waitlist = fields.Boolean(load_default=True)
    signup_opens_at = fields.AwareDateTime()
    signup_closes_at = fields.AwareDateTime()
    cancel_cutoff_minutes = fields.Integer(load_default=120, validate=validate.Range(min=0, max=10080))
    team_id = fields.Integer(strict=True, allow_none=True, metadata={"description": "the team that runs it"})
    partner_unit_id = fields.Integer(strict=True, allow_none=True,
                                     metadata={"description": "resident unit co-organising it (共建)"})


class ActivitySchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    org_name = fields.String()
    title = fields.String()
    description = fields.String(allow_none=True)
    location = fields.String()
    skills = fields.String(allow_none=True)
    team_id = fields.Integer(allow_none=True)
    team_name = fields.String(allow_none=True)
    partner_unit_id = fields.Integer(allow_none=True)
    partner_unit_name = fields.String(allow_none=True)
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    capacity = fields.Integer()
    confirmed = fields.Integer()
    places_left = fields.Integer()
    waitlist = fields.Boolean()
    signup_opens_at = fields.AwareDateTime(allow_none=True)
    signup_closes_at = fields.AwareDateTime(allow_none=True)
    cancel_cutoff_minutes = fields.Integer()


class ActivityListArgs(PageArgs):
    org_id = fields.Integer()
    team_id = fields.Integer()
    date = fields.Date(metadata={"description": "activities starting on this local date"})
    skill = fields.String(validate=validate.Length(max=20))
    upcoming = fields.Boolean(load_default=True)


class BookingSchema(Schema):
    id = fields.Integer()
    slot_id = fields.Integer()
    person_id = fields.Integer(allow_none=True)
    status = fields.String()
    status_label = fields.String()
    created_at = fields.AwareDateTime()
    confirmed_at = fields.AwareDateTime(allow_none=True)
    cancelled_at = fields.AwareDateTime(allow_none=True)
    checked_in_at = fields.AwareDateTime(allow_none=True)
    checked_out_at = fields.AwareDateTime(allow_none=True)


class CheckinSchema(Schema):
    qr = fields.String(required=True, validate=validate.Length(max=64))
    action = fields.String(validate=validate.OneOf(["check_in", "check_out"]), metadata={
        "description": "what the volunteer meant; without it the first scan checks in and the next checks out"})


class CheckoutUndoArgs(Schema):
    reason = fields.String(validate=validate.Length(max=200), load_default=None)


class CheckoutUndoSchema(Schema):
    id = fields.Integer()
    booking_id = fields.Integer()
    checked_out_at = fields.AwareDateTime(metadata={"description": "the check-out time undone"})
    minutes = fields.Integer(metadata={"description": "minutes taken back from the volunteer"})
    points = fields.Integer(metadata={"description": "points taken back from the volunteer"})
    undone_by_id = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()


class CheckinResultSchema(Schema):
    result = fields.String(metadata={"description": "checked_in or checked_out"})
    booking = fields.Nested(BookingSchema)


class HoursEntrySchema(Schema):
    txn_id = fields.String()
    unit = fields.String()
    amount = fields.Integer()
    source_type = fields.String()
    source_id = fields.Integer()
    memo = fields.String()
    created_at = fields.AwareDateTime()


class HoursSchema(Schema):
    person_id = fields.Integer()
    hours = fields.Float()
    minutes = fields.Integer()
    points = fields.Integer()
    entries = fields.List(fields.Nested(HoursEntrySchema))


class CancelResultSchema(Schema):
    booking = fields.Nested(BookingSchema)
    promoted = fields.Nested(BookingSchema, allow_none=True,
                             metadata={"description": "the waitlisted booking that took the place"})
