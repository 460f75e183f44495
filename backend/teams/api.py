from __future__ import annotations

import sqlalchemy as sa
from flask_smorest import Blueprint

from backend.auth.current import require_actor
from backend.core.db import commit
from backend.core.errors import NotFound
from backend.core.paging import page_of, paginate
from backend.core.permissions import authorize, load_authorized
from backend.extensions import db
from backend.orgs.models import Org
from backend.orgs.permissions import org_visible_clause
from backend.people.models import Person
from backend.teams import service
from backend.teams.models import Team
from backend.teams.schemas import (
    JoinSchema,
    TeamCreateSchema,
    TeamDetailSchema,
    TeamListArgs,
    TeamSchema,
    TeamUpdateSchema,
)

blp = Blueprint("teams", __name__, url_prefix="/api/v1", description="志愿服务队（微力量）")


def get_team(team_id: int, action: str = "team.view") -> tuple[object, Team]:
    actor = require_actor()
    return actor, load_authorized(actor, Team, team_id, action)


def _person(person_id: int | None) -> Person | None:
    if person_id is None:
        return None
    person = db.session.get(Person, person_id)
    if person is None:
        raise NotFound("找不到该人员")
    return person


@blp.post("/teams")
@blp.arguments(TeamCreateSchema)
@blp.response(201, TeamDetailSchema)
@blp.alt_response(409, description="duplicate_name")
def create(args):
    """A volunteer team of a community (secretaries and street officers)."""
    actor = require_actor()
    org = db.session.get(Org, args["org_id"])
    authorize(actor, "org.organise", org)
    grid = db.session.get(Org, args["grid_id"]) if args.get("grid_id") else None
    team = service.create_team(org, name=args["name"], leader=_person(args.get("leader_id")), grid=grid,
                               skills=args.get("skills"), description=args.get("description"))
    commit()
    return team


@blp.get("/teams")
@blp.arguments(TeamListArgs, location="query")
@blp.response(200, page_of(TeamSchema))
def list_teams(args):
    """Active teams of the person's communities, by community and name."""
    actor = require_actor()
    stmt = sa.select(Team).join(Org, Org.id == Team.org_id).where(
        Team.is_active.is_(True), org_visible_clause(actor))
    if "org_id" in args:
        stmt = stmt.where(Team.org_id == args["org_id"])
    return paginate(stmt.order_by(Org.name, Team.name, Team.id), args["page"], args["per_page"])


@blp.get("/teams/<int:team_id>")
@blp.response(200, TeamDetailSchema)
def get_one(team_id):
    return get_team(team_id)[1]


@blp.patch("/teams/<int:team_id>")
@blp.arguments(TeamUpdateSchema)
@blp.response(200, TeamDetailSchema)
def update(args, team_id):
    """Change a team (its leader, or the community's organisers)."""
    team = get_team(team_id, "team.manage")[1]
    service.update_team(team, args)
    commit()
    return team


@blp.post("/teams/<int:team_id>/members")
@blp.arguments(JoinSchema)
@blp.response(201, TeamDetailSchema)
@blp.alt_response(409, description="already_member, team_inactive")
def join(args, team_id):
    """Join the team yourself (volunteers of its community), or add someone (its managers)."""
    actor = require_actor()
    person_id = args.get("person_id", actor.person.id)
    if person_id == actor.person.id:
        team = get_team(team_id, "team.join")[1]
        person = actor.person
    else:
        team = get_team(team_id, "team.manage")[1]
        person = _person(person_id)
    service.join(team, person, args.get("skills"))
    commit()
    return team


@blp.delete("/teams/<int:team_id>/members/<int:person_id>")
@blp.response(200, TeamDetailSchema)
@blp.alt_response(409, description="leader_cannot_leave")
def leave(team_id, person_id):
    """Leave the team, or remove a member (its managers)."""
    actor = require_actor()
    team = get_team(team_id, "team.view" if person_id == actor.person.id else "team.manage")[1]
    service.leave(team, person_id)
    commit()
    db.session.refresh(team)
    return team
