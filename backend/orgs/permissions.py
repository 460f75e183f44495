"""Who sees which orgs, and who may add orgs below them or organise things in them."""

from __future__ import annotations

import sqlalchemy as sa

from backend.core.db import bound, paths_bound, under_paths
from backend.core.permissions import Actor, capability, rule, visible_if
from backend.core.roles import Role
from backend.orgs.models import Org

#: What tells one person's visible orgs from another's in SQL: how many subtrees they hold and
#: whether any org lies above them (none for an admin, who sees everything).
VisibleShape = tuple[int, bool] | None


def _ancestor_ids(actor: Actor) -> list[int]:
    return sorted({int(p) for path, _ in actor.scopes for p in path.strip("/").split("/") if p})


def org_visible_clause(actor: Actor) -> sa.ColumnElement[bool]:
    """SQL condition on Org: inside any of the actor's org subtrees, or above one of them."""
    shape, values = org_visible_bound(actor)
    return org_visible_by_shape(shape, values)


def org_visible_bound(actor: Actor) -> tuple[VisibleShape, dict]:
    """org_visible_clause as its shape and the values it binds: a statement built once per
    shape (org_visible_by_shape) serves every person of that shape, not built and keyed again
    for each request."""
    if actor.is_admin:
        return None, {}
    params: dict = paths_bound("visible", [path for path, _ in actor.scopes])
    ancestor_ids = _ancestor_ids(actor)
    if ancestor_ids:
        params["visible_ancestors"] = ancestor_ids
    return (len(actor.scopes), bool(ancestor_ids)), params


def org_visible_by_shape(shape: VisibleShape, values: dict | None = None) -> sa.ColumnElement[bool]:
    """org_visible_clause for the people of `shape`: its values bound by name when run
    (org_visible_bound), or carried from `values`."""
    if shape is None:
        return sa.true()
    paths, above = shape
    if not paths:
        return sa.false()
    subtrees = under_paths(Org.path, "visible", paths, values)
    if not above:
        return subtrees
    return sa.or_(subtrees, Org.id.in_(bound("visible_ancestors", values, expanding=True)))


visible_if(Org, lambda actor, org: any(org.path.startswith(path) or path.startswith(org.path)
                                       for path, _ in actor.scopes))
rule("org.view", Org, lambda actor, org, **_: True)
rule("org.create_child", Org, lambda actor, org, **_: actor.is_street_over(org))
# Activities, services, polls and meetings of an org: its secretary or the street above.
rule("org.organise", Org, lambda actor, org, **_: actor.is_organiser_over(org))
capability("orgs.browse", lambda actor: actor.is_staff)
# The API documentation is for the street's and the platform's integrators.
capability("api.docs", lambda actor: actor.holds(Role.street_officer))
