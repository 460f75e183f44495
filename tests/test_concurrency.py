"""Uniqueness rules hold under real concurrent requests, on both databases.

Each thread uses its own test client, so each request gets its own app context, session and
database connection: the rows race in the database, not in Python.
"""

from __future__ import annotations

import threading
from collections import Counter

import sqlalchemy as sa

from backend.extensions import db
from backend.people.models import Membership, Person
from tests import factories as f

THREADS = 12


def race(app, send) -> Counter:
    """Start THREADS requests at the same moment; count their status codes."""
    # The test's own session must not sit on an open transaction (SQLite's write lock).
    db.session.close()
    barrier = threading.Barrier(THREADS)
    statuses: list[int] = []
    lock = threading.Lock()

    def worker():
        client = app.test_client()
        barrier.wait(timeout=10)
        status = send(client)
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(statuses) == THREADS
    return Counter(statuses)


def test_concurrent_same_username_creates_one_login(app, client):
    orgs = f.tree()
    f.person(username="heping", role="secretary", org=orgs["a"])
    headers = f.login(client, "heping")
    body = {"name": "张三", "username": "zhangsan", "password": "long-enough-1"}

    counts = race(app, lambda c: c.post("/api/v1/people", json=body, headers=headers).status_code)

    assert counts == Counter({201: 1, 409: THREADS - 1})
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).where(Person.username == "zhangsan")) == 1


def test_concurrent_same_membership_is_stored_once(app, client):
    orgs = f.tree()
    f.person(username="heping", role="secretary", org=orgs["a"])
    headers = f.login(client, "heping")
    target = client.post("/api/v1/people", json={"name": "李四"}, headers=headers).get_json()["id"]
    url = f"/api/v1/orgs/{orgs['a1'].id}/members"

    counts = race(app, lambda c: c.post(url, json={"person_id": target, "role": "grid_member"},
                                        headers=headers).status_code)

    assert counts == Counter({201: 1, 409: THREADS - 1})
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).where(
        Membership.person_id == target, Membership.role == "grid_member")) == 1
