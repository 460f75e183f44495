"""Rules about people and their roles."""

from __future__ import annotations

import sqlalchemy as sa

from backend.auth.service import hash_password
from backend.core.errors import Conflict, Forbidden, Invalid
from backend.core.permissions import Actor, authorize, can
from backend.extensions import db
from backend.orgs.models import Org, OrgKind
from backend.orgs.service import org_for
from backend.people.models import Membership, Person, Role
from backend.people.permissions import person_visible_clause

#: Which org kinds a role can be held on (a global admin holds no org).
ROLE_ORG_KINDS = {
    Role.admin: {None, *OrgKind},
    Role.street_officer: {OrgKind.street},
    Role.secretary: {OrgKind.community},
    Role.grid_leader: {OrgKind.grid},
    Role.grid_member: {OrgKind.grid},
    Role.party_member: {OrgKind.community, OrgKind.grid, OrgKind.group, OrgKind.unit},
    Role.volunteer: {OrgKind.community, OrgKind.grid, OrgKind.unit},
    Role.resident: {OrgKind.community, OrgKind.grid},
}


def create_person(*, name: str, created_by: Person | None = None, username: str | None = None,
                  password: str | None = None, **attrs) -> Person:
    """Add a person; a username and password make a staff login."""
    if username is not None:
        taken = db.session.scalar(sa.select(Person.id).where(sa.func.lower(Person.username) == username.lower()))
        if taken is not None:
            raise Conflict("用户名已被使用", code="username_taken", fields={"username": ["用户名已被使用"]})
    person = Person(name=name.strip(), username=username.lower() if username else None,
                    password_hash=hash_password(password) if password else None,
                    created_by_id=created_by.id if created_by else None, **attrs)
    db.session.add(person)
    db.session.flush()
    return person


def add_membership(person: Person, org: Org | None, role: str) -> Membership:
    """Give `person` `role` on `org`; 409 `duplicate` if they already hold it there."""
    role_enum = Role(role)
    kind = OrgKind(org.kind) if org else None
    if kind not in ROLE_ORG_KINDS[role_enum]:
        message = "该角色不能设在这一级组织"
        raise Invalid(message, code="invalid_role_for_org", fields={"role": [message]})
    existing = db.session.scalar(sa.select(Membership).where(
        Membership.person_id == person.id,
        Membership.org_id.is_(None) if org is None else Membership.org_id == org.id,
        Membership.role == role_enum.value))
    if existing is not None:
        raise Conflict("该成员已有此角色", code="duplicate")
    membership = Membership(person=person, org=org, role=role_enum.value)
    db.session.add(membership)
    if role_enum == Role.party_member:
        person.is_party_member = True
    db.session.flush()
    return membership


def members_of(org: Org, role: str | None = None) -> sa.Select:
    """Memberships held directly on `org`, staff first, then by name."""
    stmt = sa.select(Membership).join(Person).where(Membership.org_id == org.id)
    if role:
        stmt = stmt.where(Membership.role == role)
    # Role is declared from most to least senior; sorting the strings put secretaries last.
    rank = sa.case({r.value: i for i, r in enumerate(Role)}, value=Membership.role)
    return stmt.order_by(rank, Person.name, Membership.id)


# --- the doors: look up, authorise, act (API and pages call these) -------------------------------

def visible_people(actor: Actor, q: str | None = None) -> sa.Select:
    """People in the staff member's organisations and people they added, by name (403 for
    one who is not staff anywhere)."""
    if not actor.is_staff:
        raise Forbidden()
    stmt = sa.select(Person).where(person_visible_clause(actor))
    if q and q.strip():
        stmt = stmt.where(Person.name.contains(q.strip(), autoescape=True))
    return stmt.order_by(Person.name, Person.id)


def person_for(actor: Actor | None, person_id: int) -> Person:
    """One person; 404 when outside the viewer's organisations."""
    person = db.session.get(Person, person_id)
    authorize(actor, "person.view", person)
    return person


def create_by(actor: Actor, args: dict) -> Person:
    """A manager adds a person, optionally with a home community they can see."""
    if not can(actor, "people.create"):
        raise Forbidden()
    if args.get("home_community_id") is not None:
        community = db.session.get(Org, args["home_community_id"])
        if community is None or community.kind != OrgKind.community.value or not can(actor, "org.view", community):
            raise Invalid("所选社区不存在", fields={"home_community_id": ["所选社区不存在"]})
    return create_person(created_by=actor.person, **args)


def members_for(actor: Actor | None, org_id: int, role: str | None = None) -> tuple[Org, sa.Select]:
    """An org and its memberships, for its staff and the staff above."""
    org = org_for(actor, org_id, "org.members.view")
    return org, members_of(org, role)


def add_member_by(actor: Actor, org_id: int, person_id: int, role: str) -> Membership:
    """A manager gives a person they can see a role below their own on an org."""
    org = org_for(actor, org_id)
    authorize(actor, "org.members.add", org, role=role)
    return add_membership(person_for(actor, person_id), org, role)


def role_holders(org_ids: list[int], roles: list[Role]) -> list[int]:
    """The people holding one of `roles` directly on one of `org_ids` (who to tell)."""
    if not org_ids:
        return []
    return list(db.session.scalars(_ROLE_HOLDERS, {"orgs": list(org_ids), "roles": [r.value for r in roles]}))


#: Built once: every new wish tells its grid's crew.
_ROLE_HOLDERS = (sa.select(Membership.person_id).distinct()
                 .where(Membership.org_id.in_(sa.bindparam("orgs", expanding=True)),
                        Membership.role.in_(sa.bindparam("roles", expanding=True)))
                 .order_by(Membership.person_id))


def admins() -> list[int]:
    """The active platform admins (told when the system's own checks find something wrong)."""
    return list(db.session.scalars(sa.select(Membership.person_id).distinct().join(
        Person, Person.id == Membership.person_id).where(
        Membership.role == Role.admin.value, Membership.org_id.is_(None), Person.is_active.is_(True))
        .order_by(Membership.person_id)))
