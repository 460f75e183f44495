"""Who may issue a WeChat binding code for a person.

A binding code makes whoever opens it that person, so issuing one is as strong as holding
the person's roles: staff may issue it for themselves, and for someone else only when they
are staff over an org the person belongs to and outrank every role the person holds (the
rule managers follow when granting roles). A grid member therefore cannot take over their
grid leader's account, nor a grid leader a party member registered with the community.
"""

from __future__ import annotations

from backend.core.permissions import Actor, rule
from backend.core.roles import ROLE_RANK, Role
from backend.people.models import Person


def _may_issue_binding(actor: Actor, person: Person, **_) -> bool:
    if person.id == actor.person_id:
        return actor.is_staff
    held = person.memberships
    if not held:
        # Someone they added and have not placed yet (who sees the person is decided before).
        return actor.is_manager
    in_scope = any(m.org is not None and actor.is_staff_over(m.org) for m in held)
    outranks = all(m.org is not None and actor.best_rank_over(m.org) < ROLE_RANK[Role(m.role)] for m in held)
    return in_scope and outranks


rule("person.wechat.bind", Person, _may_issue_binding)
