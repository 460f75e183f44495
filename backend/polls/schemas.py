from __future__ import annotations

from marshmallow import ValidationError, validate, validates_schema

from backend.core import fields
from backend.core.paging import PageArgs
from backend.core.schemas import Schema
from backend.polls.models import Audience, Mode, QuestionKind


class QuestionCreateSchema(Schema):
    text = fields.String(required=True, validate=validate.Length(min=2, max=200))
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in QuestionKind]))
    options = fields.List(fields.String(validate=validate.Length(min=1, max=60)), validate=validate.Length(max=20))
    multiple = fields.Boolean(load_default=False)
    required = fields.Boolean(load_default=True)
    criterion_code = fields.String(validate=validate.Length(max=16))
    weight = fields.Float(validate=validate.Range(min=0, max=100))


class PollCreateSchema(Schema):
    org_id = fields.Integer(required=True, strict=True)
    period_id = fields.Integer(strict=True, allow_none=True)
    title = fields.String(required=True, validate=validate.Length(min=2, max=80))
    description = fields.String(validate=validate.Length(max=500))
    audience = fields.String(required=True, validate=validate.OneOf([a.value for a in Audience]))
    modes = fields.List(fields.String(validate=validate.OneOf([m.value for m in Mode])),
                        validate=validate.Length(min=1, max=3),
                        metadata={"description": "account (default), code, device"})
    questions = fields.List(fields.Nested(QuestionCreateSchema), required=True,
                            validate=validate.Length(min=1, max=50))
    opens_at = fields.AwareDateTime(required=True)
    closes_at = fields.AwareDateTime(required=True)

    @validates_schema
    def _window(self, data, **kwargs):
        if "opens_at" in data and "closes_at" in data and data["closes_at"] <= data["opens_at"]:
            raise ValidationError("结束时间须晚于开始时间", field_name="closes_at")


class QuestionSchema(Schema):
    id = fields.Integer()
    position = fields.Integer()
    text = fields.String()
    kind = fields.String()
    options = fields.List(fields.String(), allow_none=True)
    multiple = fields.Boolean()
    required = fields.Boolean()
    criterion_code = fields.String(allow_none=True)
    weight = fields.Float(allow_none=True)


class PollSchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    org_name = fields.Function(lambda p: p.org.name)
    period_id = fields.Integer(allow_none=True)
    title = fields.String()
    description = fields.String(allow_none=True)
    audience = fields.String()
    audience_label = fields.String()
    opens_at = fields.AwareDateTime()
    closes_at = fields.AwareDateTime()
    state = fields.Function(lambda p: p.state(), metadata={"description": "scheduled, open or closed"})
    modes = fields.List(fields.String())
    questions = fields.List(fields.Nested(QuestionSchema))


class PollListArgs(PageArgs):
    org_id = fields.Integer()


class AnswerSchema(Schema):
    question_id = fields.Integer(required=True, strict=True)
    value = fields.Raw(allow_none=True, metadata={"description": "rating5: 1..5; choice: index or [indexes]; text"})


class ResponseCreateSchema(Schema):
    answers = fields.List(fields.Nested(AnswerSchema), required=True, validate=validate.Length(max=50))
    qr = fields.String(validate=validate.Length(max=64), metadata={"description": "the poll QR scanned"})
    code = fields.String(validate=validate.Length(max=16), metadata={"description": "a one-time code"})
    device = fields.String(validate=validate.Length(min=16, max=64),
                           metadata={"description": "a random id the client keeps (open-QR polls)"})


class ResponseCreatedSchema(Schema):
    id = fields.Integer()
    mode = fields.String()
    status = fields.String()


class CodesCreateSchema(Schema):
    count = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=500))
    grid_id = fields.Integer(strict=True, allow_none=True)


class CodeSchema(Schema):
    code = fields.String()
    grid_id = fields.Integer(allow_none=True)


class ReviewSchema(Schema):
    decision = fields.String(required=True, validate=validate.OneOf(["accept", "exclude"]))


class FlaggedSchema(Schema):
    id = fields.Integer()
    mode = fields.String()
    grid_id = fields.Integer(allow_none=True)
    submitted_at = fields.AwareDateTime()
    status = fields.String()
