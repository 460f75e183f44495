from __future__ import annotations

from marshmallow import validate

from backend.core import fields
from backend.core.schemas import Schema
from backend.people.schemas import MeSchema


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=50))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=128))


class TokenSchema(Schema):
    token = fields.String(required=True)
    token_type = fields.String(dump_default="Bearer")
    expires_at = fields.AwareDateTime()
    user = fields.Nested(MeSchema)
