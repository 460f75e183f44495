"""Figures of many orgs' subtrees at once: which org is under which."""

from __future__ import annotations

import functools
from collections.abc import Iterable

import sqlalchemy as sa

from backend.extensions import db
from backend.orgs.models import Org


class Subtrees:
    """Orgs and their subtrees, read with one statement: every org whose path begins with one
    of theirs (the paths compared by their first characters, a set lookup per row), placed
    under each of them whose id its path holds. Figures are then read per org of the subtrees
    (`ids`, an index lookup each) and added up per org asked about (`tops`) — rather than
    joining each org to the others by a path prefix (LIKE top.path || '%'), which compares
    every pair."""

    def __init__(self, orgs: list[Org]) -> None:
        self.orgs = [org.id for org in orgs]
        wanted = set(self.orgs)
        by_length: dict[int, set[str]] = {}
        for org in orgs:
            by_length.setdefault(len(org.path), set()).add(org.path)
        self.tops: dict[int, list[int]] = {}
        groups = sorted(by_length.items())
        params = {f"{name}{n}": value for n, (length, paths) in enumerate(groups)
                  for name, value in (("length", length), ("paths", sorted(paths)))}
        for org_id, path in db.session.execute(_orgs_under(len(groups)), params):
            self.tops[org_id] = [int(part) for part in path.strip("/").split("/") if int(part) in wanted]

    @property
    def ids(self) -> list[int]:
        return list(self.tops)

    def add_up(self, rows, names: tuple[str, ...]) -> dict[int, dict]:
        """{org id: {name: sum}} from rows (org id of the subtrees, *values), 0 where none."""
        found = {org_id: dict.fromkeys(names, 0) for org_id in self.orgs}
        for org_id, *values in rows:
            for top in self.tops[org_id]:
                for name, value in zip(names, values, strict=True):
                    found[top][name] += int(value or 0)
        return found

    def distinct(self, rows) -> dict[int, int]:
        """{org id: how many different things} from rows (org id of the subtrees, thing)."""
        found: dict[int, set] = {org_id: set() for org_id in self.orgs}
        for org_id, thing in rows:
            for top in self.tops[org_id]:
                found[top].add(thing)
        return {org_id: len(things) for org_id, things in found.items()}

    def share_out(self, orgs: list[Org], found: Iterable[tuple[int, object]]) -> tuple[list[list], list[int]]:
        """Each (org id of the subtrees, what) of `found` given to the first of `orgs` whose
        subtree holds that org, as going over `orgs` in turn (each repairing what it found
        before the next) would find it: the list of what each of `orgs` was given, and the
        orgs of the subtrees of those given something."""
        first = {org.id: n for n, org in reversed(list(enumerate(orgs)))}
        owner = {org_id: min(first[top] for top in tops) for org_id, tops in self.tops.items()}
        given: list[list] = [[] for _ in orgs]
        for org_id, what in found:
            given[owner[org_id]].append(what)
        hit = {orgs[n].id for n, got in enumerate(given) if got}
        return given, [org_id for org_id, tops in self.tops.items() if hit.intersection(tops)]


@functools.cache
def _orgs_under(groups: int):
    """The statement of `Subtrees`, built once per number of path lengths (a live recompute
    places one org: every watched write runs it), the lengths and paths bound."""
    return sa.select(Org.id, Org.path).where(sa.or_(
        *[sa.func.substr(Org.path, 1, sa.bindparam(f"length{n}")).in_(sa.bindparam(f"paths{n}", expanding=True))
          for n in range(groups)]))
