"""Who sees the wish task board, who claims, who manages, who may see a resident's contact."""

from __future__ import annotations

from functools import lru_cache

import sqlalchemy as sa

from backend.core.db import paths_bound, under_paths
from backend.core.permissions import Actor, capability, rule, visible_if
from backend.core.roles import Role
from backend.orgs.models import Org, OrgKind
from backend.wishes.models import Wish

#: Roles that see a wish on the board (over its grid: held on the grid, community or street).
WISH_VIEW_ROLES = frozenset({Role.street_officer, Role.secretary, Role.grid_leader, Role.grid_member,
                             Role.party_member, Role.volunteer})
#: Roles that may take a wish on.
WISH_CLAIM_ROLES = frozenset({Role.secretary, Role.grid_leader, Role.grid_member, Role.party_member, Role.volunteer})
#: Roles that moderate, assign, reject and release any claim.
WISH_MANAGE_ROLES = frozenset({Role.secretary, Role.grid_leader})
#: Unreviewed wishes are seen by those who review them, and the street above.
WISH_REVIEW_ROLES = WISH_MANAGE_ROLES | {Role.street_officer}


def has_board(actor: Actor | None) -> bool:
    """Whether the person has a wish task board at all."""
    return actor is not None and actor.holds(*WISH_VIEW_ROLES)


#: The shape of the condition on the wishes a person sees: None for an admin (every wish), else
#: how many orgs they hold a board role on and how many a review role on.
Reach = tuple[int, int] | None


def wish_reach(actor: Actor) -> tuple[Reach, dict[str, str]]:
    """Where the actor's wish board reaches (`visible_clause`): its shape, and the org paths
    the condition runs with."""
    if actor.is_admin:
        return None, {}
    seen, reviewers = actor.paths_with(WISH_VIEW_ROLES), actor.paths_with(WISH_REVIEW_ROLES)
    return (len(seen), len(reviewers)), paths_bound("seen", seen) | paths_bound("reviewer", reviewers)


@lru_cache(maxsize=64)
def visible_clause(reach: Reach) -> sa.ColumnElement[bool]:
    """SQL condition on Wish, built once per shape of `wish_reach`, the org paths bound: wishes
    of grids under an org where the actor holds a board role, unreviewed ones under a review role."""
    if reach is None:
        return sa.true()
    seen, reviewers = reach
    if not seen:
        return sa.false()
    reviewed = Wish.status != "pending_review"
    if reviewers:
        reviewed = sa.or_(reviewed, grids_under("reviewer", reviewers))
    return sa.and_(grids_under("seen", seen), reviewed)


def grids_under(name: str, count: int) -> sa.ColumnElement[bool]:
    """SQL condition on Wish: its grid lies under one of `count` orgs, whose paths are bound as
    `name_0`, `name_1`, … (`paths_bound`)."""
    return Wish.grid.has(under_paths(Org.path, name, count))


def _sees(actor: Actor, wish: Wish) -> bool:
    roles = actor.roles_over(wish.grid)
    return bool(roles & (WISH_REVIEW_ROLES if wish.status == "pending_review" else WISH_VIEW_ROLES))


visible_if(Wish, _sees)
rule("wish.view", Wish, lambda actor, wish, **_: True)
rule("wish.claim", Wish, lambda actor, wish, **_: bool(actor.roles_over(wish.grid) & WISH_CLAIM_ROLES))
rule("wish.manage", Wish, lambda actor, wish, **_: actor.is_admin
     or bool(actor.roles_over(wish.grid) & WISH_MANAGE_ROLES))
# Whether a rejected wish truly did not belong is the street's call, not the community's
# that rejected it (the rejection would otherwise drop out of its own rates).
rule("wish.uphold_rejection", Wish, lambda actor, wish, **_: actor.is_street_over(wish.grid))
# Full contact details: only the current claimant and the grid's leader (PIPL: need to know).
rule("wish.contact", Wish, lambda actor, wish, **_: wish.claimant_id == actor.person_id
     or Role.grid_leader in actor.roles_over(wish.grid))
# Grid staff write down a wish for a resident who cannot use a phone.
rule("org.wishes.submit_for_resident", Org, lambda actor, org, **_: org.kind == OrgKind.grid.value
     and bool(actor.roles_over(org) & {Role.grid_leader, Role.grid_member}))
# The community's public wish page is its secretary's to point residents to.
rule("org.wishes.public_page", Org, lambda actor, org, **_: org.kind == OrgKind.community.value
     and Role.secretary in actor.roles_over(org))
capability("wishes.board", has_board)
capability("wishes.rejections", lambda actor: actor.holds(Role.street_officer))
