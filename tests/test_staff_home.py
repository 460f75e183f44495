"""The grid leader's pages: the home's counts (one aggregate query), their own name in full,
the resident's phone as a 拨打 button for those the contact rule names (and each view logged)."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy import event

from backend.extensions import db
from backend.notifications.service import notify, unread_count
from backend.people.actors import load_actor
from backend.wishes import service
from backend.wishes.models import Wish, WishContactView
from tests.test_csrf_session import h5_login
from tests.test_wishes import submit, w  # noqa: F401  (the fixture)


def _statements(app):
    """A list that fills with the SQL statements run until the listener is removed."""
    seen: list[str] = []

    def listen(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", listen)
    return seen, lambda: event.remove(engine, "before_cursor_execute", listen)


def test_board_counts_match_the_tabs_in_one_query(app, client, w):  # noqa: F811
    leader = load_actor(w.people["leader"].id)
    ids = [submit(client, w, title=f"心愿{n}")["id"] for n in range(5)]
    service.claim(leader, db.session.get(Wish, ids[0]))
    service.claim(leader, db.session.get(Wish, ids[1]))
    service.fulfil(leader, db.session.get(Wish, ids[1]), "已办好")
    service.claim(load_actor(w.people["member"].id), db.session.get(Wish, ids[2]))
    db.session.commit()

    leader = load_actor(w.people["leader"].id)
    seen, stop = _statements(app)
    try:
        counts = service.board_counts(leader)
    finally:
        stop()
    assert (counts.waiting, counts.mine) == (2, 2)
    assert len(seen) == 1 and "count" in seen[0].lower() and "group by" not in seen[0].lower()
    # The same numbers as the lists behind the tiles.
    waiting = db.session.scalars(*service.board(leader, statuses=["open", "pending_review"])).all()
    mine = db.session.scalars(*service.board(leader, statuses=["claimed", "fulfilled"], mine=True)).all()
    assert (len(waiting), len(mine)) == (2, 2)
    # Another community's grid leader sees none of them.
    assert service.board_counts(load_actor(w.people["leader_b"].id)) == service.BoardCounts(0, 0)


def test_home_tiles_lead_to_the_filtered_lists(app, client, w):  # noqa: F811
    for n in range(3):
        submit(client, w, title=f"心愿{n}")
    notify(w.people["leader"].id, "wish_new", "wish", 1, "有新心愿")
    db.session.commit()
    unread = unread_count(load_actor(w.people["leader"].id))
    h5_login(client, "leader")
    home = client.get("/h5/").get_data(as_text=True)
    tiles = dict(re.findall(r'data-tile="(\w+)"><span class="app-tile__n">(\d+)</span>', home))
    assert tiles == {"waiting": "3", "mine": "0", "messages": str(unread)} and unread >= 1
    assert 'href="/h5/tasks"' in home and 'href="/h5/tasks?tab=mine"' in home and 'href="/h5/me/messages"' in home
    assert "心愿任务" not in home   # the tiles are the way in, not one more row

    resident = app.test_client()
    h5_login(resident, "resident")
    assert "data-testid=\"tiles\"" not in resident.get("/h5/").get_data(as_text=True)


def test_own_name_in_full_others_masked(app, client, w):  # noqa: F811
    wish_id = submit(client, w)["id"]
    service.claim(load_actor(w.people["leader"].id), db.session.get(Wish, wish_id))
    db.session.commit()

    h5_login(client, "leader")
    mine = client.get(f"/h5/tasks/{wish_id}").get_data(as_text=True)
    assert "网格长 张建华" in mine and "张**" not in mine

    other = app.test_client()
    h5_login(other, "secretary")
    seen = other.get(f"/h5/tasks/{wish_id}").get_data(as_text=True)
    assert "网格长 张**" in seen and "张建华" not in seen
    # The API says the same to the same people.
    body = client.get(f"/api/v1/wishes/{wish_id}", headers=w.headers["leader"]).get_json()
    assert body["claimant_label"] == "网格长 张建华" and body["events"][-1]["actor_label"] == "网格长 张建华"
    body = client.get(f"/api/v1/wishes/{wish_id}", headers=w.headers["secretary"]).get_json()
    assert body["claimant_label"] == "网格长 张**"


def test_call_button_only_for_those_who_see_the_number_and_each_view_logged(app, client, w):  # noqa: F811
    wish_id = submit(client, w)["id"]
    h5_login(client, "leader")
    page = client.get(f"/h5/tasks/{wish_id}").get_data(as_text=True)
    assert 'href="tel:13912345678"' in page and "拨打 王阿姨" in page
    views = db.session.scalars(sa.select(WishContactView.person_id).where(WishContactView.wish_id == wish_id)).all()
    assert views == [w.people["leader"].id]

    member = app.test_client()
    h5_login(member, "member")
    page = member.get(f"/h5/tasks/{wish_id}").get_data(as_text=True)
    assert "tel:" not in page and "拨打" not in page and "139****5678" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WishContactView)
                             .where(WishContactView.wish_id == wish_id)) == 1
