"""Rules of the organisation tree."""

from __future__ import annotations

import sqlalchemy as sa

from backend.core.errors import Conflict, Forbidden, Invalid, NotFound
from backend.core.permissions import Actor, authorize
from backend.extensions import db
from backend.orgs.models import ALLOWED_PARENTS, ORG_KIND_LABELS, Org, OrgKind
from backend.orgs.permissions import org_visible_clause


def _check_parent(kind_enum: OrgKind, parent: Org | None) -> None:
    parent_kind = OrgKind(parent.kind) if parent else None
    if parent_kind not in ALLOWED_PARENTS[kind_enum]:
        where = ORG_KIND_LABELS[parent_kind] if parent_kind else "顶层"
        raise Invalid(f"{ORG_KIND_LABELS[kind_enum]}不能建在{where}下",
                      code="invalid_parent", fields={"parent_id": ["上级组织类型不符"]})


def create_org(name: str, kind: str, parent: Org | None) -> Org:
    """Add an org under `parent`, checking the kind fits there and the name is free among siblings."""
    kind_enum = OrgKind(kind)
    _check_parent(kind_enum, parent)
    name = name.strip()
    same_parent = Org.parent_id.is_(None) if parent is None else Org.parent_id == parent.id
    clash = sa.select(Org.id).where(Org.name == name, same_parent)
    if db.session.scalar(clash) is not None:
        raise Conflict("同级下已有同名组织", code="duplicate_name", fields={"name": ["同级下已有同名组织"]})
    org = Org(name=name, kind=kind_enum.value, parent=parent)
    db.session.add(org)
    db.session.flush()  # the id is part of the path
    org.path = (parent.path if parent else "/") + f"{org.id}/"
    return org


def create_orgs(specs: list[tuple[str, str, Org]]) -> list[Org]:
    """Add many (name, kind, parent) orgs with one flush (a roster import): kinds checked as by
    create_org; the caller has checked the names are free, the unique constraint stands behind it."""
    orgs = []
    for name, kind, parent in specs:
        _check_parent(OrgKind(kind), parent)
        orgs.append(Org(name=name.strip(), kind=OrgKind(kind).value, parent=parent))
    db.session.add_all(orgs)
    db.session.flush()  # the ids are part of the paths
    for org in orgs:
        org.path = f"{org.parent.path}{org.id}/"
    return orgs


def lineage(org: Org, include_self: bool = True) -> list[Org]:
    """The orgs from the root down to `org` (for breadcrumbs and posters)."""
    ids = org.ancestor_ids if include_self else org.ancestor_ids[:-1]
    return list(db.session.scalars(sa.select(Org).where(Org.id.in_(ids)).order_by(Org.path)))


def units_near(org: Org) -> sa.Select:
    """Resident units (驻区单位) of `org`'s street: the ones it may co-organise with."""
    street_path = f"/{org.ancestor_ids[0]}/"
    return sa.select(Org).where(Org.kind == OrgKind.unit.value, Org.path.startswith(street_path)).order_by(Org.name)


def resident_unit(org: Org, unit_id: int | None, field: str) -> Org | None:
    """The unit `unit_id` as a partner or provider for `org`; 422 when it is not a unit of its street."""
    if unit_id is None:
        return None
    unit = db.session.scalar(units_near(org).where(Org.id == unit_id))
    if unit is None:
        raise Invalid("请选择本街道的驻区单位", code="invalid_unit", fields={field: ["请选择本街道的驻区单位"]})
    return unit


# --- the doors: look up, authorise (API and pages call these) -----------------------------------

def public_communities(limit: int = 200) -> list[Org]:
    """The communities a resident may pick on the public home page (with their street, as
    `parent`), street by street; names and ids are public (they are on every poster)."""
    return list(db.session.scalars(sa.select(Org).where(Org.kind == OrgKind.community.value)
                                   .options(sa.orm.joinedload(Org.parent))
                                   .order_by(Org.path, Org.id).limit(limit)))


def public_community(org_id: int) -> Org:
    """A community by id for its public pages (wishes, services); 404 for anything else."""
    community = db.session.get(Org, org_id)
    if community is None or community.kind != OrgKind.community.value:
        raise NotFound("找不到该社区")
    return community


def org_for(actor: Actor | None, org_id: int, action: str = "org.view") -> Org:
    """The org, if the actor may `action` it: 404 when there is no such org or it is outside
    the person's organisations, 403 when seen but not allowed."""
    org = db.session.get(Org, org_id)
    if org is None:
        raise NotFound("找不到该组织")
    authorize(actor, action, org)
    return org


def visible_orgs(actor: Actor, kind: str | None = None, parent_id: int | None = None) -> sa.Select:
    """Orgs the person can see (their subtrees and the orgs above them), in tree order."""
    stmt = sa.select(Org).where(org_visible_clause(actor))
    if kind is not None:
        stmt = stmt.where(Org.kind == kind)
    if parent_id is not None:
        stmt = stmt.where(Org.parent_id == parent_id)
    return stmt.order_by(Org.path)


def staffed_orgs(actor: Actor) -> list[Org]:
    """Orgs the person works in or oversees, in tree order (the org browser)."""
    return [o for o in db.session.scalars(visible_orgs(actor)) if actor.is_staff_over(o)]


def create_by(actor: Actor, name: str, kind: str, parent_id: int | None) -> Org:
    """A new org: a street by an admin; anything below by the street above it."""
    parent = None
    if parent_id is not None:
        parent = org_for(actor, parent_id, "org.create_child")
    elif not actor.is_admin:
        raise Forbidden("只有系统管理员可以新建街道")
    return create_org(name, kind, parent)
