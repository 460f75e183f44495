from __future__ import annotations

import sqlalchemy as sa
from flask_smorest import Blueprint

from backend.core.auth import require_actor
from backend.core.db import commit
from backend.core.errors import Forbidden, Invalid
from backend.core.paging import page_of, paginate
from backend.core.permissions import authorize, can
from backend.extensions import db
from backend.orgs.models import Org, OrgKind
from backend.people import service
from backend.people.models import Person
from backend.people.permissions import person_visible_clause
from backend.people.schemas import PersonListArgs, PersonSchema

blp = Blueprint("people", __name__, url_prefix="/api/v1/people", description="人员")


@blp.get("")
@blp.arguments(PersonListArgs, location="query")
@blp.response(200, page_of(PersonSchema))
def list_people(args):
    """People in the staff member's organisations (and people they added)."""
    actor = require_actor()
    if not actor.is_staff:
        raise Forbidden()
    stmt = sa.select(Person).where(person_visible_clause(actor))
    if args.get("q"):
        stmt = stmt.where(Person.name.contains(args["q"].strip(), autoescape=True))
    return paginate(stmt.order_by(Person.name, Person.id), args["page"], args["per_page"])


@blp.post("")
@blp.arguments(PersonSchema)
@blp.response(201, PersonSchema)
def create_person(args):
    """Add a person; a username and password make a staff login."""
    actor = require_actor()
    if not can(actor, "people.create"):
        raise Forbidden()
    if args.get("home_community_id") is not None:
        community = db.session.get(Org, args["home_community_id"])
        if community is None or community.kind != OrgKind.community.value or not can(actor, "org.view", community):
            raise Invalid("所选社区不存在", fields={"home_community_id": ["所选社区不存在"]})
    person = service.create_person(created_by=actor.person, **args)
    commit()
    return person


@blp.get("/<int:person_id>")
@blp.response(200, PersonSchema)
def get_person(person_id):
    """One person; 404 when outside the viewer's organisations."""
    person = db.session.get(Person, person_id)
    authorize(require_actor(), "person.view", person)
    return person
