"""Rules about people and their roles."""

from __future__ import annotations

import sqlalchemy as sa

from backend.auth.service import hash_password
from backend.core.errors import Conflict, Invalid
from backend.extensions import db
from backend.orgs.models import Org, OrgKind
from backend.people.models import Membership, Person, Role

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
