from __future__ import annotations

from flask_smorest import Blueprint

from backend.auth.current import require_actor
from backend.core.db import commit
from backend.core.paging import page_of, paginate
from backend.orgs import service
from backend.orgs.schemas import OrgListArgs, OrgSchema
from backend.people import service as people_service
from backend.people.schemas import MemberCreateSchema, MemberListArgs, MemberSchema

blp = Blueprint("orgs", __name__, url_prefix="/api/v1/orgs", description="组织树与成员")


@blp.get("")
@blp.arguments(OrgListArgs, location="query")
@blp.response(200, page_of(OrgSchema))
def list_orgs(args):
    """Orgs the signed-in person can see (their subtrees and the orgs above them)."""
    stmt = service.visible_orgs(require_actor(), args.get("kind"), args.get("parent_id"))
    return paginate(stmt, args["page"], args["per_page"])


@blp.post("")
@blp.arguments(OrgSchema)
@blp.response(201, OrgSchema)
def create_org(args):
    """Create an org (admin; street officers inside their street)."""
    org = service.create_by(require_actor(), args["name"], args["kind"], args["parent_id"])
    commit()
    return org


@blp.get("/<int:org_id>")
@blp.response(200, OrgSchema)
def get_one(org_id):
    """One org; 404 when it is outside the person's organisations."""
    return service.org_for(require_actor(), org_id)


@blp.get("/<int:org_id>/members")
@blp.arguments(MemberListArgs, location="query")
@blp.response(200, page_of(MemberSchema))
def list_members(args, org_id):
    """People holding a role on this org (staff of the org or above)."""
    members = people_service.members_for(require_actor(), org_id, args.get("role"))[1]
    return paginate(members, args["page"], args["per_page"])


@blp.post("/<int:org_id>/members")
@blp.arguments(MemberCreateSchema)
@blp.response(201, MemberSchema)
def add_member(args, org_id):
    """Give a person a role here; managers grant only roles below their own."""
    membership = people_service.add_member_by(require_actor(), org_id, args["person_id"], args["role"])
    commit()
    return membership
