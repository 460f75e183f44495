from __future__ import annotations

import sqlalchemy as sa
from flask_smorest import Blueprint

from backend.core.auth import client_ip, current_actor, require_actor
from backend.core.db import commit
from backend.core.errors import Invalid
from backend.core.paging import page_of, paginate
from backend.core.permissions import authorize, load_authorized, org_visible_clause
from backend.extensions import db
from backend.orgs.models import Org, OrgKind
from backend.polls import service
from backend.polls.models import Poll, PollResponse, ResponseStatus
from backend.polls.schemas import (
    CodeSchema,
    CodesCreateSchema,
    FlaggedSchema,
    PollCreateSchema,
    PollListArgs,
    PollSchema,
    ResponseCreatedSchema,
    ResponseCreateSchema,
    ReviewSchema,
)
from backend.qrcodes import service as qr_service
from backend.qrcodes.models import QrPurpose

blp = Blueprint("polls", __name__, url_prefix="/api/v1", description="党员测评与群众满意度测评")


def _managed(poll_id: int, action: str = "poll.manage") -> tuple[object, Poll]:
    actor = require_actor()
    return actor, load_authorized(actor, Poll, poll_id, action)


@blp.post("/polls")
@blp.arguments(PollCreateSchema)
@blp.response(201, PollSchema)
def create(args):
    """A poll about an org (its secretary or a street officer): audience, window, the ways of
    answering it accepts (`modes`), questions that may map to rubric criteria."""
    actor = require_actor()
    org = db.session.get(Org, args["org_id"])
    authorize(actor, "org.organise", org)
    poll = service.create_poll(org, args, actor.person.id)
    commit()
    return poll


@blp.get("/polls")
@blp.arguments(PollListArgs, location="query")
@blp.response(200, page_of(PollSchema))
def list_polls(args):
    """Polls of the orgs the person belongs to, newest first."""
    stmt = sa.select(Poll).where(Poll.org.has(org_visible_clause(require_actor())))
    if "org_id" in args:
        stmt = stmt.where(Poll.org_id == args["org_id"])
    return paginate(stmt.order_by(Poll.opens_at.desc(), Poll.id.desc()), args["page"], args["per_page"])


@blp.get("/polls/<int:poll_id>")
@blp.response(200, PollSchema)
def get_one(poll_id):
    """The poll and its questions: public, so a resident can answer without an account."""
    return service.get_poll(poll_id)


@blp.post("/polls/<int:poll_id>/open")
@blp.response(200, PollSchema)
def open_poll(poll_id):
    poll = _managed(poll_id)[1]
    service.open_now(poll)
    commit()
    return poll


@blp.post("/polls/<int:poll_id>/close")
@blp.response(200, PollSchema)
def close_poll(poll_id):
    poll = _managed(poll_id)[1]
    service.close_now(poll)
    commit()
    return poll


def _qr_grid(poll: Poll, qr: str | None) -> int | None:
    """The grid a poll poster hangs in, when the scanned code was made for a grid."""
    if not qr:
        return None
    code = qr_service.resolve(qr)
    if code.purpose != QrPurpose.poll.value or code.target_id != poll.id:
        raise Invalid("这不是本测评的二维码", code="wrong_code", fields={"qr": ["这不是本测评的二维码"]})
    return code.org_id if code.org.kind == OrgKind.grid.value else None


@blp.post("/polls/<int:poll_id>/responses")
@blp.arguments(ResponseCreateSchema)
@blp.response(201, ResponseCreatedSchema)
@blp.alt_response(409, description="already_answered, poll_closed")
def respond(args, poll_id):
    """Answer once: with a one-time `code`, signed in, or (open-QR mass polls) from a device."""
    poll = service.get_poll(poll_id)
    respondent = service.respondent_for(poll, actor=current_actor(), code=args.get("code"),
                                        device=args.get("device"), qr_grid_id=_qr_grid(poll, args.get("qr")))
    response = service.submit(poll, respondent, args["answers"], ip=client_ip())
    commit()
    return response


@blp.get("/polls/<int:poll_id>/results")
@blp.response(200)
def results(poll_id):
    """Per question: count, distribution, mean, satisfaction rate (top two levels), breakdown by
    grid for groups of at least POLL_MIN_GROUP; respondents by mode; flagged and excluded."""
    poll = _managed(poll_id, "poll.results")[1]
    return service.results(poll, with_texts=True)


@blp.post("/polls/<int:poll_id>/codes")
@blp.arguments(CodesCreateSchema)
@blp.response(201, CodeSchema(many=True))
def codes(args, poll_id):
    """One-time codes for printed slips (optionally for one grid)."""
    poll = _managed(poll_id)[1]
    grid = db.session.get(Org, args["grid_id"]) if args.get("grid_id") else None
    made = service.generate_codes(poll, args["count"], grid)
    commit()
    return made


@blp.get("/polls/<int:poll_id>/flagged")
@blp.response(200, FlaggedSchema(many=True))
def flagged(poll_id):
    """Answers in suspicious bursts, and those already judged."""
    poll = _managed(poll_id, "poll.results")[1]
    return db.session.scalars(sa.select(PollResponse).where(
        PollResponse.poll_id == poll.id, PollResponse.status != ResponseStatus.ok.value)
        .order_by(PollResponse.submitted_at, PollResponse.id)).all()


@blp.post("/poll-responses/<int:response_id>/review")
@blp.arguments(ReviewSchema)
@blp.response(200, FlaggedSchema)
def review(args, response_id):
    """A street officer keeps or excludes a flagged answer (reversible)."""
    actor = require_actor()
    response = load_authorized(actor, PollResponse, response_id, "poll.review")
    service.review(response, args["decision"], actor.person.id)
    commit()
    return response
