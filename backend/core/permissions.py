"""The one door that decides whether a person may do an action on an object.

Deny by default. An object the person cannot see at all answers 404 (its existence is not
confirmed); an object they can see but not change answers 403.

Scope comes from memberships: a role held on an org covers that org and everything below it
(materialised path prefix). A secretary of a community therefore sees its grids; a street
officer sees the street; a global admin sees everything.

This module knows no domain. Each domain registers, in its own `permissions.py`, who may see
its objects (`visible_if`), what may be done to them (`rule`) and what a person may do at all
(`capability`, e.g. whether they have a wish task board); the application imports every
domain's rules at start-up (backend.app).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from backend.core.db import get_by
from backend.core.errors import Forbidden, NotFound
from backend.core.roles import MANAGER_ROLES, ORGANISER_ROLES, ROLE_RANK, STAFF_ROLES, Role
from backend.extensions import db


class Scoped(Protocol):
    """Anything placed in the org tree: its materialised path, "/1/4/9/"."""

    path: str


@dataclass
class Actor:
    """Who is acting, with the org paths each of their roles covers."""

    person_id: int
    #: Their name (the full one: masking it is for what others are shown).
    name: str
    #: Reads the person (backend.people.models.Person) by id when `person` is first asked for:
    #: most requests need no more of them than their id and roles, which is what the login reads.
    read_person: Callable[[int], Any] = field(repr=False, compare=False)
    is_admin: bool = False
    #: (org path, role) for every membership with an org.
    scopes: list[tuple[str, Role]] = field(default_factory=list)

    @cached_property
    def person(self) -> Any:
        """The person, read once when first asked for (or as given: `actor.person = …`)."""
        return self.read_person(self.person_id)

    def roles_around(self, org: Scoped) -> set[Role]:
        """Roles held on `org`, above it, or anywhere below it (a volunteer of one of its grids)."""
        return {role for path, role in self.scopes if org.path.startswith(path) or path.startswith(org.path)}

    def roles_over(self, org: Scoped) -> set[Role]:
        """Roles held on `org` or any org above it."""
        return {role for path, role in self.scopes if org.path.startswith(path)}

    def best_rank_over(self, org: Scoped) -> int:
        """The rank of the strongest role over `org` (0 = admin; 99 = none)."""
        if self.is_admin:
            return ROLE_RANK[Role.admin]
        ranks = [ROLE_RANK[r] for r in self.roles_over(org)]
        return min(ranks) if ranks else 99

    def is_staff_over(self, org: Scoped) -> bool:
        return self.is_admin or bool(self.roles_over(org) & STAFF_ROLES)

    def is_manager_over(self, org: Scoped) -> bool:
        return self.is_admin or bool(self.roles_over(org) & MANAGER_ROLES)

    def is_organiser_over(self, org: Scoped) -> bool:
        """Its secretary or the street above (or an admin): who organises things there."""
        return self.is_admin or bool(self.roles_over(org) & ORGANISER_ROLES)

    def is_street_over(self, org: Scoped) -> bool:
        """The street (or the organisation department, an admin) above `org`."""
        return self.is_admin or Role.street_officer in self.roles_over(org)

    def holds(self, *roles: Role) -> bool:
        """Whether the person holds any of `roles` anywhere (admins hold every role)."""
        return self.is_admin or any(role in roles for _, role in self.scopes)

    @property
    def is_staff(self) -> bool:
        return self.holds(*STAFF_ROLES)

    @property
    def is_manager(self) -> bool:
        return self.holds(*MANAGER_ROLES)

    def paths_with(self, roles) -> list[str]:
        """The org paths where the person holds one of `roles`."""
        return sorted({path for path, role in self.scopes if role in roles})

    def staff_paths(self) -> list[str]:
        return self.paths_with(STAFF_ROLES)

    def manager_paths(self) -> list[str]:
        return self.paths_with(MANAGER_ROLES)


# --- the registry -------------------------------------------------------------------------------

Rule = Callable[..., bool]

#: model → who sees one of its rows (admins see everything).
_VISIBLE: dict[type, Callable[[Actor, Any], bool]] = {}
#: action name → (object type, rule). Anything not listed is denied.
_RULES: dict[str, tuple[type, Rule]] = {}
#: action name → rule on the actor alone ("has a wish board", "may start a campaign").
_CAPABILITIES: dict[str, Callable[[Actor], bool]] = {}


def visible_if(model: type, rule: Callable[[Actor, Any], bool]) -> None:
    """Who may know that a row of `model` exists (404 for everyone else)."""
    _VISIBLE[model] = rule


def rule(action: str, model: type, check: Rule) -> None:
    """`check(actor, obj, **context)` decides `action` on a visible `model` row."""
    if action in _RULES or action in _CAPABILITIES:
        raise ValueError(f"permission {action!r} registered twice")
    _RULES[action] = (model, check)


def capability(action: str, check: Callable[[Actor], bool]) -> None:
    """`check(actor)` decides `action`, which is about no object in particular."""
    if action in _RULES or action in _CAPABILITIES:
        raise ValueError(f"permission {action!r} registered twice")
    _CAPABILITIES[action] = check


def sees(actor: Actor, obj) -> bool:
    """Whether `actor` may know `obj` exists."""
    if actor.is_admin:
        return True
    check = next((_VISIBLE[kind] for kind in type(obj).__mro__ if kind in _VISIBLE), None)
    return check is not None and bool(check(actor, obj))


def can(actor: Actor | None, action: str, obj=None, **context) -> bool:
    """True when `actor` may do `action` (on `obj`, unless it is a capability). Never raises."""
    if actor is None:
        return False
    if action in _CAPABILITIES:
        return bool(_CAPABILITIES[action](actor))
    if action not in _RULES:
        return False
    kind, check = _RULES[action]
    if not isinstance(obj, kind) or not sees(actor, obj):
        return False
    return bool(check(actor, obj, **context))


def authorize(actor: Actor | None, action: str, obj, **context) -> None:
    """Raise NotFound when `obj` is outside the actor's organisations, Forbidden when the
    actor sees it but may not do `action`."""
    if obj is None or actor is None or not sees(actor, obj):
        raise NotFound()
    if not can(actor, action, obj, **context):
        raise Forbidden()


def load_authorized(actor: Actor | None, model: type, obj_id: int, action: str, statement: Any = None):
    """The `model` row `obj_id`, if the actor may do `action` on it (404 / 403 otherwise);
    read through `statement` (see core.db.get_by) when it loads what the rule reads with it."""
    obj = db.session.get(model, obj_id) if statement is None else get_by(model, statement, obj_id)
    authorize(actor, action, obj)
    return obj
