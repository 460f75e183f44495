"""Polls: organised by the secretary or the street — those that count in a rating campaign
by the street alone (seed 000: 街道党委…组织党员和群众测评), never by the secretary they rate —,
results for the org's staff, flagged answers judged above the community being evaluated."""

from __future__ import annotations

from backend.core.permissions import capability, rule, sees, visible_if
from backend.core.roles import ORGANISER_ROLES, STAFF_ROLES, Role
from backend.orgs.models import Org
from backend.polls.models import Poll, PollResponse

visible_if(Poll, lambda actor, poll: sees(actor, poll.org))
visible_if(PollResponse, lambda actor, response: sees(actor, response.poll))
rule("poll.view", Poll, lambda actor, poll, **_: True)
rule("poll.manage", Poll, lambda actor, poll, **_: actor.is_organiser_over(poll.org) and (
    poll.period_id is None or actor.is_street_over(poll.org)))
rule("poll.run_counted", Org, lambda actor, org, **_: actor.is_street_over(org))
rule("poll.results", Poll, lambda actor, poll, **_: actor.is_staff_over(poll.org))
rule("poll.review", PollResponse, lambda actor, response, **_: Role.street_officer in actor.roles_over(
    response.poll.org) or actor.is_admin)
capability("polls.view", lambda actor: actor.holds(*ORGANISER_ROLES, *STAFF_ROLES))
