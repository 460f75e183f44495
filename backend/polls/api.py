from __future__ import annotations

from flask_smorest import Blueprint

from backend.auth.current import client_ip, current_actor, require_actor
from backend.core.db import commit
from backend.core.paging import page_of, paginate
from backend.polls import service
from backend.polls.models import Poll
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

blp = Blueprint("polls", __name__, url_prefix="/api/v1", description="党员测评与群众满意度测评")


@blp.post("/polls")
@blp.arguments(PollCreateSchema)
@blp.response(201, PollSchema)
@blp.alt_response(403, description="counted_poll_by_street")
@blp.alt_response(409, description="counted_poll_exists")
@blp.alt_response(422, description="not_a_poll_item, wrong_audience, nothing_counted")
def create(args):
    """A poll about an org (its secretary or a street officer): audience, window, the ways of
    answering it accepts (`modes`), questions that may map to rubric criteria. A poll with
    mapped questions counts in the org's campaign: the street's alone to run, one per audience
    per org per campaign, each question mapped to a poll item of the rubric meant for the
    poll's audience."""
    poll = service.create(require_actor(), args)
    commit()
    return poll


@blp.get("/polls")
@blp.arguments(PollListArgs, location="query")
@blp.response(200, page_of(PollSchema))
def list_polls(args):
    """Polls of the orgs the person belongs to, newest first."""
    stmt = service.visible_polls(require_actor())
    if "org_id" in args:
        stmt = stmt.where(Poll.org_id == args["org_id"])
    return paginate(stmt, args["page"], args["per_page"])


@blp.get("/polls/<int:poll_id>")
@blp.response(200, PollSchema)
def get_one(poll_id):
    """The poll and its questions: public, so a resident can answer without an account."""
    return service.get_poll(poll_id)


@blp.post("/polls/<int:poll_id>/open")
@blp.response(200, PollSchema)
def open_poll(poll_id):
    """Start a scheduled poll now."""
    poll = service.open_by(require_actor(), poll_id)
    commit()
    return poll


@blp.post("/polls/<int:poll_id>/close")
@blp.response(200, PollSchema)
def close_poll(poll_id):
    """End an open poll now."""
    poll = service.close_by(require_actor(), poll_id)
    commit()
    return poll


@blp.post("/polls/<int:poll_id>/responses")
@blp.arguments(ResponseCreateSchema)
@blp.response(201, ResponseCreatedSchema)
@blp.alt_response(409, description="already_answered, poll_closed")
@blp.alt_response(429, description="too_many_requests: open-QR answers beyond POLL_NETWORK_HOURLY_LIMIT from one "
                                   "network or POLL_CLIENT_HOURLY_LIMIT from one client, per poll (Retry-After)")
def respond(args, poll_id):
    """Answer once: with a one-time `code`, signed in, or (open-QR mass polls) from a device."""
    response = service.answer(poll_id, args["answers"], actor=current_actor(), code=args.get("code"),
                              device=args.get("device"), qr=args.get("qr"), ip=client_ip())
    commit()
    return response


@blp.get("/polls/<int:poll_id>/results")
@blp.response(200)
def results(poll_id):
    """Per question: count, distribution, mean, satisfaction rate (top two levels), breakdown by
    grid for groups of at least POLL_MIN_GROUP; respondents by mode; flagged and excluded."""
    return service.results_for(require_actor(), poll_id)[1]


@blp.post("/polls/<int:poll_id>/codes")
@blp.arguments(CodesCreateSchema)
@blp.response(201, CodeSchema(many=True))
def codes(args, poll_id):
    """One-time codes for printed slips (optionally for one grid)."""
    made = service.codes_for(require_actor(), poll_id, args["count"], args.get("grid_id"))[2]
    commit()
    return made


@blp.get("/polls/<int:poll_id>/flagged")
@blp.response(200, FlaggedSchema(many=True))
def flagged(poll_id):
    """Answers in suspicious bursts, and those already judged."""
    return service.flagged_of(require_actor(), poll_id)


@blp.post("/poll-responses/<int(max=9007199254740991):response_id>/review")
@blp.arguments(ReviewSchema)
@blp.response(200, FlaggedSchema)
def review(args, response_id):
    """A street officer keeps or excludes a flagged answer (reversible)."""
    response = service.review_by(require_actor(), response_id, args["decision"])
    commit()
    return response
