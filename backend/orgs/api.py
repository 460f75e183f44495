from __future__ import annotations

import sqlalchemy as sa
from flask_smorest import Blueprint

from backend.core.auth import require_actor
from backend.core.db import commit
from backend.core.errors import Forbidden, NotFound
from backend.core.paging import page_of, paginate
from backend.core.permissions import authorize
from backend.extensions import db
from backend.orgs import service
from backend.orgs.models import Org
from backend.orgs.permissions import org_visible_clause
from backend.orgs.schemas import OrgListArgs, OrgSchema
from backend.people import service as people_service
from backend.people.models import Person
from backend.people.schemas import MemberCreateSchema, MemberListArgs, MemberSchema

blp = Blueprint("orgs", __name__, url_prefix="/api/v1/orgs", description="组织树与成员")


def get_org(org_id: int) -> Org:
    org = db.session.get(Org, org_id)
    if org is None:
        raise NotFound("找不到该组织")
    return org


@blp.get("")
@blp.arguments(OrgListArgs, location="query")
@blp.response(200, page_of(OrgSchema))
def list_orgs(args):
    """Orgs the signed-in person can see (their subtrees and the orgs above them)."""
    actor = require_actor()
    stmt = sa.select(Org).where(org_visible_clause(actor))
    if "kind" in args:
        stmt = stmt.where(Org.kind == args["kind"])
    if "parent_id" in args:
        stmt = stmt.where(Org.parent_id == args["parent_id"])
    return paginate(stmt.order_by(Org.path), args["page"], args["per_page"])


@blp.post("")
@blp.arguments(OrgSchema)
@blp.response(201, OrgSchema)
def create_org(args):
    """Create an org (admin; street officers inside their street)."""
    actor = require_actor()
    parent = None
    if args["parent_id"] is not None:
        parent = get_org(args["parent_id"])
        authorize(actor, "org.create_child", parent)
    elif not actor.is_admin:
        raise Forbidden("只有系统管理员可以新建街道")
    org = service.create_org(args["name"], args["kind"], parent)
    commit()
    return org


@blp.get("/<int:org_id>")
@blp.response(200, OrgSchema)
def get_one(org_id):
    """One org; 404 when it is outside the person's organisations."""
    org = get_org(org_id)
    authorize(require_actor(), "org.view", org)
    return org


@blp.get("/<int:org_id>/members")
@blp.arguments(MemberListArgs, location="query")
@blp.response(200, page_of(MemberSchema))
def list_members(args, org_id):
    """People holding a role on this org (staff of the org or above)."""
    org = get_org(org_id)
    authorize(require_actor(), "org.members.view", org)
    return paginate(people_service.members_of(org, args.get("role")), args["page"], args["per_page"])


@blp.post("/<int:org_id>/members")
@blp.arguments(MemberCreateSchema)
@blp.response(201, MemberSchema)
def add_member(args, org_id):
    """Give a person a role here; managers grant only roles below their own."""
    actor = require_actor()
    org = get_org(org_id)
    authorize(actor, "org.members.add", org, role=args["role"])
    person = db.session.get(Person, args["person_id"])
    authorize(actor, "person.view", person)
    membership = people_service.add_membership(person, org, args["role"])
    commit()
    return membership
