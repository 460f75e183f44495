"""Who sees which people, and who may add people and grant them roles."""

from __future__ import annotations

import sqlalchemy as sa

from backend.core.permissions import Actor, capability, rule, visible_if
from backend.core.roles import ROLE_RANK, Role
from backend.extensions import db
from backend.orgs.models import Org
from backend.people.models import Membership, Person


def person_visible_clause(actor: Actor):
    """SQL condition on Person: themselves, people they created, and members of orgs they staff."""
    if actor.is_admin:
        return sa.true()
    conditions = [Person.id == actor.person_id, Person.created_by_id == actor.person_id]
    paths = actor.staff_paths()
    if paths:
        in_scope = (
            sa.select(Membership.id)
            .join(Org, Org.id == Membership.org_id)
            .where(Membership.person_id == Person.id, sa.or_(*[Org.path.startswith(p) for p in paths]))
        )
        conditions.append(in_scope.exists())
    return sa.or_(*conditions)


def _members_add(actor: Actor, org: Org, role: Role | str | None = None, **_) -> bool:
    if not actor.is_manager_over(org):
        return False
    return role is None or ROLE_RANK[Role(role)] > actor.best_rank_over(org)


visible_if(Person, lambda actor, person: bool(db.session.scalar(sa.select(sa.exists().where(
    Person.id == person.id, person_visible_clause(actor))))))
rule("person.view", Person, lambda actor, person, **_: True)
capability("people.create", lambda actor: actor.is_manager)
rule("org.members.view", Org, lambda actor, org, **_: actor.is_staff_over(org))
# Managers grant only roles below their own.
rule("org.members.add", Org, _members_add)
