"""Rules about volunteer teams: where they live, who leads them, who joins."""

from __future__ import annotations

import sqlalchemy as sa

from backend.core.errors import Conflict, Invalid, NotFound
from backend.extensions import db
from backend.orgs.models import Org, OrgKind
from backend.people.actors import load_actor
from backend.people.models import Person
from backend.teams.models import Team, TeamMember


def _invalid(field: str, message: str, code: str) -> Invalid:
    return Invalid(message, code=code, fields={field: [message]})


def _check_place(org: Org, grid: Org | None) -> None:
    if org.kind != OrgKind.community.value:
        raise _invalid("org_id", "志愿服务队须建在社区", "invalid_org")
    if grid is not None and (grid.kind != OrgKind.grid.value or grid.parent_id != org.id):
        raise _invalid("grid_id", "所服务的网格须属于本社区", "invalid_grid")


def _check_belongs(org: Org, person: Person | None, field: str, message: str, code: str) -> None:
    """A leader or an added member holds some role in the community (or under it)."""
    actor = load_actor(person.id) if person is not None else None
    if person is not None and (actor is None or not (actor.is_admin or actor.roles_around(org))):
        raise _invalid(field, message, code)


def _check_leader(org: Org, leader: Person | None) -> None:
    _check_belongs(org, leader, "leader_id", "队长须是本社区的成员", "invalid_leader")


def create_team(org: Org, *, name: str, leader: Person | None = None, grid: Org | None = None,
                skills: str | None = None, description: str | None = None) -> Team:
    """A team of `org`; its leader is its first member."""
    _check_place(org, grid)
    _check_leader(org, leader)
    team = Team(org=org, grid=grid, name=name.strip(), leader=leader, skills=skills, description=description)
    db.session.add(team)
    db.session.flush()
    if leader is not None:
        db.session.add(TeamMember(team=team, person=leader))
        db.session.flush()
    return team


def update_team(team: Team, changes: dict) -> Team:
    """Rename, re-describe, change the leader or the grid, disband (is_active false)."""
    grid = db.session.get(Org, changes["grid_id"]) if changes.get("grid_id") else None
    if "grid_id" in changes:
        _check_place(team.org, grid)
        team.grid = grid
    if "leader_id" in changes:
        leader = db.session.get(Person, changes["leader_id"]) if changes["leader_id"] else None
        _check_leader(team.org, leader)
        team.leader = leader
        if leader is not None and not is_member(team, leader.id):
            db.session.add(TeamMember(team=team, person=leader))
    for key in ("name", "skills", "description", "is_active"):
        if key in changes:
            setattr(team, key, changes[key])
    db.session.flush()
    return team


def is_member(team: Team, person_id: int) -> bool:
    return db.session.scalar(sa.select(sa.exists().where(
        TeamMember.team_id == team.id, TeamMember.person_id == person_id))) or False


def join(team: Team, person: Person, skills: str | None = None) -> TeamMember:
    """Add a member; the unique constraint answers 409 `already_member` to a second join."""
    if not team.is_active:
        raise Conflict("该志愿服务队已解散", code="team_inactive")
    _check_belongs(team.org, person, "person_id", "队员须是本社区的成员", "invalid_member")
    member = TeamMember(team=team, person=person, skills=skills)
    db.session.add(member)
    db.session.flush()
    return member


def leave(team: Team, person_id: int) -> None:
    """A member leaves (or is removed); the leader hands over first."""
    if team.leader_id == person_id:
        raise Conflict("队长请先移交队长再退出", code="leader_cannot_leave")
    deleted = db.session.execute(sa.delete(TeamMember).where(
        TeamMember.team_id == team.id, TeamMember.person_id == person_id))
    if deleted.rowcount == 0:
        raise NotFound("该队员不在队中")


def teams_led_by(person_id: int) -> list[Team]:
    return list(db.session.scalars(sa.select(Team).where(Team.leader_id == person_id, Team.is_active.is_(True))
                                   .order_by(Team.name)))
