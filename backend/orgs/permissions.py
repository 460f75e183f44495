"""Who sees which orgs, and who may add orgs below them or organise things in them."""

from __future__ import annotations

import sqlalchemy as sa

from backend.core.permissions import Actor, capability, rule, visible_if
from backend.core.roles import Role
from backend.orgs.models import Org


def org_visible_clause(actor: Actor):
    """SQL condition on Org: inside any of the actor's org subtrees, or above one of them."""
    if actor.is_admin:
        return sa.true()
    conditions = []
    ancestor_ids: set[int] = set()
    for path, _ in actor.scopes:
        conditions.append(Org.path.startswith(path))
        ancestor_ids.update(int(p) for p in path.strip("/").split("/") if p)
    if ancestor_ids:
        conditions.append(Org.id.in_(ancestor_ids))
    return sa.or_(*conditions) if conditions else sa.false()


visible_if(Org, lambda actor, org: any(org.path.startswith(path) or path.startswith(org.path)
                                       for path, _ in actor.scopes))
rule("org.view", Org, lambda actor, org, **_: True)
rule("org.create_child", Org, lambda actor, org, **_: actor.is_street_over(org))
# Activities, services, polls and meetings of an org: its secretary or the street above.
rule("org.organise", Org, lambda actor, org, **_: actor.is_organiser_over(org))
capability("orgs.browse", lambda actor: actor.is_staff)
# The API documentation is for the street's and the platform's integrators.
capability("api.docs", lambda actor: actor.holds(Role.street_officer))
