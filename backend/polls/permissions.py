"""Polls: organised by the secretary or the street, results for the org's staff, flagged
answers judged above the community being evaluated."""

from __future__ import annotations

from backend.core.permissions import capability, rule, sees, visible_if
from backend.core.roles import ORGANISER_ROLES, STAFF_ROLES, Role
from backend.polls.models import Poll, PollResponse

visible_if(Poll, lambda actor, poll: sees(actor, poll.org))
visible_if(PollResponse, lambda actor, response: sees(actor, response.poll))
rule("poll.view", Poll, lambda actor, poll, **_: True)
rule("poll.manage", Poll, lambda actor, poll, **_: actor.is_organiser_over(poll.org))
rule("poll.results", Poll, lambda actor, poll, **_: actor.is_staff_over(poll.org))
rule("poll.review", PollResponse, lambda actor, response, **_: Role.street_officer in actor.roles_over(
    response.poll.org) or actor.is_admin)
capability("polls.view", lambda actor: actor.holds(*ORGANISER_ROLES, *STAFF_ROLES))
