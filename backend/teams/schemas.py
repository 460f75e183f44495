from __future__ import annotations

from flask import g
from marshmallow import validate

from backend.core import fields
from backend.core.paging import PageArgs
from backend.core.schemas import Schema
from backend.teams import service


class TeamCreateSchema(Schema):
    org_id = fields.Integer(required=True, strict=True, metadata={"description": "the community"})
    name = fields.String(required=True, validate=validate.Length(min=2, max=40))
    leader_id = fields.Integer(strict=True, allow_none=True)
    grid_id = fields.Integer(strict=True, allow_none=True, metadata={"description": "the grid it serves"})
    skills = fields.String(validate=validate.Length(max=200))
    description = fields.String(validate=validate.Length(max=500))


class TeamUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=2, max=40))
    leader_id = fields.Integer(strict=True, allow_none=True)
    grid_id = fields.Integer(strict=True, allow_none=True)
    skills = fields.String(validate=validate.Length(max=200))
    description = fields.String(validate=validate.Length(max=500))
    is_active = fields.Boolean(metadata={"description": "false disbands the team"})


class TeamListArgs(PageArgs):
    org_id = fields.Integer()


class JoinSchema(Schema):
    person_id = fields.Integer(strict=True, metadata={"description": "someone else (team managers); default: me"})
    skills = fields.String(validate=validate.Length(max=100))


class TeamMemberSchema(Schema):
    person_id = fields.Integer()
    name = fields.Method("_name")
    skills = fields.String(allow_none=True)
    joined_at = fields.AwareDateTime()
    is_leader = fields.Function(lambda m: m.person_id == m.team.leader_id)

    def _name(self, member):
        return service.member_name(g.get("actor"), member)


class TeamSchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    org_name = fields.Function(lambda t: t.org.name)
    grid_id = fields.Integer(allow_none=True)
    grid_name = fields.Function(lambda t: t.grid.name if t.grid else None)
    name = fields.String()
    skills = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    leader_id = fields.Integer(allow_none=True)
    leader_name = fields.Function(lambda t: t.leader.name if t.leader else None)
    is_active = fields.Boolean()
    member_count = fields.Function(lambda t: len(t.members))


class TeamDetailSchema(TeamSchema):
    members = fields.List(fields.Nested(TeamMemberSchema))
