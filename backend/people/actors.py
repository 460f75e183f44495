"""A person as an actor: their memberships read once into org paths and roles."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from flask import g, has_request_context
from sqlalchemy.orm.attributes import set_committed_value

from backend.core.permissions import Actor
from backend.core.roles import Role
from backend.extensions import db
from backend.orgs.models import Org
from backend.people.models import Membership, Person

#: People with their memberships and those memberships' orgs, one row per membership (one
#: row of Nones beside a person who has none); callers add the WHERE.
_SCOPED_PEOPLE = (sa.select(Person, Membership, Org)
                  .outerjoin(Membership, Membership.person_id == Person.id)
                  .outerjoin(Org, Org.id == Membership.org_id)
                  .order_by(Membership.id))


def with_memberships(rows: Iterable[tuple[Person, Membership | None, Org | None]]) -> list[Person]:
    """The people of `rows` (a person, a membership or None, its org or None) in the order
    first seen, each with their memberships and those memberships' orgs set from the rows: one
    statement, at half the ORM's cost of an eager load of the same objects through two
    relationships. As an eager load does, an object the session already holds keeps what it
    holds."""
    people: dict[int, Person] = {}
    memberships: dict[int, list[Membership]] = {}
    for person, membership, org in rows:
        if person.id not in people:
            people[person.id], memberships[person.id] = person, []
        if membership is not None:
            memberships[person.id].append(membership)
            if "org" not in membership.__dict__:
                set_committed_value(membership, "org", org)
    for person_id, person in people.items():
        if "memberships" not in person.__dict__:
            set_committed_value(person, "memberships", memberships[person_id])
    return list(people.values())


def load_actor(person_id: int) -> Actor | None:
    """The active person `person_id` with the scopes of their roles; None when inactive or unknown."""
    people = with_memberships(db.session.execute(
        _SCOPED_PEOPLE.where(Person.id == person_id, Person.is_active.is_(True))))
    return actor_from(people[0] if people else None)


def actor_from(person: Person | None) -> Actor | None:
    """`person` as an actor, from their memberships (and those memberships' orgs) as already
    loaded; None when there is no such person or they are inactive."""
    if person is None or not person.is_active:
        return None
    roles = ((m.role, m.org.path if m.org is not None else None) for m in person.memberships)
    actor = actor_of_roles(person.id, person.name, roles)
    actor.person = person
    return actor


def actor_of_roles(person_id: int, name: str, roles: Iterable[tuple[str, str | None]]) -> Actor:
    """The actor of the active person `person_id` named `name` holding `roles` (a role, the path
    of its org or None), who reads the person only if asked for them."""
    actor = Actor(person_id=person_id, name=name, read_person=_read_person)
    for role, path in roles:
        if role == Role.admin.value and path is None:
            actor.is_admin = True
        elif path is not None:
            actor.scopes.append((path, Role(role)))
    return actor


def _read_person(person_id: int) -> Person:
    """The person with their memberships and those memberships' orgs, in one statement: a page
    that asks for the person mostly lists their roles too."""
    return with_memberships(db.session.execute(_SCOPED_PEOPLE.where(Person.id == person_id)))[0]


def actors_of(person_ids) -> None:
    """Remember the actors of `person_ids` for the rest of the request, read together: a list
    labelling its rows by their people then costs the same for 3 rows as for 30."""
    if not has_request_context():
        return
    cache = g.setdefault("actors_by_id", {})
    missing = {pid for pid in person_ids if pid is not None and pid not in cache}
    if not missing:
        return
    people = with_memberships(db.session.execute(_SCOPED_PEOPLE.where(Person.id.in_(missing))))
    found = {person.id: person for person in people}
    for pid in missing:
        cache[pid] = actor_from(found.get(pid))


def actor_of(person_id: int) -> Actor | None:
    """load_actor, remembered for the rest of the request: a list labels many rows by few people."""
    if not has_request_context():
        return load_actor(person_id)
    cache = g.setdefault("actors_by_id", {})
    if person_id not in cache:
        cache[person_id] = load_actor(person_id)
    return cache[person_id]
