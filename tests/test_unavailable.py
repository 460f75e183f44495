"""A database that cannot take the request now — another transaction holds the write lock past
DB_LOCK_TIMEOUT_SECONDS, the disk is full — answers 503 with Retry-After and the envelope (a
Chinese page on H5), on both databases. Who saw a resident's phone number is recorded after
the read, best effort: a busy database loses the record, never the read."""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from backend.app import create_app
from backend.core.db import is_busy
from backend.extensions import db
from backend.qrcodes.service import create_code
from backend.wishes.models import WishContactView
from tests import factories as f
from tests.conftest import TEST_CONFIG
from tests.test_api_errors import envelope

#: Short, so a test waits a moment for the lock it holds; production waits 10 s.
LOCK_WAIT = 0.3


@pytest.fixture
def app(db_url):
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": db_url, "DB_LOCK_TIMEOUT_SECONDS": LOCK_WAIT})
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def world(app, client):
    orgs = f.tree()
    f.person("张建华", username="leader", role="grid_leader", org=orgs["a1"])
    f.person(username="officer", role="street_officer", org=orgs["street"])
    qr = create_code("wish", orgs["a1"].id, orgs["a1"], None)
    db.session.commit()
    wish = client.post("/api/v1/wishes", json={
        "qr": qr.code, "title": "帮忙换灯泡", "content": "楼道灯坏了", "category": "生活帮扶",
        "contact_name": "王大妈", "contact_phone": "13912345678", "consent": True}).get_json()
    headers = {"leader": f.login(client, "leader"), "officer": f.login(client, "officer")}
    ids = {"a": orgs["a"].id}
    db.session.remove()
    return {**ids, "wish": wish["id"], **headers}


@contextmanager
def lock_held(app, *tables: str):
    """Another connection holds the write lock (SQLite) or an exclusive lock on `tables`
    (PostgreSQL) until the block ends."""
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        transaction = conn.begin()   # on SQLite BEGIN IMMEDIATE (backend.extensions): the write lock
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            transaction.rollback()
    engine.dispose()


def test_a_write_behind_a_held_lock_is_503_with_retry_after(app, client, world):
    with lock_held(app, "orgs"):
        response = client.post("/api/v1/orgs", headers=world["officer"],
                               json={"name": "第三网格", "kind": "grid", "parent_id": world["a"]})
    envelope(response, 503, "unavailable")
    assert response.headers["Retry-After"] == "5"
    again = client.post("/api/v1/orgs", headers=world["officer"],
                        json={"name": "第三网格", "kind": "grid", "parent_id": world["a"]})
    assert again.status_code == 201


def test_a_page_behind_a_held_lock_is_a_503_page(app, client, world):
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/h5/login").get_data(as_text=True)).group(1)
    with lock_held(app, "rate_counts"):
        page = client.post("/h5/login", data={"username": "leader", "password": "wrong-password", "csrf_token": token})
    assert page.status_code == 503 and page.mimetype == "text/html"
    assert page.headers["Retry-After"] == "5"
    assert "服务繁忙，请稍后再试" in page.get_data(as_text=True)


def test_a_full_disk_is_503(app, client, world, database):
    if database[0] != "sqlite":
        pytest.skip("a full disk is simulated with SQLite's max_page_count; PostgreSQL's is classified below")
    pages = db.session.execute(sa.text("PRAGMA page_count")).scalar()
    db.session.remove()
    db.engine.dispose()
    sa.event.listen(db.engine, "connect", lambda conn, _: conn.execute(f"PRAGMA max_page_count = {pages}"))
    statuses = set()
    for i in range(200):   # until the free space left in the file's pages is used up
        response = client.post("/api/v1/people", headers=world["officer"], json={"name": f"居民{i}" * 10})
        statuses.add(response.status_code)
        if response.status_code == 503:
            envelope(response, 503, "unavailable")
            break
    assert statuses <= {201, 503} and 503 in statuses


@pytest.mark.parametrize(("orig", "busy"), [
    ("database is locked", True), ("database or disk is full", True), ("no such table: orgs", False),
    (SimpleNamespace(sqlstate="55P03"), True), (SimpleNamespace(sqlstate="53100"), True),
    (SimpleNamespace(sqlstate="57014"), True), (SimpleNamespace(sqlstate="08006"), True),
    (SimpleNamespace(sqlstate="42P01"), False),
])
def test_which_operational_errors_mean_busy(orig, busy):
    assert is_busy(OperationalError("SELECT 1", {}, orig)) is busy


def test_a_bug_that_is_an_operational_error_stays_a_500(app, client, world, monkeypatch):
    def broken(*args, **kwargs):
        raise OperationalError("SELECT nothing", {}, Exception("no such table: nothing"))
    monkeypatch.setattr("backend.orgs.service.create_org", broken)
    response = client.post("/api/v1/orgs", headers=world["officer"],
                           json={"name": "第三网格", "kind": "grid", "parent_id": world["a"]})
    envelope(response, 500, "internal_error")


def _views() -> list[int]:
    views = db.session.scalars(sa.select(WishContactView.person_id)).all()
    db.session.remove()
    return views


def test_a_read_that_shows_a_phone_number_survives_a_busy_database(app, client, world, caplog):
    url = f"/api/v1/wishes/{world['wish']}"
    with lock_held(app, "wish_contact_views"), caplog.at_level(logging.WARNING, logger="backend"):
        read = client.get(url, headers=world["leader"])
    assert read.status_code == 200 and read.get_json()["contact_phone"] == "13912345678"
    assert _views() == []
    assert "best-effort record dropped on GET " + url in caplog.text
    assert client.get(url, headers=world["leader"]).status_code == 200
    assert len(_views()) == 1


def test_a_task_page_that_shows_a_phone_number_survives_a_busy_database(app, client, world):
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/h5/login").get_data(as_text=True)).group(1)
    assert client.post("/h5/login", data={"username": "leader", "password": f.PASSWORD,
                                          "csrf_token": token}).status_code == 302
    with lock_held(app, "wish_contact_views"):
        page = client.get(f"/h5/tasks/{world['wish']}")
    assert page.status_code == 200 and "13912345678" in page.get_data(as_text=True)
    assert _views() == []
