from __future__ import annotations

import re

from marshmallow import ValidationError, validate, validates, validates_schema

from backend.core import fields
from backend.core.paging import PageArgs
from backend.core.privacy import phone_for_viewer
from backend.core.schemas import Schema
from backend.people.models import Role

PHONE_RE = re.compile(r"^1\d{10}$")
PHONE_MESSAGE = "请填写 11 位手机号"
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,50}$")


def load_phone(value) -> str | None:
    """The one phone rule, for people and for residents' contact details: blank means no
    number; otherwise a mainland mobile number, 11 digits starting with 1 (spaces around it are
    dropped, anything that is not text is refused)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not PHONE_RE.match(value.strip()):
        raise ValidationError(PHONE_MESSAGE)
    return value.strip()


class Phone(fields.String):
    """A phone number field: load_phone on the way in."""

    def _deserialize(self, value, attr, data, **kwargs):
        return load_phone(value)


class MembershipSchema(Schema):
    id = fields.Integer(dump_only=True)
    person_id = fields.Integer(dump_only=True)
    org_id = fields.Integer(dump_only=True, allow_none=True)
    org_name = fields.Function(lambda m: m.org.name if m.org else None, dump_only=True)
    org_kind = fields.Function(lambda m: m.org.kind if m.org else None, dump_only=True)
    role = fields.String(dump_only=True)
    role_label = fields.String(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)


class PersonSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    username = fields.String(allow_none=True,
                             validate=validate.Regexp(USERNAME_RE, error="用户名为 3–50 位字母、数字或 _ . -"))
    password = fields.String(load_only=True, validate=validate.Length(min=8, max=128, error="密码至少 8 位"))
    phone = fields.Method("dump_phone", deserialize="load_phone", allow_none=True)
    is_party_member = fields.Boolean(load_default=False)
    is_in_service = fields.Boolean(load_default=False)
    is_mobile = fields.Boolean(load_default=False)
    is_retired = fields.Boolean(load_default=False)
    home_community_id = fields.Integer(allow_none=True, load_default=None)
    work_unit = fields.String(allow_none=True, validate=validate.Length(max=100))
    is_active = fields.Boolean(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)

    def dump_phone(self, person):
        return phone_for_viewer(person.phone, person.id)

    def load_phone(self, value):
        return load_phone(value)

    @validates("username")
    def _username_lower(self, value, data_key, **kwargs):
        if value is not None and value != value.strip():
            raise ValidationError("用户名不能包含空格")

    @validates_schema
    def _login_pair(self, data, **kwargs):
        if (data.get("username") is None) != (data.get("password") is None):
            raise ValidationError("用户名和密码需同时填写",
                                  field_name="username" if data.get("username") is None else "password")
        if data.get("is_in_service") and not data.get("is_party_member"):
            raise ValidationError("在职党员须为党员", field_name="is_in_service")


class MeSchema(PersonSchema):
    memberships = fields.List(fields.Nested(MembershipSchema), dump_only=True)
    is_admin = fields.Function(
        lambda p: any(m.role == Role.admin.value and m.org_id is None for m in p.memberships), dump_only=True)


class PersonListArgs(PageArgs):
    q = fields.String(validate=validate.Length(max=50))


class MemberCreateSchema(Schema):
    person_id = fields.Integer(required=True)
    role = fields.String(required=True, validate=validate.OneOf([r.value for r in Role]))


class MemberSchema(MembershipSchema):
    person = fields.Nested(PersonSchema, dump_only=True)


class MemberListArgs(PageArgs):
    role = fields.String(validate=validate.OneOf([r.value for r in Role]))
