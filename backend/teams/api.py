from __future__ import annotations

from flask_smorest import Blueprint

from backend.auth.current import require_actor
from backend.core.db import commit
from backend.core.paging import page_of, paginate
from backend.extensions import db
from backend.teams import service
from backend.teams.schemas import (
    JoinSchema,
    TeamCreateSchema,
    TeamDetailSchema,
    TeamListArgs,
    TeamSchema,
    TeamUpdateSchema,
)

blp = Blueprint("teams", __name__, url_prefix="/api/v1", description="志愿服务队（微力量）")


@blp.post("/teams")
@blp.arguments(TeamCreateSchema)
@blp.response(201, TeamDetailSchema)
@blp.alt_response(409, description="duplicate_name")
def create(args):
    """A volunteer team of a community (secretaries and street officers)."""
    team = service.create_by(require_actor(), args)
    commit()
    return team


@blp.get("/teams")
@blp.arguments(TeamListArgs, location="query")
@blp.response(200, page_of(TeamSchema))
def list_teams(args):
    """Active teams of the person's communities, by community and name."""
    return paginate(service.listing(require_actor(), args.get("org_id")), args["page"], args["per_page"])


@blp.get("/teams/<int:team_id>")
@blp.response(200, TeamDetailSchema)
def get_one(team_id):
    return service.team_for(require_actor(), team_id)


@blp.patch("/teams/<int:team_id>")
@blp.arguments(TeamUpdateSchema)
@blp.response(200, TeamDetailSchema)
def update(args, team_id):
    """Change a team (its leader, or the community's organisers)."""
    team = service.update_by(require_actor(), team_id, args)
    commit()
    return team


@blp.post("/teams/<int:team_id>/members")
@blp.arguments(JoinSchema)
@blp.response(201, TeamDetailSchema)
@blp.alt_response(409, description="already_member, team_inactive")
def join(args, team_id):
    """Join the team yourself (volunteers of its community), or add someone (its managers)."""
    team = service.join_by(require_actor(), team_id, args.get("person_id"), args.get("skills"))
    commit()
    return team


@blp.delete("/teams/<int:team_id>/members/<int:person_id>")
@blp.response(200, TeamDetailSchema)
@blp.alt_response(409, description="leader_cannot_leave")
def leave(team_id, person_id):
    """Leave the team, or remove a member (its managers)."""
    team = service.leave_by(require_actor(), team_id, person_id)
    commit()
    db.session.refresh(team)
    return team
