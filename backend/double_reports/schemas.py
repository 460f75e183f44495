from __future__ import annotations

from marshmallow import validate

from backend.core import fields
from backend.core.paging import PageArgs
from backend.core.schemas import Schema
from backend.double_reports.models import ReportStatus


class ReportCreateSchema(Schema):
    community_id = fields.Integer(required=True, strict=True, metadata={"description": "where the member lives"})
    work_unit = fields.String(required=True, validate=validate.Length(min=2, max=100))
    offer = fields.String(validate=validate.Length(max=200), metadata={"description": "what they can offer"})
    year = fields.Integer(strict=True, metadata={"description": "default: this year"})


class ReportListArgs(PageArgs):
    org_id = fields.Integer(metadata={"description": "reports to this org's communities (staff); default: mine"})
    year = fields.Integer()
    status = fields.String(validate=validate.OneOf([s.value for s in ReportStatus]))


class ReportRejectSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=2, max=200))


class ReportSchema(Schema):
    id = fields.Integer()
    person_id = fields.Integer()
    person_name = fields.Function(lambda r: r.person.name)
    community_id = fields.Integer()
    community_name = fields.Function(lambda r: r.community.name)
    year = fields.Integer()
    work_unit = fields.String()
    offer = fields.String(allow_none=True)
    status = fields.String()
    status_label = fields.String()
    reported_at = fields.AwareDateTime()
    decided_at = fields.AwareDateTime(allow_none=True)
    reason = fields.String(allow_none=True)


class CommunitySchema(Schema):
    id = fields.Integer()
    name = fields.String()
    street_name = fields.Function(lambda org: org.parent.name)
