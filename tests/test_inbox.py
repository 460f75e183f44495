"""The inbox: a person's own notifications, unread first, read by opening or marking."""

from __future__ import annotations

from backend.extensions import db
from backend.notifications.service import notify
from tests import factories as f
from tests.test_csrf_session import csrf_from, h5_login


def _world():
    orgs = f.tree()
    leader = f.person("张建华", username="leader", role="grid_leader", org=orgs["a1"])
    other = f.person("林建军", username="other", role="grid_leader", org=orgs["b1"])
    first = notify(leader.id, "wish_escalated", "wish", 7, "第一网格的心愿“修路灯”已超过办理期限")
    second = notify(leader.id, "booking_promoted", "booking", 3, "候补成功：12月5日 09:00 的安排已为您保留名额")
    theirs = notify(other.id, "wish_assigned", "wish", 8, "网格长指派您办理心愿：买菜")
    db.session.commit()
    return leader, other, first, second, theirs


def test_inbox_api_lists_own_messages_unread_first_and_marks_read(client):
    leader, other, first, second, theirs = _world()
    headers = f.login(client, "leader")
    assert client.get("/api/v1/me/notifications").status_code == 401
    body = client.get("/api/v1/me/notifications", headers=headers).get_json()
    assert body["total"] == 2 and body["unread"] == 2
    assert [n["id"] for n in body["items"]] == [second.id, first.id]
    assert body["items"][1] == {**body["items"][1], "kind": "wish_escalated", "title": "心愿超时提醒",
                                "url": "/h5/tasks/7", "read_at": None}
    # Someone else's message is neither read nor revealed.
    done = client.post("/api/v1/me/notifications/read", headers=headers, json={"ids": [first.id, theirs.id]})
    assert done.status_code == 200 and done.get_json() == {"marked": 1, "unread": 1}
    body = client.get("/api/v1/me/notifications", headers=headers).get_json()
    assert [n["id"] for n in body["items"]] == [second.id, first.id] and body["items"][1]["read_at"]
    assert client.get("/api/v1/me/notifications?unread=1", headers=headers).get_json()["total"] == 1
    refused = client.post("/api/v1/me/notifications/read", headers=headers, json={})
    assert refused.status_code == 422
    assert client.post("/api/v1/me/notifications/read", headers=headers, json={"all": True}).get_json()["unread"] == 0
    assert client.get("/api/v1/me/notifications", headers=f.login(client, "other")).get_json()["unread"] == 1


def test_messages_page_badge_open_and_read_all(app, client):
    leader, other, first, second, theirs = _world()
    h5_login(client, "leader")
    home = client.get("/h5/").get_data(as_text=True)
    assert 'data-testid="unread">2<' in home
    page = client.get("/h5/me/messages")
    assert "心愿超时提醒" in page.get_data(as_text=True) and "买菜" not in page.get_data(as_text=True)
    opened = client.get(f"/h5/me/messages/{first.id}")
    assert opened.status_code == 302 and opened.headers["Location"] == "/h5/tasks/7"
    assert client.get(f"/h5/me/messages/{theirs.id}").status_code == 404
    assert 'data-testid="unread">1<' in client.get("/h5/").get_data(as_text=True)
    token = csrf_from(client.get("/h5/me/messages"))
    assert client.post("/h5/me/messages/read", data={"csrf_token": token}).status_code == 302
    assert 'data-testid="unread"' not in client.get("/h5/").get_data(as_text=True)
