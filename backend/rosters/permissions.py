"""Who may import rosters: the street for the street and its communities, a secretary for their
community; any staff member may download the template."""

from __future__ import annotations

from backend.core.permissions import Actor, capability, rule
from backend.core.roles import Role
from backend.orgs.models import Org, OrgKind

#: A roster fills a street or a community: its grids, units and people hang below those.
IMPORT_KINDS = frozenset({OrgKind.street.value, OrgKind.community.value})


def _may_import(actor: Actor, org: Org, **_) -> bool:
    return org.kind in IMPORT_KINDS and actor.is_organiser_over(org)


rule("org.roster.import", Org, _may_import)
capability("rosters.import", lambda actor: actor.holds(Role.street_officer, Role.secretary))
capability("rosters.template", lambda actor: actor.is_staff)
