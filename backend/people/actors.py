"""A person as an actor: their memberships read once into org paths and roles."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g, has_request_context
from sqlalchemy.orm import selectinload

from backend.core.permissions import Actor
from backend.core.roles import Role
from backend.extensions import db
from backend.people.models import Membership, Person


def load_actor(person_id: int) -> Actor | None:
    """The active person `person_id` with the scopes of their roles; None when inactive or unknown."""
    person = db.session.execute(
        sa.select(Person)
        .options(selectinload(Person.memberships).selectinload(Membership.org))
        .where(Person.id == person_id, Person.is_active.is_(True))
    ).scalar_one_or_none()
    return actor_from(person)


def actor_from(person: Person | None) -> Actor | None:
    """`person` as an actor, from their memberships (and those memberships' orgs) as already
    loaded; None when there is no such person or they are inactive."""
    if person is None or not person.is_active:
        return None
    actor = Actor(person=person)
    for m in person.memberships:
        if m.role == Role.admin.value and m.org_id is None:
            actor.is_admin = True
        elif m.org is not None:
            actor.scopes.append((m.org.path, Role(m.role)))
    return actor


def actors_of(person_ids) -> None:
    """Remember the actors of `person_ids` for the rest of the request, read together: a list
    labelling its rows by their people then costs the same for 3 rows as for 30."""
    if not has_request_context():
        return
    cache = g.setdefault("actors_by_id", {})
    missing = {pid for pid in person_ids if pid is not None and pid not in cache}
    if not missing:
        return
    people = db.session.scalars(
        sa.select(Person)
        .options(selectinload(Person.memberships).selectinload(Membership.org))
        .where(Person.id.in_(missing))
    ).all()
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
