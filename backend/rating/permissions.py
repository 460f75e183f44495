"""The star rating: a community's own card is its secretary's to see and self-evaluate, the
street runs the campaign, reviews, audits and decides appeals."""

from __future__ import annotations

import sqlalchemy as sa

from backend.core.permissions import Actor, capability, rule, visible_if
from backend.core.roles import STAFF_ROLES, Role
from backend.extensions import db
from backend.orgs.models import Org
from backend.rating.models import Appeal, Meeting, Problem, RatingPeriod, Scorecard

#: Roles that see a scorecard of their org (and of the orgs below).
RATING_ROLES = frozenset({Role.secretary, Role.street_officer})


def _sees_period(actor: Actor, period: RatingPeriod) -> bool:
    # The street running it, and the staff of the orgs it rates (who see their own cards).
    return actor.is_staff_over(period.run_by) or any(
        role in STAFF_ROLES and path.startswith(period.run_by.path) for path, role in actor.scopes)


def _sees_card(actor: Actor, card: Scorecard) -> bool:
    # Its community's secretary and the street above; not grid staff, not other communities.
    return bool(actor.roles_over(card.org) & RATING_ROLES) or Role.street_officer in actor.roles_over(
        card.period.run_by)


def _sees_card_item(actor: Actor, item: Appeal | Problem) -> bool:
    card = db.session.scalar(sa.select(Scorecard).where(Scorecard.period_id == item.period_id,
                                                        Scorecard.org_id == item.org_id))
    return card is not None and _sees_card(actor, card)


visible_if(RatingPeriod, _sees_period)
visible_if(Scorecard, _sees_card)
visible_if(Appeal, _sees_card_item)
visible_if(Problem, _sees_card_item)
rule("org.run_campaign", Org, lambda actor, org, **_: actor.is_street_over(org))
rule("period.view", RatingPeriod, lambda actor, period, **_: True)
rule("period.manage", RatingPeriod, lambda actor, period, **_: actor.is_street_over(period.run_by))
rule("scorecard.view", Scorecard, lambda actor, card, **_: True)
# Self-evaluation is the community's own: its secretary, not the street.
rule("scorecard.self_evaluate", Scorecard, lambda actor, card, **_: Role.secretary in actor.roles_over(card.org))
rule("scorecard.review", Scorecard, lambda actor, card, **_: actor.is_street_over(card.org))
rule("scorecard.appeal", Scorecard, lambda actor, card, **_: Role.secretary in actor.roles_over(card.org))
rule("scorecard.problems", Scorecard, lambda actor, card, **_: actor.is_admin
     or bool(actor.roles_over(card.org) & RATING_ROLES))
rule("appeal.decide", Appeal, lambda actor, appeal, **_: actor.is_street_over(appeal.org))
# Meeting records: the community's secretary records and corrects them, the street above
# confirms those dated far back and strikes any; a record the street makes counts at once.
visible_if(Meeting, lambda actor, meeting: actor.is_organiser_over(meeting.org))
rule("meeting.correct", Meeting, lambda actor, meeting, **_: actor.is_organiser_over(meeting.org))
rule("meeting.decide", Meeting, lambda actor, meeting, **_: actor.is_street_over(meeting.org))
rule("org.confirm_meetings", Org, lambda actor, org, **_: actor.is_street_over(org))
# The rating is for secretaries, the street and admins at all.
capability("rating.view", lambda actor: actor.holds(*RATING_ROLES))
