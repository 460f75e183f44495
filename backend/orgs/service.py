"""Rules of the organisation tree."""

from __future__ import annotations

import sqlalchemy as sa

from backend.core.errors import Conflict, Invalid
from backend.extensions import db
from backend.orgs.models import ALLOWED_PARENTS, ORG_KIND_LABELS, Org, OrgKind


def create_org(name: str, kind: str, parent: Org | None) -> Org:
    """Add an org under `parent`, checking the kind fits there and the name is free among siblings."""
    kind_enum = OrgKind(kind)
    parent_kind = OrgKind(parent.kind) if parent else None
    if parent_kind not in ALLOWED_PARENTS[kind_enum]:
        where = ORG_KIND_LABELS[parent_kind] if parent_kind else "顶层"
        raise Invalid(f"{ORG_KIND_LABELS[kind_enum]}不能建在{where}下",
                      code="invalid_parent", fields={"parent_id": ["上级组织类型不符"]})
    name = name.strip()
    clash = sa.select(Org.id).where(Org.name == name, Org.parent_id == (parent.id if parent else None)) \
        if parent else sa.select(Org.id).where(Org.name == name, Org.parent_id.is_(None))
    if db.session.scalar(clash) is not None:
        raise Conflict("同级下已有同名组织", code="duplicate_name", fields={"name": ["同级下已有同名组织"]})
    org = Org(name=name, kind=kind_enum.value, parent=parent)
    db.session.add(org)
    db.session.flush()  # the id is part of the path
    org.path = (parent.path if parent else "/") + f"{org.id}/"
    return org


def subtree(org: Org, kind: str | None = None) -> sa.Select:
    """Orgs at or below `org`, optionally of one kind, ordered by path."""
    stmt = sa.select(Org).where(Org.path.startswith(org.path))
    if kind:
        stmt = stmt.where(Org.kind == kind)
    return stmt.order_by(Org.path)


def community_of(org: Org) -> Org | None:
    """The community an org belongs to (itself if it is one)."""
    if org.kind == OrgKind.community.value:
        return org
    ids = org.ancestor_ids
    return db.session.scalar(sa.select(Org).where(Org.id.in_(ids), Org.kind == OrgKind.community.value))
