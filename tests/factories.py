"""Small builders for test data. They flush; tests commit when a request must see the rows."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import sqlalchemy as sa

from backend.activities.models import Activity
from backend.bookings import service as bookings
from backend.extensions import db
from backend.orgs.models import Org
from backend.orgs.service import create_org
from backend.people.models import Person
from backend.people.service import add_membership, create_person
from backend.qrcodes.service import create_code

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


def activity(org: Org, starts_at: datetime, *, hours: int = 2, title: str = "敬老院理发",
             location: str = "和平社区活动室") -> tuple[Activity, str]:
    """An activity of `org` with five places, and its venue (check-in) code."""
    slot = bookings.create_slot(org_id=org.id, starts_at=starts_at, ends_at=starts_at + timedelta(hours=hours),
                                capacity=5)
    made = Activity(org_id=org.id, slot_id=slot.id, title=title, location=location)
    db.session.add(made)
    db.session.flush()
    return made, create_code("checkin", made.id, org, None).code


def login(client, username: str, password: str = PASSWORD) -> dict:
    """Bearer headers for `username`."""
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


#: The migration's guard on the campaign ledger (0008), to put back after a test lifts it.
_LEDGER_GUARD = {
    "sqlite": ["CREATE TRIGGER campaign_ledger_no_update BEFORE UPDATE ON campaign_ledger "
               "BEGIN SELECT RAISE(ABORT, 'campaign_ledger is append-only'); END",
               "CREATE TRIGGER campaign_ledger_no_delete BEFORE DELETE ON campaign_ledger "
               "BEGIN SELECT RAISE(ABORT, 'campaign_ledger is append-only'); END"],
    "postgresql": ["CREATE TRIGGER campaign_ledger_append_only BEFORE UPDATE OR DELETE ON campaign_ledger "
                   "FOR EACH ROW EXECUTE FUNCTION campaign_ledger_append_only()"],
}
_LEDGER_UNGUARD = {
    "sqlite": ["DROP TRIGGER IF EXISTS campaign_ledger_no_update", "DROP TRIGGER IF EXISTS campaign_ledger_no_delete"],
    "postgresql": ["DROP TRIGGER IF EXISTS campaign_ledger_append_only ON campaign_ledger"],
}


@contextmanager
def ledger_unguarded() -> Iterator[sa.Connection]:
    """A connection on which the campaign ledger takes UPDATE and DELETE — what someone with
    the database in hand can do —, committed at the end; the guard is put back afterwards
    (a PostgreSQL database outlives the test). The test's own session ends its transaction
    first, so it sees the changes afterwards."""
    db.session.commit()
    engine = db.engine
    dialect = engine.dialect.name
    try:
        with engine.begin() as conn:
            for statement in _LEDGER_UNGUARD[dialect]:
                conn.exec_driver_sql(statement)
            yield conn
    finally:
        with engine.begin() as conn:
            for statement in _LEDGER_UNGUARD[dialect] + _LEDGER_GUARD[dialect]:
                conn.exec_driver_sql(statement)


class WishWorld:
    """Two communities (f.tree()): A has a grid leader, party members, a secretary and a
    resident, B a grid leader; the wish QR code of grid a1; everyone's bearer headers."""

    def __init__(self, client):
        self.orgs = tree()
        self.people = {
            "leader": person("张建华", username="leader", role="grid_leader", org=self.orgs["a1"]),
            "member": person("刘志刚", username="member", role="party_member", org=self.orgs["a"]),
            "member2": person("陈淑芬", username="member2", role="party_member", org=self.orgs["a"]),
            "secretary": person("李红梅", username="secretary", role="secretary", org=self.orgs["a"]),
            "leader_b": person("林建军", username="leader_b", role="grid_leader", org=self.orgs["b1"]),
            "resident": person("马春花", username="resident", role="resident", org=self.orgs["a1"]),
        }
        self.qr = create_code("wish", self.orgs["a1"].id, self.orgs["a1"], None).code
        db.session.commit()
        self.headers = {k: login(client, k) for k in self.people}

