"""Figures of many orgs' subtrees at once: which org is under which."""

from __future__ import annotations

import os

import sqlalchemy as sa

from backend.extensions import db
from backend.orgs.models import Org


class Subtrees:
    """Orgs and their subtrees, read with one statement: every org under the path they all
    share, placed under each of them whose id its path holds. Figures are then read per org of
    the subtrees (`ids`, an index lookup each) and added up per org asked about (`tops`) —
    rather than joining each org to the others by a path prefix, which no index serves."""

    def __init__(self, orgs: list[Org]) -> None:
        self.orgs = [org.id for org in orgs]
        wanted = set(self.orgs)
        shared = os.path.commonprefix([org.path for org in orgs])
        self.tops: dict[int, list[int]] = {}
        for org_id, path in db.session.execute(sa.select(Org.id, Org.path)
                                               .where(Org.path.startswith(shared[:shared.rfind("/") + 1]))):
            found = [int(part) for part in path.strip("/").split("/") if int(part) in wanted]
            if found:
                self.tops[org_id] = found

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
