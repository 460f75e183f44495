"""The one place that decides whether a person may do an action on an object.

Deny by default. An object the person cannot see at all answers 404 (its existence is not
confirmed); an object they can see but not change answers 403.

Scope comes from memberships: a role held on an org covers that org and everything below it
(materialised path prefix). A secretary of a community therefore sees its grids; a street
officer sees the street; a global admin sees everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import g, has_request_context
from sqlalchemy.orm import selectinload

from backend.activities.models import Activity
from backend.bookings.models import Booking
from backend.core.errors import Forbidden, NotFound
from backend.double_reports.models import DoubleReport
from backend.extensions import db
from backend.orgs.models import Org
from backend.people.models import Membership, Person, Role
from backend.polls.models import Poll, PollResponse
from backend.qrcodes.models import QrCode
from backend.rating.models import Appeal, Problem, RatingPeriod, Scorecard
from backend.teams.models import Team
from backend.wishes.models import Wish

#: Roles that work in the organisation (see members, manage its things).
STAFF_ROLES = {Role.street_officer, Role.secretary, Role.grid_leader, Role.grid_member}
#: Staff roles that may change an org's members and QR codes.
MANAGER_ROLES = {Role.street_officer, Role.secretary, Role.grid_leader}
#: Lower number = more authority. A manager grants only roles below their own.
ROLE_RANK = {
    Role.admin: 0, Role.street_officer: 1, Role.secretary: 2, Role.grid_leader: 3,
    Role.grid_member: 4, Role.party_member: 5, Role.volunteer: 5, Role.resident: 5,
}


@dataclass
class Actor:
    """Who is acting, with the org paths each of their roles covers."""

    person: Person
    is_admin: bool = False
    #: (org path, role) for every membership with an org.
    scopes: list[tuple[str, Role]] = field(default_factory=list)

    @classmethod
    def load(cls, person_id: int) -> Actor | None:
        person = db.session.execute(
            sa.select(Person)
            .options(selectinload(Person.memberships).selectinload(Membership.org))
            .where(Person.id == person_id, Person.is_active.is_(True))
        ).scalar_one_or_none()
        if person is None:
            return None
        actor = cls(person=person)
        for m in person.memberships:
            if m.role == Role.admin.value and m.org_id is None:
                actor.is_admin = True
            elif m.org is not None:
                actor.scopes.append((m.org.path, Role(m.role)))
        return actor

    def roles_around(self, org: Org) -> set[Role]:
        """Roles held on `org`, above it, or anywhere below it (a volunteer of one of its grids)."""
        return {role for path, role in self.scopes if org.path.startswith(path) or path.startswith(org.path)}

    def roles_over(self, org: Org) -> set[Role]:
        """Roles held on `org` or any org above it."""
        return {role for path, role in self.scopes if org.path.startswith(path)}

    def best_rank_over(self, org: Org) -> int:
        if self.is_admin:
            return ROLE_RANK[Role.admin]
        ranks = [ROLE_RANK[r] for r in self.roles_over(org)]
        return min(ranks) if ranks else 99

    def is_staff_over(self, org: Org) -> bool:
        return self.is_admin or bool(self.roles_over(org) & STAFF_ROLES)

    def is_manager_over(self, org: Org) -> bool:
        return self.is_admin or bool(self.roles_over(org) & MANAGER_ROLES)

    @property
    def is_staff(self) -> bool:
        return self.is_admin or any(role in STAFF_ROLES for _, role in self.scopes)

    @property
    def is_manager(self) -> bool:
        return self.is_admin or any(role in MANAGER_ROLES for _, role in self.scopes)

    def staff_paths(self) -> list[str]:
        return sorted({path for path, role in self.scopes if role in STAFF_ROLES})

    def manager_paths(self) -> list[str]:
        return sorted({path for path, role in self.scopes if role in MANAGER_ROLES})


def actor_of(person_id: int) -> Actor | None:
    """Actor.load, remembered for the rest of the request: a list labels many rows by few people."""
    if not has_request_context():
        return Actor.load(person_id)
    cache = g.setdefault("actors_by_id", {})
    if person_id not in cache:
        cache[person_id] = Actor.load(person_id)
    return cache[person_id]


# --- visibility: what a person may know exists ------------------------------------------

def org_visible_clause(actor: Actor):
    """SQL condition on Org: inside any of the actor's org subtrees, or above one of them."""
    if actor.is_admin:
        return sa.true()
    conditions = []
    ancestor_ids: set[int] = set()
    for path, _ in actor.scopes:
        conditions.append(Org.path.startswith(path))
        ancestor_ids.update(int(p) for p in path.strip("/").split("/") if p)
    if ancestor_ids:
        conditions.append(Org.id.in_(ancestor_ids))
    return sa.or_(*conditions) if conditions else sa.false()


def person_visible_clause(actor: Actor):
    """SQL condition on Person: themselves, people they created, and members of orgs they staff."""
    if actor.is_admin:
        return sa.true()
    conditions = [Person.id == actor.person.id, Person.created_by_id == actor.person.id]
    paths = actor.staff_paths()
    if paths:
        in_scope = (
            sa.select(Membership.id)
            .join(Org, Org.id == Membership.org_id)
            .where(Membership.person_id == Person.id, sa.or_(*[Org.path.startswith(p) for p in paths]))
        )
        conditions.append(in_scope.exists())
    return sa.or_(*conditions)


def qrcode_visible_clause(actor: Actor):
    """SQL condition on QrCode: codes of orgs the actor staffs."""
    if actor.is_admin:
        return sa.true()
    paths = actor.staff_paths()
    if not paths:
        return sa.false()
    return QrCode.org.has(sa.or_(*[Org.path.startswith(p) for p in paths]))


#: Roles that see a wish on the board (over its grid: held on the grid, community or street).
WISH_VIEW_ROLES = {Role.street_officer, Role.secretary, Role.grid_leader, Role.grid_member,
                   Role.party_member, Role.volunteer}
#: Roles that may take a wish on.
WISH_CLAIM_ROLES = {Role.secretary, Role.grid_leader, Role.grid_member, Role.party_member, Role.volunteer}
#: Roles that moderate, assign, reject and release any claim.
WISH_MANAGE_ROLES = {Role.secretary, Role.grid_leader}


#: Roles that see a scorecard of their org (and of the orgs below).
RATING_ROLES = {Role.secretary, Role.street_officer}


def _street_over(actor: Actor, org: Org) -> bool:
    """The street (or the organisation department, an admin) above `org`."""
    return actor.is_admin or Role.street_officer in actor.roles_over(org)


#: Roles that sign up for volunteer activities of their community.
VOLUNTEER_ROLES = {Role.secretary, Role.grid_leader, Role.grid_member, Role.party_member, Role.volunteer}
#: Roles that organise activities.
ORGANISER_ROLES = {Role.street_officer, Role.secretary}


def has_board(actor: Actor | None) -> bool:
    """Whether the person has a wish task board at all."""
    return actor is not None and (actor.is_admin or any(role in WISH_VIEW_ROLES for _, role in actor.scopes))


def wish_visible_clause(actor: Actor):
    """SQL condition on Wish: wishes of grids under an org where the actor holds a board role."""
    if actor.is_admin:
        return sa.true()
    paths = sorted({path for path, role in actor.scopes if role in WISH_VIEW_ROLES})
    if not paths:
        return sa.false()
    visible = Wish.grid.has(sa.or_(*[Org.path.startswith(p) for p in paths]))
    # Unreviewed wishes are seen by those who review them (and the street above) only.
    reviewers = sorted({path for path, role in actor.scopes if role in WISH_MANAGE_ROLES | {Role.street_officer}})
    reviewed = Wish.status != "pending_review"
    if reviewers:
        reviewed = sa.or_(reviewed, Wish.grid.has(sa.or_(*[Org.path.startswith(p) for p in reviewers])))
    return sa.and_(visible, reviewed)


def _can_see(actor: Actor, obj) -> bool:
    if actor.is_admin:
        return True
    if isinstance(obj, Org):
        return any(obj.path.startswith(path) or path.startswith(obj.path) for path, _ in actor.scopes)
    if isinstance(obj, Person):
        return bool(db.session.scalar(sa.select(sa.exists().where(
            Person.id == obj.id, person_visible_clause(actor)))))
    if isinstance(obj, QrCode):
        return actor.is_staff_over(obj.org)
    if isinstance(obj, RatingPeriod):
        # The street running it, and the staff of the orgs it rates (who see their own cards).
        return actor.is_staff_over(obj.run_by) or any(
            role in STAFF_ROLES and path.startswith(obj.run_by.path) for path, role in actor.scopes)
    if isinstance(obj, Scorecard):
        # Its community's secretary and the street above; not grid staff, not other communities.
        return bool(actor.roles_over(obj.org) & RATING_ROLES) or Role.street_officer in actor.roles_over(
            obj.period.run_by)
    if isinstance(obj, Appeal | Problem):
        return _can_see(actor, db.session.scalar(sa.select(Scorecard).where(
            Scorecard.period_id == obj.period_id, Scorecard.org_id == obj.org_id)))
    if isinstance(obj, PollResponse):
        return _can_see(actor, obj.poll)
    if isinstance(obj, Activity | Team | Poll):
        return _can_see(actor, obj.org)
    if isinstance(obj, DoubleReport):
        return obj.person_id == actor.person.id or actor.is_staff_over(obj.community)
    if isinstance(obj, Booking):
        return obj.person_id == actor.person.id or actor.is_manager_over(obj.slot.org)
    if isinstance(obj, Wish):
        roles = actor.roles_over(obj.grid)
        if obj.status == "pending_review":
            return bool(roles & (WISH_MANAGE_ROLES | {Role.street_officer}))
        return bool(roles & WISH_VIEW_ROLES)
    return False


# --- actions ----------------------------------------------------------------------------

def _org_create_child(actor: Actor, org: Org, **_) -> bool:
    return actor.is_admin or Role.street_officer in actor.roles_over(org)


def _organiser_over(actor: Actor, org: Org) -> bool:
    return actor.is_admin or bool(actor.roles_over(org) & ORGANISER_ROLES)


def _team_manage(actor: Actor, team: Team, **_) -> bool:
    return team.leader_id == actor.person.id or _organiser_over(actor, team.org)


def _members_add(actor: Actor, org: Org, role: Role | str | None = None, **_) -> bool:
    if not actor.is_manager_over(org):
        return False
    if role is None:
        return True
    return ROLE_RANK[Role(role)] > actor.best_rank_over(org)


#: action name → (object type, rule). Anything not listed is denied.
RULES = {
    "org.view": (Org, lambda actor, org, **_: True),
    "org.create_child": (Org, _org_create_child),
    "org.members.view": (Org, lambda actor, org, **_: actor.is_staff_over(org)),
    "org.members.add": (Org, _members_add),
    "org.qrcodes.create": (Org, lambda actor, org, **_: actor.is_manager_over(org)),
    "person.view": (Person, lambda actor, person, **_: True),
    "qrcode.view": (QrCode, lambda actor, qr, **_: True),
    "qrcode.revoke": (QrCode, lambda actor, qr, **_: actor.is_manager_over(qr.org)),
    "org.organise": (Org, lambda actor, org, **_: _organiser_over(actor, org)),
    "activity.view": (Activity, lambda actor, activity, **_: True),
    "activity.sign_up": (Activity, lambda actor, activity, **_: bool(actor.roles_around(activity.org)
                                                                       & VOLUNTEER_ROLES)),
    "team.view": (Team, lambda actor, team, **_: True),
    # Team leaders run their team: members, and activities under the team's name.
    "team.manage": (Team, _team_manage),
    "team.join": (Team, lambda actor, team, **_: team.is_active
                  and bool(actor.roles_around(team.org) & VOLUNTEER_ROLES)),
    "poll.view": (Poll, lambda actor, poll, **_: True),
    "poll.manage": (Poll, lambda actor, poll, **_: _organiser_over(actor, poll.org)),
    "poll.results": (Poll, lambda actor, poll, **_: actor.is_staff_over(poll.org)),
    # Flagged answers are judged above the community being evaluated.
    "poll.review": (PollResponse, lambda actor, response, **_: actor.is_admin
                    or Role.street_officer in actor.roles_over(response.poll.org)),
    "double_report.view": (DoubleReport, lambda actor, report, **_: True),
    "double_report.decide": (DoubleReport, lambda actor, report, **_: _organiser_over(actor, report.community)),
    "org.run_campaign": (Org, lambda actor, org, **_: _street_over(actor, org)),
    "period.view": (RatingPeriod, lambda actor, period, **_: True),
    "period.manage": (RatingPeriod, lambda actor, period, **_: _street_over(actor, period.run_by)),
    "scorecard.view": (Scorecard, lambda actor, card, **_: True),
    # Self-evaluation is the community's own: its secretary, not the street.
    "scorecard.self_evaluate": (Scorecard, lambda actor, card, **_: Role.secretary in actor.roles_over(card.org)),
    "scorecard.review": (Scorecard, lambda actor, card, **_: _street_over(actor, card.org)),
    "scorecard.appeal": (Scorecard, lambda actor, card, **_: Role.secretary in actor.roles_over(card.org)),
    "scorecard.problems": (Scorecard, lambda actor, card, **_: bool(actor.roles_over(card.org) & RATING_ROLES)
                           or actor.is_admin),
    "appeal.decide": (Appeal, lambda actor, appeal, **_: _street_over(actor, appeal.org)),
    "booking.cancel": (Booking, lambda actor, booking, **_: True),
    "wish.view": (Wish, lambda actor, wish, **_: True),
    "wish.claim": (Wish, lambda actor, wish, **_: bool(actor.roles_over(wish.grid) & WISH_CLAIM_ROLES)),
    "wish.manage": (Wish, lambda actor, wish, **_: actor.is_admin
                    or bool(actor.roles_over(wish.grid) & WISH_MANAGE_ROLES)),
    # Full contact details: only the current claimant and the grid's leader (PIPL: need to know).
    "wish.contact": (Wish, lambda actor, wish, **_: wish.claimant_id == actor.person.id
                     or Role.grid_leader in actor.roles_over(wish.grid)),
}


def can(actor: Actor | None, action: str, obj, **context) -> bool:
    """True when `actor` may do `action` on `obj` (never raises)."""
    if actor is None or action not in RULES:
        return False
    kind, rule = RULES[action]
    if not isinstance(obj, kind) or not _can_see(actor, obj):
        return False
    return bool(rule(actor, obj, **context))


def authorize(actor: Actor | None, action: str, obj, **context) -> None:
    """Raise NotFound when `obj` is outside the actor's organisations, Forbidden when the
    actor sees it but may not do `action`."""
    if obj is None or actor is None or not _can_see(actor, obj):
        raise NotFound()
    if not can(actor, action, obj, **context):
        raise Forbidden()


def load_authorized(actor: Actor | None, model: type, obj_id: int, action: str):
    """The `model` row `obj_id`, if the actor may do `action` on it (404 / 403 otherwise)."""
    obj = db.session.get(model, obj_id)
    authorize(actor, action, obj)
    return obj


def can_create_people(actor: Actor | None) -> bool:
    return actor is not None and actor.is_manager
