from __future__ import annotations

from marshmallow import ValidationError, validates_schema

from backend.core import fields
from backend.core.paging import PageArgs
from backend.core.schemas import Schema
from backend.notifications import service


class InboxArgs(PageArgs):
    unread = fields.Boolean(load_default=False, metadata={"description": "only the unread ones"})


class NotificationSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "stable machine name, e.g. wish_assigned"})
    title = fields.Function(service.title_of)
    body = fields.String(attribute="message")
    url = fields.Function(service.link_of, metadata={"description": "the page to act on it, if any"})
    created_at = fields.AwareDateTime()
    read_at = fields.AwareDateTime(allow_none=True)


class InboxSchema(Schema):
    items = fields.List(fields.Nested(NotificationSchema), required=True)
    total = fields.Integer(required=True)
    unread = fields.Integer(required=True)


class MarkReadSchema(Schema):
    ids = fields.List(fields.Integer(strict=True), metadata={"description": "these; or all: true"})
    all = fields.Boolean(load_default=False)

    @validates_schema
    def _one_of(self, data, **kwargs):
        if not data.get("all") and not data.get("ids"):
            raise ValidationError("请给出要标记的消息，或 all: true", field_name="ids")


class DeliverySchema(Schema):
    id = fields.Integer()
    notification_id = fields.Integer()
    kind = fields.String(attribute="notification.kind")
    channel = fields.String()
    address = fields.String(metadata={"description": "masked once nothing more will be sent"})
    status = fields.String()
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
