from __future__ import annotations

from flask_smorest.fields import Upload

from backend.core import fields
from backend.core.schemas import Schema


class RosterImportArgs(Schema):
    org_id = fields.Integer(required=True, metadata={"description": "the street or community to import into"})
    dry_run = fields.Boolean(load_default=False, metadata={"description": "check only: report, write nothing"})


class RosterFileSchema(Schema):
    file = Upload(required=True, metadata={"description": "the filled-in template (.xlsx)"})


class RosterErrorSchema(Schema):
    sheet = fields.String(metadata={"description": "工作表, e.g. 党员"})
    row = fields.Integer(metadata={"description": "Excel row number (the header is row 1)"})
    column = fields.String(metadata={"description": "the column's header, e.g. 手机号"})
    cell = fields.String(metadata={"description": "e.g. C12; empty for a missing column"})
    message = fields.String()


class RosterSheetSchema(Schema):
    sheet = fields.String()
    rows = fields.Integer()
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()


class RosterCountsSchema(Schema):
    orgs_created = fields.Integer()
    orgs_updated = fields.Integer()
    people_created = fields.Integer()
    people_updated = fields.Integer()
    memberships_created = fields.Integer()


class RosterReportSchema(Schema):
    org_id = fields.Function(lambda report: report.org.id)
    dry_run = fields.Boolean()
    imported = fields.Boolean()
    ok = fields.Boolean()
    errors = fields.List(fields.Nested(RosterErrorSchema))
    sheets = fields.List(fields.Nested(RosterSheetSchema))
    counts = fields.Nested(RosterCountsSchema)
