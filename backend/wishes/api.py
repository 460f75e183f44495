from __future__ import annotations

from flask_smorest import Blueprint

from backend.auth.current import client_ip, current_actor, require_actor
from backend.core.db import commit
from backend.core.paging import PageArgs, page_of, paginate_rows
from backend.core.periods import PeriodArgs, period
from backend.stats.service import figures_org
from backend.wishes import service
from backend.wishes.schemas import (
    AssignSchema,
    ConfirmSchema,
    FulfilSchema,
    NoteSchema,
    ReceiptArgs,
    ReceiptSchema,
    ReceiptsSchema,
    ReceiptStateSchema,
    RejectSchema,
    ReopenSchema,
    UpholdSchema,
    WishCreateSchema,
    WishListArgs,
    WishSchema,
    WishStatsSchema,
    present,
    present_rows,
    receipt_state,
)

blp = Blueprint("wishes", __name__, url_prefix="/api/v1", description="微心愿")


@blp.post("/wishes")
@blp.arguments(WishCreateSchema)
@blp.response(201, WishSchema)
@blp.alt_response(200, description="the same submit_token and form again: the wish it created")
@blp.alt_response(409, description="submit_token_reused: the token came before with another form")
@blp.alt_response(429, description="too_many_requests: WISH_CLIENT_HOURLY_LIMIT new wishes an hour from one "
                                   "client without an account (Retry-After)")
def submit(args):
    """Submit a wish through a grid's QR code (`qr`, no account) or, signed in, for a grid (`grid_id`)."""
    actor = current_actor()
    grid, channel = service.submission_target(actor, qr=args.get("qr"), grid_id=args.get("grid_id"))
    fields = {k: args.get(k) for k in ("title", "content", "category", "urgency", "contact_name",
                                       "contact_phone", "location", "submit_token")}
    result = service.submit(grid=grid, consent=args["consent"], actor=actor, channel=channel, qr=args.get("qr"),
                            client=client_ip(), **fields)
    commit()
    body = present(result.wish, actor, receipt_holder=True)
    return {**body, "receipt": result.receipt}, 201 if result.created else 200


@blp.post("/wishes/by-receipts")
@blp.arguments(ReceiptsSchema)
@blp.response(200, ReceiptStateSchema(many=True))
def by_receipts(args):
    """我的心愿 without an account: the state and next step of the wishes whose receipts the
    phone keeps (up to 30); unknown receipts are left out."""
    return [receipt_state(r, w) for r, w in service.by_receipts(args["receipts"])]


@blp.get("/wishes")
@blp.arguments(WishListArgs, location="query")
@blp.response(200, page_of(WishSchema))
def list_wishes(args):
    """Wishes on the board of the signed-in person, most urgent and oldest first."""
    actor = require_actor()
    page = paginate_rows(service.board_for(actor, status=args.get("status"), grid_id=args.get("grid_id"),
                                           mine=args["mine"]), args["page"], args["per_page"])
    page["items"] = present_rows(page["items"], actor)
    return page


@blp.get("/wishes/<int:wish_id>")
@blp.arguments(ReceiptArgs, location="query")
@blp.response(200, WishSchema)
def get_wish(args, wish_id):
    """One wish, for staff who may see it or for the holder of its receipt."""
    receipt = args.get("receipt")
    wish = service.get_visible(None if receipt else require_actor(), wish_id, receipt)
    return present(wish, current_actor(), receipt_holder=bool(receipt))


def _staff_action(wish_id: int, act):
    actor = require_actor()
    wish = service.get_visible(actor, wish_id)
    act(actor, wish)
    commit()
    return present(wish, actor)


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
    return _staff_action(wish_id, lambda actor, wish: service.assign_by(actor, wish, args["person_id"]))


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


@blp.post("/wishes/<int:wish_id>/uphold-rejection")
@blp.arguments(UpholdSchema)
@blp.response(200, WishSchema)
@blp.alt_response(409, description="invalid_state (not rejected), already_upheld")
def uphold_rejection(args, wish_id):
    """A street officer agrees that a rejected wish did not belong, with a note: it then leaves
    the wish rates (S1, S2, O3) of the community that rejected it."""
    return _staff_action(wish_id, lambda actor, wish: service.uphold_rejection(actor, wish, args["note"]))


@blp.get("/wishes/rejections")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(WishSchema))
def rejections(args):
    """Rejected wishes under the street officer that the street has not upheld, newest first."""
    actor = require_actor()
    page = paginate_rows(service.listed(service.rejections_for(actor)), args["page"], args["per_page"])
    page["items"] = present_rows(page["items"], actor)
    return page


def _receipt_action(wish_id: int, receipt: str, act):
    wish = service.get_visible(None, wish_id, receipt)
    act(wish)
    commit()
    return present(wish, current_actor(), receipt_holder=True)


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
    return service.wish_stats(figures_org(require_actor(), org_id), *period(args))


