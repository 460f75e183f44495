"""Volunteer teams: seen by their community, run by their leader and the organisers above."""

from __future__ import annotations

import sqlalchemy as sa

from backend.activities.permissions import VOLUNTEER_ROLES
from backend.core.permissions import Actor, capability, rule, sees, visible_if
from backend.core.roles import ORGANISER_ROLES
from backend.extensions import db
from backend.teams.models import Team


def leads_a_team(actor: Actor) -> bool:
    """Whether the person leads an active team (and so organises activities under its name)."""
    return bool(db.session.scalar(sa.select(sa.exists().where(Team.leader_id == actor.person_id,
                                                              Team.is_active.is_(True)))))


visible_if(Team, lambda actor, team: sees(actor, team.org))
rule("team.view", Team, lambda actor, team, **_: True)
# Team leaders run their team: members, and activities under the team's name.
rule("team.manage", Team, lambda actor, team, **_: team.leader_id == actor.person_id
     or actor.is_organiser_over(team.org))
rule("team.join", Team, lambda actor, team, **_: team.is_active
     and bool(actor.roles_around(team.org) & VOLUNTEER_ROLES))
capability("activities.organise", lambda actor: actor.holds(*ORGANISER_ROLES) or leads_a_team(actor))
