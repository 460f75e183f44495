"""What a hot request costs in statements, on both databases, so a regression shows in CI.

Each ceiling is the count measured when it was set (docs/performance.md#requests); a change
that adds a statement to a hot path has to raise it here, on purpose. BEGIN is not counted:
SQLite's is ours to say, PostgreSQL's driver says it unseen. Lists are measured with 3 and
with 30 rows and must cost the same (no statement per row). Times are never asserted."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from backend.activities.models import Activity
from backend.auth.models import AuthToken
from backend.bookings import service as bookings
from backend.demo import DEMO_PASSWORD, load_demo
from backend.extensions import db, write_intent
from backend.orgs.models import Org
from backend.people.models import Membership, Person
from backend.people.service import add_membership, create_person
from backend.qrcodes.models import QrCode
from backend.wishes.models import WishContactView
from tests import factories as f

NOW = datetime.now(UTC)

#: Statements per request (BEGIN aside), as measured on both databases when set.
CEILING = {
    "activities": 2,       # login, page (slot, org, team and partner unit joined); a short first page counts itself
    "scorecard": 3,        # login, scorecard with its campaign, the street running it and its org, criteria
    "tasks": 3,            # login, wishes, unread count
    "open_wishes": 4,      # login, count, page, events of the page
    "wishes": 4,           # login, page, events, the claimants with their memberships and orgs (short page: no count)
    "home": 6,             # login, the person with their memberships and orgs (named and listed), orgs of the
                           # scopes, the board's counts, unread count (tile and tab bar)
    "signup": 9,           # login, activity with its org and slot, no-shows, duplicate, overlap, the place (savepoint,
                           # UPDATE, INSERT, release)
    "wish": 22,            # QR, grid and community, token, limit, wish, event, notices (one INSERT), running
                           # figures, live rating (the scorecards locked with what they read: 2; the
                           # running wish figures and claim times in 1 read, the open wishes' counts in 1; the criteria
                           # recomputed in one UPDATE)
    "answer": 18,          # poll and questions, limits, ballot, answer, tallies (one upsert), live rating (SQLite: 17)
}


@contextmanager
def counted() -> Iterator[list[str]]:
    """The statements the engine runs inside the block, BEGIN aside."""
    seen: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        if not statement.startswith("BEGIN"):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


@contextmanager
def begins() -> Iterator[list[str]]:
    """The transactions SQLite is asked to open inside the block, as the BEGIN each is opened
    with (a writer's BEGIN IMMEDIATE goes to the driver's connection, past the engine's
    statement events: see WriterQueue); none on PostgreSQL, whose BEGIN is the driver's."""
    seen: list[str] = []

    def note(conn):
        if conn.dialect.name == "sqlite":
            seen.append("BEGIN IMMEDIATE" if write_intent.get() else "BEGIN")

    event.listen(db.engine, "begin", note)
    try:
        yield seen
    finally:
        event.remove(db.engine, "begin", note)


def cost(client, method: str, path: str, **kwargs) -> int:
    # The test's session outlives requests here: end its transaction, as a new request's is.
    db.session.commit()
    with counted() as seen:
        response = client.open(path, method=method, **kwargs)
    assert response.status_code < 400, response.get_data(as_text=True)
    return len(seen)


@pytest.fixture
def demo(app, client):
    """The demo street, bearer headers of its people, and ids the hot paths need."""
    load_demo()
    app.config.update(WISH_CLIENT_HOURLY_LIMIT=1000, POLL_CLIENT_HOURLY_LIMIT=1000, POLL_NETWORK_HOURLY_LIMIT=1000)
    heping = db.session.scalar(sa.select(Org).where(Org.name == "和平社区"))
    grid = db.session.scalar(sa.select(Org).where(Org.parent_id == heping.id, Org.kind == "grid").order_by(Org.id))
    qr = db.session.scalar(sa.select(QrCode.code).where(QrCode.purpose == "wish", QrCode.target_id == grid.id))
    db.session.commit()
    headers = {name: f.login(client, name, DEMO_PASSWORD) for name in ("heping", "heping_g1", "heping_dy1", "jiedao")}
    period = client.get("/api/v1/periods", headers=headers["heping"]).get_json()[0]["id"]
    return {"heping": heping.id, "grid": grid.id, "qr": qr, "headers": headers, "period": period}


def page_client(app, username: str):
    client = app.test_client()
    client.get("/h5/login")
    with client.session_transaction() as session:
        token = session["csrf"]
    response = client.post("/h5/login", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    return client


def wish_body(demo, n: int) -> dict:
    return {"qr": demo["qr"], "title": f"需要帮忙{n}", "content": "家里水管漏水", "category": "生活帮扶",
            "urgency": 2, "contact_name": "王阿姨", "contact_phone": "13912345678", "consent": True,
            "submit_token": f"count-{n:04d}-" + "x" * 16}


def add_wishes(client, demo, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        assert client.post("/api/v1/wishes", json=wish_body(demo, n)).status_code == 201


def add_activities(demo, count: int) -> None:
    """`count` upcoming activities of 和平社区, every other one run by its team."""
    team_id = db.session.scalar(sa.text("SELECT id FROM teams ORDER BY id LIMIT 1"))
    for n in range(count):
        start = NOW + timedelta(days=5, hours=n)
        slot = bookings.create_slot(org_id=demo["heping"], starts_at=start, ends_at=start + timedelta(hours=1),
                                    capacity=10)
        db.session.add(Activity(org_id=demo["heping"], slot_id=slot.id, title=f"活动{n}", location="活动室",
                                team_id=team_id if n % 2 else None))
    db.session.commit()


# --- reads --------------------------------------------------------------------------------------

def test_activity_list_costs_the_same_for_3_and_30(client, demo):
    headers = demo["headers"]["heping_dy1"]
    add_activities(demo, 2)
    few = cost(client, "GET", "/api/v1/activities", headers=headers)
    add_activities(demo, 27)
    listed = client.get("/api/v1/activities?per_page=100", headers=headers).get_json()
    assert listed["total"] >= 30
    many = cost(client, "GET", "/api/v1/activities?per_page=100", headers=headers)
    assert few == many <= CEILING["activities"]


def test_scorecard(client, demo):
    path = f"/api/v1/periods/{demo['period']}/scorecards/{demo['heping']}"
    assert cost(client, "GET", path, headers=demo["headers"]["heping"]) <= CEILING["scorecard"]


def test_task_board_costs_the_same_for_3_and_30(app, client, demo):
    pages = page_client(app, "heping_g1")
    add_wishes(client, demo, 3)
    few = cost(pages, "GET", "/h5/tasks")
    add_wishes(client, demo, 27, start=3)
    many = cost(pages, "GET", "/h5/tasks")
    assert few == many <= CEILING["tasks"]


def _claim(client, demo, wish_ids, claimers) -> None:
    for wish_id, name in zip(wish_ids, claimers, strict=True):
        headers = demo["headers"][name]
        assert client.post(f"/api/v1/wishes/{wish_id}/claim", headers=headers).status_code == 200


def test_wish_list_costs_the_same_for_3_and_30_and_writes_nothing(client, demo):
    leader = demo["headers"]["heping_g1"]
    add_wishes(client, demo, 3)
    listed = client.get("/api/v1/wishes?per_page=100", headers=leader).get_json()["items"]
    _claim(client, demo, [listed[0]["id"]], ["heping_dy1"])
    few = cost(client, "GET", "/api/v1/wishes?per_page=100", headers=leader)
    add_wishes(client, demo, 27, start=3)
    # more claimants: their labels are read together, not one by one
    listed = client.get("/api/v1/wishes?status=open&per_page=100", headers=leader).get_json()["items"]
    _claim(client, demo, [w["id"] for w in listed[:2]], ["heping", "heping_g1"])
    views = db.session.scalar(sa.select(sa.func.count()).select_from(WishContactView))
    many = cost(client, "GET", "/api/v1/wishes?per_page=100", headers=leader)
    assert few == many <= CEILING["wishes"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WishContactView)) == views
    assert cost(client, "GET", "/api/v1/wishes?status=open", headers=leader) <= CEILING["open_wishes"]


def test_home_page(app, demo):
    assert cost(page_client(app, "heping"), "GET", "/h5/") <= CEILING["home"]


# --- writes -------------------------------------------------------------------------------------

def _volunteer_headers(client, demo) -> dict:
    person = create_person(name="志愿者", username="vol_count", password=f.PASSWORD, is_party_member=True)
    add_membership(person, db.session.get(Org, demo["heping"]), "party_member")
    db.session.commit()
    return f.login(client, "vol_count")


def test_activity_signup_takes_the_write_lock_once(app, client, demo):
    headers = _volunteer_headers(client, demo)
    activity = next(a for a in client.get("/api/v1/activities", headers=headers).get_json()["items"]
                    if a["title"] == "社区健康义诊")
    with begins() as opened:
        spent = cost(client, "POST", f"/api/v1/activities/{activity['id']}/signups", headers=headers)
    assert spent <= CEILING["signup"]
    # the answer is made from the booking as written: no transaction after the commit
    assert opened == (["BEGIN IMMEDIATE"] if db.engine.dialect.name == "sqlite" else [])


def test_wish_submission_takes_the_write_lock_once(client, demo):
    with begins() as opened:
        spent = cost(client, "POST", "/api/v1/wishes", json=wish_body(demo, 900))
    assert spent <= CEILING["wish"]
    # what is read after the commit (the new wish's events) is read without the write lock
    assert opened.count("BEGIN IMMEDIATE") == (1 if db.engine.dialect.name == "sqlite" else 0)


def test_poll_answer_takes_the_write_lock_once(client, demo):
    made = client.post("/api/v1/polls", headers=demo["headers"]["jiedao"], json={
        "org_id": demo["heping"], "period_id": demo["period"], "title": "群众满意度测评", "audience": "mass",
        "modes": ["device"], "opens_at": (NOW - timedelta(hours=1)).isoformat(),
        "closes_at": (NOW + timedelta(days=7)).isoformat(),
        "questions": [{"text": "总体满意度", "kind": "rating5", "criterion_code": "S5", "weight": 1}]})
    assert made.status_code == 201, made.get_json()
    poll = made.get_json()
    body = {"answers": [{"question_id": poll["questions"][0]["id"], "value": 4}], "device": "d" * 20}
    with begins() as opened:
        spent = cost(client, "POST", f"/api/v1/polls/{poll['id']}/responses", json=body)
    assert spent <= CEILING["answer"]
    assert opened == (["BEGIN IMMEDIATE"] if db.engine.dialect.name == "sqlite" else [])


# --- what the savings must not change -------------------------------------------------------------

def test_only_postgresql_connections_are_pinged(app):
    assert db.engine.pool._pre_ping is (db.engine.dialect.name == "postgresql")


def test_revocation_and_role_changes_count_on_the_next_request(client, demo):
    headers = demo["headers"]["heping"]
    path = f"/api/v1/periods/{demo['period']}/scorecards/{demo['heping']}"
    assert client.get(path, headers=headers).status_code == 200
    secretary = db.session.scalar(sa.select(Person).where(Person.username == "heping"))
    db.session.execute(sa.delete(Membership).where(Membership.person_id == secretary.id))
    db.session.commit()
    assert client.get(path, headers=headers).status_code == 404
    add_membership(secretary, db.session.get(Org, demo["heping"]), "secretary")
    db.session.commit()
    assert client.get(path, headers=headers).status_code == 200
    secretary.is_active = False
    db.session.commit()
    assert client.get(path, headers=headers).status_code == 401
    secretary.is_active = True
    db.session.execute(sa.update(AuthToken).where(AuthToken.person_id == secretary.id).values(revoked_at=NOW))
    db.session.commit()
    refused = client.get(path, headers=headers)
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "invalid_token"


def test_a_list_masks_contact_details_and_the_opened_wish_shows_and_records_them(client, demo):
    leader = demo["headers"]["heping_g1"]
    add_wishes(client, demo, 1)
    listed = client.get("/api/v1/wishes?status=open", headers=leader).get_json()["items"][0]
    assert listed["contact_phone"] == "139****5678" and listed["contact_name"] == "王**" and listed["contact_masked"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WishContactView)) == 0
    opened = client.get(f"/api/v1/wishes/{listed['id']}", headers=leader).get_json()
    assert opened["contact_phone"] == "13912345678" and not opened["contact_masked"]
    leader_id = db.session.scalar(sa.select(Person.id).where(Person.username == "heping_g1"))
    assert db.session.scalars(sa.select(WishContactView.person_id)).all() == [leader_id]


def test_a_read_ends_with_commit_on_postgresql_and_keeps_its_prepared_statements(app, client, demo):
    """psycopg forgets what it prepared on a connection at every ROLLBACK: on PostgreSQL a
    request that only read ends its transaction with COMMIT, so what the connection prepared
    (after five runs of a statement) serves the requests after it."""
    ended: list[str] = []

    def note(name):
        return lambda conn: ended.append(name)

    on_commit, on_rollback = note("commit"), note("rollback")
    event.listen(db.engine, "commit", on_commit)
    event.listen(db.engine, "rollback", on_rollback)
    try:
        for _ in range(7):
            db.session.commit()
            ended.clear()
            assert client.get("/api/v1/activities", headers=demo["headers"]["heping"]).status_code == 200
            if db.engine.dialect.name == "postgresql":
                assert ended == ["commit"]
    finally:
        event.remove(db.engine, "commit", on_commit)
        event.remove(db.engine, "rollback", on_rollback)
    if db.engine.dialect.name == "postgresql":
        prepared = db.session.scalar(sa.text("SELECT count(*) FROM pg_prepared_statements"))
        assert prepared >= 2   # the login and the page


def test_a_request_that_changed_something_without_committing_keeps_nothing(app, client):
    """Only a transaction that read and holds nothing ends with COMMIT: rows flushed, or
    objects still pending, by a request that did not commit are dropped."""
    @app.get("/test-flushed")
    def flushed():
        db.session.add(f.org("未提交的街道"))
        db.session.flush()
        return "ok"

    @app.get("/test-pending")
    def pending():
        db.session.add(f.org("未写入的街道"))
        return "ok"

    db.session.commit()
    with db.session.no_autoflush:
        assert client.get("/test-flushed").status_code == 200
        assert client.get("/test-pending").status_code == 200
    write_intent.set(False)   # a reader beside the writer the test's session still is, on SQLite
    with db.engine.connect() as other:
        names = other.scalars(sa.select(Org.name).where(Org.name.in_(["未提交的街道", "未写入的街道"]))).all()
    write_intent.set(True)
    assert names == []
