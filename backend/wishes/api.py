from __future__ import annotations

from flask_smorest import Blueprint

from backend.auth.current import current_actor, require_actor
from backend.core.db import begin_write, commit
from backend.core.errors import Forbidden, NotFound
from backend.core.paging import page_of, paginate
from backend.core.periods import PeriodArgs, period
from backend.core.permissions import authorize
from backend.core.privacy import mask_name, mask_phone
from backend.extensions import db
from backend.orgs.models import Org
from backend.people.actors import actor_of
from backend.people.models import Person, Role
from backend.qrcodes import service as qr_service
from backend.qrcodes.models import QrPurpose
from backend.wishes import service
from backend.wishes.models import Wish, WishChannel
from backend.wishes.schemas import (
    AssignSchema,
    ConfirmSchema,
    FulfilSchema,
    NoteSchema,
    ReceiptArgs,
    ReceiptSchema,
    RejectSchema,
    ReopenSchema,
    WishCreateSchema,
    WishListArgs,
    WishSchema,
    WishStatsSchema,
)

blp = Blueprint("wishes", __name__, url_prefix="/api/v1", description="微心愿")


def present(wish: Wish, *, receipt_holder: bool = False) -> dict:
    """The wish as this viewer may see it. Full contact details are logged when shown to staff."""
    actor = current_actor()
    full = receipt_holder or service.sees_full_contact(actor, wish)
    if full and actor is not None and not receipt_holder and (wish.contact_name or wish.contact_phone):
        service.log_contact_view(actor, wish)
    claimant = service.actor_label(actor_of(wish.claimant_id), wish) if wish.claimant_id else None
    return {
        **{k: getattr(wish, k) for k in (
            "id", "title", "content", "category", "urgency", "urgency_label", "status", "status_label", "channel",
            "grid_id", "community_id", "fulfil_note", "rating", "rating_comment", "auto_confirmed",
            "reject_reason", "created_at", "due_at", "fulfilled_at", "confirmed_at", "events")},
        "grid_name": wish.grid.name,
        "community_name": wish.community.name,
        "claimant_label": claimant,
        "is_mine": actor is not None and wish.claimant_id == actor.person.id,
        "contact_name": wish.contact_name if full else (mask_name(wish.contact_name) if wish.contact_name else None),
        "contact_phone": wish.contact_phone if full else mask_phone(wish.contact_phone),
        "contact_masked": not full,
    }


def _target_grid(args) -> tuple[Org, str]:
    if "qr" in args:
        qr = qr_service.resolve(args["qr"])
        if qr.purpose != QrPurpose.wish.value:
            raise NotFound("该二维码不能用于提交心愿", code="unknown_code")
        return db.session.get(Org, qr.target_id), WishChannel.qr.value
    actor = require_actor()
    grid = db.session.get(Org, args["grid_id"])
    authorize(actor, "org.view", grid)
    staff = actor.roles_over(grid) & {Role.grid_leader, Role.grid_member, Role.secretary}
    return grid, (WishChannel.staff_proxy if staff else WishChannel.api).value


@blp.post("/wishes")
@blp.arguments(WishCreateSchema)
@blp.response(201, WishSchema)
@blp.alt_response(200, description="the same submit_token again: the wish it created")
def submit(args):
    """Submit a wish through a grid's QR code (`qr`, no account) or, signed in, for a grid (`grid_id`)."""
    grid, channel = _target_grid(args)
    fields = {k: args.get(k) for k in ("title", "content", "category", "urgency", "contact_name",
                                       "contact_phone", "submit_token")}
    result = service.submit(grid=grid, consent=args["consent"], actor=current_actor(), channel=channel, **fields)
    commit()
    return {**present(result.wish, receipt_holder=True), "receipt": result.receipt}, 201 if result.created else 200


@blp.get("/wishes")
@blp.arguments(WishListArgs, location="query")
@blp.response(200, page_of(WishSchema))
def list_wishes(args):
    """Wishes on the board of the signed-in person, most urgent and oldest first."""
    actor = require_actor()
    grid = None
    if "grid_id" in args:
        grid = db.session.get(Org, args["grid_id"])
        authorize(actor, "org.view", grid)
    page = paginate(service.board(actor, status=args.get("status"), grid=grid, mine=args["mine"]),
                    args["page"], args["per_page"])
    begin_write()
    page["items"] = [present(w) for w in page["items"]]
    commit()
    return page


@blp.get("/wishes/<int:wish_id>")
@blp.arguments(ReceiptArgs, location="query")
@blp.response(200, WishSchema)
def get_wish(args, wish_id):
    """One wish, for staff who may see it or for the holder of its receipt."""
    receipt = args.get("receipt")
    wish = service.get_visible(None if receipt else require_actor(), wish_id, receipt)
    begin_write()
    body = present(wish, receipt_holder=bool(receipt))
    commit()
    return body


def _staff_action(wish_id: int, act):
    actor = require_actor()
    wish = db.session.get(Wish, wish_id)
    authorize(actor, "wish.view", wish)
    act(actor, wish)
    commit()
    return present(wish)


@blp.post("/wishes/<int:wish_id>/claim")
@blp.response(200, WishSchema)
@blp.alt_response(409, description="already_claimed, too_many_claims, own_wish, invalid_state")
def claim(wish_id):
    """Take the wish on; exactly one claimant wins."""
    return _staff_action(wish_id, service.claim)


@blp.post("/wishes/<int:wish_id>/release")
@blp.arguments(NoteSchema)
@blp.response(200, WishSchema)
def release(args, wish_id):
    """Back to the board (the claimant, or the grid leader)."""
    return _staff_action(wish_id, lambda actor, wish: service.release(actor, wish, args.get("note")))


@blp.post("/wishes/<int:wish_id>/fulfil")
@blp.arguments(FulfilSchema)
@blp.response(200, WishSchema)
def fulfil(args, wish_id):
    """The claimant marks it done, with a note for the resident."""
    return _staff_action(wish_id, lambda actor, wish: service.fulfil(actor, wish, args["note"]))


@blp.post("/wishes/<int:wish_id>/assign")
@blp.arguments(AssignSchema)
@blp.response(200, WishSchema)
def assign(args, wish_id):
    """A grid leader gives an open wish to a member."""
    def act(actor, wish):
        member = db.session.get(Person, args["person_id"])
        if member is None:
            raise NotFound("找不到该成员")
        service.assign(actor, wish, member)
    return _staff_action(wish_id, act)


@blp.post("/wishes/<int:wish_id>/publish")
@blp.response(200, WishSchema)
def publish(wish_id):
    """Moderation: let a pending wish onto the board."""
    return _staff_action(wish_id, service.publish)


@blp.post("/wishes/<int:wish_id>/reject")
@blp.arguments(RejectSchema)
@blp.response(200, WishSchema)
def reject(args, wish_id):
    """Turn down content that does not belong, with a reason the resident sees."""
    return _staff_action(wish_id, lambda actor, wish: service.reject(actor, wish, args["reason"]))


def _receipt_action(wish_id: int, receipt: str, act):
    wish = service.get_visible(None, wish_id, receipt)
    act(wish)
    commit()
    return present(wish, receipt_holder=True)


@blp.post("/wishes/<int:wish_id>/confirm")
@blp.arguments(ConfirmSchema)
@blp.response(200, WishSchema)
def confirm(args, wish_id):
    """The submitter confirms the fulfilled wish and rates it 1–5."""
    return _receipt_action(wish_id, args["receipt"],
                           lambda wish: service.confirm(wish, args["rating"], args.get("comment")))


@blp.post("/wishes/<int:wish_id>/reopen")
@blp.arguments(ReopenSchema)
@blp.response(200, WishSchema)
def reopen(args, wish_id):
    """"还没办好": back to the claimant with the submitter's note."""
    return _receipt_action(wish_id, args["receipt"], lambda wish: service.reopen(wish, args["note"]))


@blp.post("/wishes/<int:wish_id>/cancel")
@blp.arguments(ReceiptSchema)
@blp.response(200, WishSchema)
def cancel(args, wish_id):
    """The submitter withdraws the wish."""
    return _receipt_action(wish_id, args["receipt"], service.cancel)


@blp.get("/orgs/<int:org_id>/wish-stats")
@blp.arguments(PeriodArgs, location="query")
@blp.response(200, WishStatsSchema)
def wish_stats(args, org_id):
    """Submitted, fulfilled, confirmed, fulfilment rate, median hours to claim and fulfil, mean
    rating and overdue count for a grid, community or street over any period."""
    actor = require_actor()
    org = db.session.get(Org, org_id)
    authorize(actor, "org.view", org)
    if not (actor.is_staff_over(org) or actor.is_admin):
        raise Forbidden()
    return service.wish_stats(org, *period(args))


