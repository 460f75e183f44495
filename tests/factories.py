"""Small builders for test data. They flush; tests commit when a request must see the rows."""

from __future__ import annotations

import itertools

from backend.extensions import db
from backend.orgs.models import Org
from backend.orgs.service import create_org
from backend.people.models import Person
from backend.people.service import add_membership, create_person

PASSWORD = "correct-horse-9"
_seq = itertools.count(1)


def org(name: str | None = None, kind: str = "street", parent: Org | None = None) -> Org:
    return create_org(name or f"{kind}-{next(_seq)}", kind, parent)


def tree() -> dict[str, Org]:
    """One street with communities A and B, each with two grids; committed."""
    street = org("东湖街道", "street")
    a = org("和平社区", "community", street)
    b = org("幸福社区", "community", street)
    orgs = {"street": street, "a": a, "b": b,
            "a1": org("第一网格", "grid", a), "a2": org("第二网格", "grid", a),
            "b1": org("第一网格", "grid", b), "b2": org("第二网格", "grid", b)}
    db.session.commit()
    return orgs


def person(name: str | None = None, *, username: str | None = None, role: str | None = None,
           org: Org | None = None, password: str = PASSWORD, **attrs) -> Person:
    """A person; with `username` a staff login, with `role` a membership; committed."""
    p = create_person(name=name or f"人员{next(_seq)}", username=username,
                      password=password if username else None, **attrs)
    if role:
        add_membership(p, org, role)
    db.session.commit()
    return p


def login(client, username: str, password: str = PASSWORD) -> dict:
    """Bearer headers for `username`."""
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}
