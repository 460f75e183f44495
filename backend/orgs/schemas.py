from __future__ import annotations

from marshmallow import validate

from backend.core import fields
from backend.core.paging import PageArgs
from backend.core.schemas import Schema
from backend.orgs.models import OrgKind


class OrgSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in OrgKind]))
    parent_id = fields.Integer(allow_none=True, load_default=None)
    kind_label = fields.String(dump_only=True)
    households = fields.Integer(dump_only=True, allow_none=True,
                                metadata={"description": "communities: 户数 (set by a roster import)"})
    buildings = fields.String(dump_only=True, allow_none=True,
                              metadata={"description": "grids: the buildings covered, as written"})
    created_at = fields.AwareDateTime(dump_only=True)


class OrgListArgs(PageArgs):
    kind = fields.String(validate=validate.OneOf([k.value for k in OrgKind]))
    parent_id = fields.Integer()
