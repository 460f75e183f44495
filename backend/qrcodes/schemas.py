from __future__ import annotations

from flask import url_for
from marshmallow import validate

from backend.core import fields
from backend.core.paging import PageArgs
from backend.core.schemas import Schema
from backend.qrcodes.models import QrPurpose
from backend.qrcodes.service import short_url


class QrCodeCreateSchema(Schema):
    purpose = fields.String(required=True, validate=validate.OneOf([p.value for p in QrPurpose]))
    target_id = fields.Integer(required=True, strict=True)


class QrCodeSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    purpose = fields.String()
    purpose_label = fields.String()
    target_id = fields.Integer()
    org_id = fields.Integer()
    org_name = fields.Function(lambda qr: qr.org.name)
    active = fields.Boolean(attribute="is_active")
    url = fields.Function(short_url)
    png_url = fields.Function(lambda qr: url_for("qrcodes.png", qr_id=qr.id))
    svg_url = fields.Function(lambda qr: url_for("qrcodes.svg", qr_id=qr.id))
    poster_url = fields.Function(lambda qr: url_for("h5.qr_poster", qr_id=qr.id))
    created_at = fields.AwareDateTime()
    revoked_at = fields.AwareDateTime(allow_none=True)


class QrCodeListArgs(PageArgs):
    purpose = fields.String(validate=validate.OneOf([p.value for p in QrPurpose]))
    org_id = fields.Integer()
    active = fields.Boolean()
