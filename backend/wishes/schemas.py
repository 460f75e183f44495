from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import sqlalchemy as sa
from marshmallow import ValidationError, validate, validates_schema

from backend.core import fields
from backend.core.paging import PageArgs
from backend.core.permissions import Actor
from backend.core.schemas import Schema
from backend.core.submissions import submit_token_field
from backend.orgs.models import Org
from backend.people.actors import actor_of, actors_of
from backend.people.schemas import Phone
from backend.wishes import service
from backend.wishes.models import Wish, WishEvent, WishStatus, status_label, urgency_label


class WishCreateSchema(Schema):
    qr = fields.String(validate=validate.Length(min=1, max=64))
    grid_id = fields.Integer(strict=True)
    title = fields.String(required=True, validate=validate.Length(min=2, max=40))
    content = fields.String(required=True, validate=validate.Length(min=2, max=500))
    category = fields.String(required=True, validate=validate.Length(max=20))
    urgency = fields.Integer(load_default=1, validate=validate.Range(min=1, max=3))
    contact_name = fields.String(allow_none=True, validate=validate.Length(max=30))
    contact_phone = Phone(allow_none=True)
    #: 楼栋/门牌, optional.
    location = fields.String(allow_none=True, validate=validate.Length(max=40))
    consent = fields.Boolean(required=True)
    #: Idempotency key: the same token twice creates one wish (a double tap).
    submit_token = submit_token_field()

    @validates_schema
    def _one_target(self, data, **kwargs):
        if ("qr" in data) == ("grid_id" in data):
            raise ValidationError("请通过二维码（qr）或网格（grid_id）之一提交", field_name="qr")


def present(wish: Wish, actor: Actor | None, *, receipt_holder: bool = False) -> dict:
    """One wish as this viewer may see it (WishSchema's fields), contact details as
    `service.contact_for` shows them, whose full views the service records once the answer is
    made."""
    return _seen(wish, actor, wish.grid, wish.community.name, wish.events,
                 service.contact_for(actor, wish, receipt_holder=receipt_holder), receipt_holder=receipt_holder)


def present_rows(rows: Sequence[sa.Row], actor: Actor | None) -> list[dict]:
    """The wishes of a list (rows of `service.listed`) as this viewer may see them, contact
    details masked for everyone (`service.masked_contact`): their timelines and their
    claimants' labels read together."""
    actors_of({row.claimant_id for row in rows})
    timelines = service.events_of([row.id for row in rows])
    return [_seen(row, actor, _ListedGrid(row.grid_name, row.grid_path), row.community_name, timelines[row.id],
                  service.masked_contact(row.contact_name, row.contact_phone)) for row in rows]


class _ListedGrid(NamedTuple):
    """A listed wish's grid as its row names it: its name, and its path for the roles over it."""

    name: str
    path: str


#: The answer's fields read as they are from the wish (a Wish, or a row of `service.listed`).
_AS_STORED = ("id", "title", "content", "category", "urgency", "status", "channel", "grid_id", "community_id",
              "fulfil_note", "rating", "rating_comment", "auto_confirmed", "reject_reason", "rejection_upheld_at",
              "created_at", "due_at", "fulfilled_at", "confirmed_at")


def _seen(wish: Wish | sa.Row, actor: Actor | None, grid: Org | _ListedGrid, community_name: str,
          events: Iterable[WishEvent | sa.Row], contact: service.Contact, *, receipt_holder: bool = False) -> dict:
    """What this viewer sees of a wish, one opened or one of a list: others' names masked,
    the viewer's own in full; the door and the photos only to those who see the contact."""
    claimant = service.label_for(actor, wish.claimant_id, service.actor_label(actor_of(wish.claimant_id), grid)) \
        if wish.claimant_id else None
    return {
        **{k: getattr(wish, k) for k in _AS_STORED},
        "urgency_label": urgency_label(wish.urgency),
        "status_label": status_label(wish.status),
        "events": [{"action": e.action, "actor_label": service.label_for(actor, e.actor_id, e.actor_label),
                    "note": e.note, "at": e.at} for e in events],
        "grid_name": grid.name,
        "community_name": community_name,
        "claimant_label": claimant,
        "is_mine": actor is not None and wish.claimant_id == actor.person_id,
        "contact_name": contact.name,
        "contact_phone": contact.phone,
        "contact_masked": contact.masked,
        # The door and the photos are as personal as the phone number: only for the same eyes (the
        # photos only for staff: the submitter has them on their phone).
        "location": None if contact.masked else wish.location,
        "photo_ids": [] if contact.masked or receipt_holder else [p.id for p in wish.photos],
    }


class EventSchema(Schema):
    action = fields.String()
    actor_label = fields.String()
    note = fields.String(allow_none=True)
    at = fields.AwareDateTime()


class WishSchema(Schema):
    id = fields.Integer()
    title = fields.String()
    content = fields.String()
    category = fields.String()
    urgency = fields.Integer()
    urgency_label = fields.String()
    status = fields.String()
    status_label = fields.String()
    channel = fields.String()
    grid_id = fields.Integer()
    grid_name = fields.String()
    community_id = fields.Integer()
    community_name = fields.String()
    claimant_label = fields.String(allow_none=True)
    is_mine = fields.Boolean(metadata={"description": "the viewer holds the claim"})
    contact_name = fields.String(allow_none=True)
    contact_phone = fields.String(allow_none=True, metadata={"description": "masked unless the viewer may see it"})
    contact_masked = fields.Boolean()
    location = fields.String(allow_none=True, metadata={"description": "楼栋/门牌; only to those who see the contact"})
    photo_ids = fields.List(fields.Integer(), metadata={
        "description": "photos sent with the wish (GET /h5/tasks/{id}/photos/{photo_id}); only to those who see "
                       "the contact"})
    fulfil_note = fields.String(allow_none=True)
    rating = fields.Integer(allow_none=True)
    rating_comment = fields.String(allow_none=True)
    auto_confirmed = fields.Boolean()
    reject_reason = fields.String(allow_none=True)
    rejection_upheld_at = fields.AwareDateTime(allow_none=True, metadata={
        "description": "when the street agreed the rejected wish did not belong (it then leaves the wish rates)"})
    created_at = fields.AwareDateTime()
    due_at = fields.AwareDateTime()
    fulfilled_at = fields.AwareDateTime(allow_none=True)
    confirmed_at = fields.AwareDateTime(allow_none=True)
    events = fields.List(fields.Nested(EventSchema))
    receipt = fields.String(metadata={"description": "only in the answer to the submission"})


class WishListArgs(PageArgs):
    grid_id = fields.Integer()
    status = fields.String(validate=validate.OneOf([s.value for s in WishStatus]))
    mine = fields.Boolean(load_default=False)


class ReceiptArgs(Schema):
    receipt = fields.String(validate=validate.Length(max=64))


class ReceiptsSchema(Schema):
    receipts = fields.List(fields.String(validate=validate.Length(max=64)), required=True,
                           validate=validate.Length(max=service.MAX_RECEIPTS))


class ReceiptStateSchema(Schema):
    receipt = fields.String()
    id = fields.Integer()
    title = fields.String()
    status = fields.String()
    status_label = fields.String()
    next_step = fields.String(metadata={"description": "what happens next, in the submitter's words"})
    awaits_you = fields.Boolean(metadata={"description": "fulfilled: the submitter is to confirm and rate (待您确认)"})
    created_at = fields.AwareDateTime()


def receipt_state(receipt: str, wish: Wish) -> dict:
    """One row of 我的心愿 for a receipt kept on the phone."""
    return {"receipt": receipt, "id": wish.id, "title": wish.title, "status": wish.status,
            "status_label": wish.status_label, "next_step": service.next_step(wish),
            "awaits_you": service.awaits_submitter(wish), "created_at": wish.created_at}


class NoteSchema(Schema):
    note = fields.String(validate=validate.Length(max=300))


class FulfilSchema(Schema):
    note = fields.String(required=True, validate=validate.Length(min=2, max=300))


class RejectSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=2, max=200))


class UpholdSchema(Schema):
    note = fields.String(required=True, validate=validate.Length(min=2, max=300))


class AssignSchema(Schema):
    person_id = fields.Integer(required=True, strict=True)


class ReceiptSchema(Schema):
    receipt = fields.String(required=True, validate=validate.Length(max=64))


class ConfirmSchema(ReceiptSchema):
    rating = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))
    comment = fields.String(validate=validate.Length(max=300))


class ReopenSchema(ReceiptSchema):
    note = fields.String(required=True, validate=validate.Length(min=2, max=300))


class WishStatsSchema(Schema):
    org_id = fields.Integer()
    from_ = fields.AwareDateTime(data_key="from", attribute="from")
    to = fields.AwareDateTime()
    submitted = fields.Integer(metadata={"description": "all wishes submitted in the period"})
    counted = fields.Integer(metadata={"description": "submitted, less those withdrawn and the rejections the "
                                                      "street upheld"})
    rejected = fields.Integer(metadata={"description": "of the counted, rejected (the street has not upheld them)"})
    rejections_upheld = fields.Integer(metadata={"description": "rejected, and the street agreed they did not belong"})
    unreviewed_overdue = fields.Integer(metadata={"description": "of the counted, waiting for review past the review "
                                                                 "window (WISH_REVIEW_HOURS) or the due time"})
    fulfilled = fields.Integer()
    confirmed = fields.Integer()
    auto_confirmed = fields.Integer(metadata={"description": "of the confirmed, confirmed by the rule"})
    confirmed_credit = fields.Float(metadata={"description": "confirmed, an automatic confirmation counting half "
                                                             "(S1 = confirmed_credit / counted)"})
    fulfilment_rate = fields.Float(allow_none=True, metadata={"description": "fulfilled / counted"})
    median_hours_to_claim = fields.Float(allow_none=True, metadata={
        "description": "a wish unclaimed past the review window (waiting, or rejected) counts its wait so far"})
    median_hours_to_fulfil = fields.Float(allow_none=True)
    mean_rating = fields.Float(allow_none=True)
    ratings = fields.Integer()
    overdue = fields.Integer(metadata={"description": "fulfilled after, or still open past, the due time; "
                                                      "unreviewed past the review window"})
    decided = fields.Integer(metadata={"description": "fulfilled, rejected, or overdue: whose timeliness is decided"})
    closed_on_time = fields.Integer(metadata={"description": "fulfilled by the due time"})
