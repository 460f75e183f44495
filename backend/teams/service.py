"""Rules about volunteer teams: where they live, who leads them, who joins."""

from __future__ import annotations

import sqlalchemy as sa

from backend.core.errors import Conflict, Forbidden, Invalid, NotFound
from backend.core.permissions import Actor, authorize, can, load_authorized
from backend.core.privacy import mask_name
from backend.extensions import db
from backend.orgs.models import Org, OrgKind
from backend.orgs.permissions import org_visible_clause
from backend.people.actors import load_actor
from backend.people.models import Membership, Person
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
    """Whether the person is on the team."""
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
    if team.leader_id == person_id:  # may_leave says the same to the pages
        raise Conflict("队长请先移交队长再退出", code="leader_cannot_leave")
    deleted = db.session.execute(sa.delete(TeamMember).where(
        TeamMember.team_id == team.id, TeamMember.person_id == person_id))
    if deleted.rowcount == 0:
        raise NotFound("该队员不在队中")


def teams_led_by(person_id: int) -> list[Team]:
    """The active teams the person leads, by name."""
    return list(db.session.scalars(sa.select(Team).where(Team.leader_id == person_id, Team.is_active.is_(True))
                                   .order_by(Team.name)))


# --- the doors: look up, authorise, act (API and pages call these) -----------------------------

def team_for(actor: Actor | None, team_id: int, action: str = "team.view") -> Team:
    """The team, if the person may `action` it (404 / 403)."""
    return load_authorized(actor, Team, team_id, action)


def listing(actor: Actor, org_id: int | None = None) -> sa.Select:
    """Active teams of the person's communities (or one of them), by community and name."""
    stmt = sa.select(Team).join(Org, Org.id == Team.org_id).where(Team.is_active.is_(True), org_visible_clause(actor))
    if org_id is not None:
        stmt = stmt.where(Team.org_id == org_id)
    return stmt.order_by(Org.name, Team.name, Team.id)


def _person(person_id: int | None, field: str) -> Person | None:
    if person_id is None:
        return None
    person = db.session.get(Person, person_id)
    if person is None:
        raise NotFound("找不到该人员", fields={field: ["找不到该人员"]})
    return person


def create_by(actor: Actor, args: dict) -> Team:
    """A team of a community, by the community's organisers (its secretary, the street)."""
    org = db.session.get(Org, args["org_id"])
    authorize(actor, "org.organise", org)
    grid = db.session.get(Org, args["grid_id"]) if args.get("grid_id") else None
    return create_team(org, name=args["name"], leader=_person(args.get("leader_id"), "leader_id"), grid=grid,
                       skills=args.get("skills"), description=args.get("description"))


def update_by(actor: Actor, team_id: int, changes: dict) -> Team:
    """Change a team: its leader or the community's organisers."""
    return update_team(team_for(actor, team_id, "team.manage"), changes)


def join_by(actor: Actor, team_id: int, person_id: int | None = None, skills: str | None = None) -> Team:
    """Join the team yourself (volunteers of its community), or add someone (those who run it)."""
    if person_id is None or person_id == actor.person_id:
        team, person = team_for(actor, team_id, "team.join"), actor.person
    else:
        team, person = team_for(actor, team_id, "team.manage"), _person(person_id, "person_id")
    join(team, person, skills)
    return team


def leave_by(actor: Actor, team_id: int, person_id: int) -> Team:
    """Leave the team yourself, or remove a member (those who run it)."""
    team = team_for(actor, team_id, "team.view" if person_id == actor.person_id else "team.manage")
    leave(team, person_id)
    return team


def shows_full_names(actor: Actor | None, team: Team) -> bool:
    """Members' full names are for those who run the team; everyone else sees 张**."""
    return can(actor, "team.manage", team)


def member_name(actor: Actor | None, member: TeamMember) -> str:
    """A member's name as the viewer may see it: in full for those who run the team
    (shows_full_names) and for the member themselves, 张** for everyone else."""
    if shows_full_names(actor, member.team) or (actor is not None and member.person_id == actor.person_id):
        return member.person.name
    return mask_name(member.person.name)


def may_leave(actor: Actor, team: Team) -> bool:
    """Whether the person can leave the team: a member who is not its leader (leave's rule)."""
    return team.leader_id != actor.person_id and is_member(team, actor.person_id)


def founding_communities(actor: Actor, communities: list[Org]) -> list[Org]:
    """Those of `communities` where the person may set up a team."""
    return [c for c in communities if can(actor, "org.organise", c)]


def founding_choices(actor: Actor, communities: list[Org]) -> tuple[list[Org], list[Org], list[tuple[Person, str]]]:
    """For the new-team form: where the person may set up a team, the grids it may serve, and
    the people (with where they belong) who may lead it; 403 when nowhere."""
    communities = founding_communities(actor, communities)
    if not communities:
        raise Forbidden()
    ids = [c.id for c in communities]
    grids = db.session.scalars(sa.select(Org).where(Org.parent_id.in_(ids), Org.kind == OrgKind.grid.value)
                               .order_by(Org.id)).all()
    people = db.session.execute(
        sa.select(Person, Org.name).join(Membership, Membership.person_id == Person.id)
        .join(Org, Org.id == Membership.org_id)
        .where(sa.or_(Org.id.in_(ids), Org.parent_id.in_(ids)), Person.is_active.is_(True))
        .order_by(Person.name).limit(300)).all()
    leaders = list({p.id: (p, where) for p, where in people}.values())
    return communities, list(grids), leaders
