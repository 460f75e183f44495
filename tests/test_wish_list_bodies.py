"""The wish lists' and one wish's full answers, byte for byte, as each kind of viewer reads them.

A world of wishes in every state (contact or none, a door and a photo, claimed by a volunteer
and by a party member, written down by the grid leader, awaiting review, rejected and upheld,
confirmed with a rating, another community's) is listed for the secretary, the street
officer, the grid leader, a volunteer holding a claim (who sees its contact when opening it)
and one holding none, on both databases. Every time is set, so the answers are the same on
every run; they are compared with the answers recorded in wish_list_bodies.json: what a
viewer sees (masking, labels, order, totals) changes only on purpose, with that file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from backend.extensions import db
from backend.orgs.models import Org
from backend.wishes.models import Wish, WishEvent, WishPhoto
from tests import factories as f

RECORDED = Path(__file__).with_name("wish_list_bodies.json")
BASE = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
VIEWERS = ("secretary", "street", "leader", "volunteer", "volunteer2")
#: Every wish, the open ones, the viewer's, and pages: full (counted), the last, one past it.
LISTS = ("/api/v1/wishes?per_page=100", "/api/v1/wishes?status=open", "/api/v1/wishes?mine=true",
         "/api/v1/wishes?per_page=3&page=2", "/api/v1/wishes?per_page=3&page=4", "/api/v1/wishes?per_page=4&page=9")


def _wish(client, w, headers=None, **fields) -> dict:
    body = {"title": "楼道灯坏了", "content": "3号楼2单元楼道灯不亮", "category": "环境改善", "urgency": 1,
            "consent": True, **fields}
    if "grid_id" not in body:
        body["qr"] = w.qr
    made = client.post("/api/v1/wishes", json=body, headers=headers or {})
    assert made.status_code == 201, made.get_json()
    return made.get_json()


def _act(client, headers, wish_id: int, action: str, **body) -> None:
    done = client.post(f"/api/v1/wishes/{wish_id}/{action}", json=body, headers=headers)
    assert done.status_code == 200, done.get_json()


@pytest.fixture
def world(app, client):
    w = f.WishWorld(client)
    street, community, grid = w.orgs["street"], w.orgs["a"], w.orgs["a1"]
    w.people["street"] = f.person("周国强", username="street", role="street_officer", org=street)
    w.people["volunteer"] = f.person("赵丽", username="volunteer", role="volunteer", org=community)
    w.people["volunteer2"] = f.person("孙大伟", username="volunteer2", role="volunteer", org=grid)
    for key in ("street", "volunteer", "volunteer2"):
        w.headers[key] = f.login(client, key)
    h = w.headers
    door = _wish(client, w, urgency=2, contact_name="王阿姨", contact_phone="13912345678", location="3号楼2单元401")
    db.session.add(WishPhoto(wish_id=door["id"], sha256="a" * 64, extension="jpg", content_type="image/jpeg",
                             size=10))
    _wish(client, w, title="帮忙取药", category="生活帮扶")
    by_volunteer = _wish(client, w, title="修水龙头", contact_name="李", contact_phone="13800001111")
    _act(client, h["volunteer"], by_volunteer["id"], "claim")
    by_member = _wish(client, w, urgency=3, title="陪同就医", contact_name="欧阳小明", contact_phone="13700002222")
    _act(client, h["member"], by_member["id"], "claim")
    _act(client, h["member"], by_member["id"], "fulfil", note="已陪同到医院")
    _wish(client, w, h["leader"], grid_id=grid.id, title="老人代写心愿", contact_name="钱奶奶")
    confirmed = _wish(client, w, title="换灯泡", contact_phone="13600003333")
    _act(client, h["volunteer"], confirmed["id"], "claim")
    _act(client, h["volunteer"], confirmed["id"], "fulfil", note="换好了")
    assert client.post(f"/api/v1/wishes/{confirmed['id']}/confirm", json={
        "receipt": confirmed["receipt"], "rating": 4, "comment": "谢谢志愿者"}).status_code == 200
    rejected = _wish(client, w, title="广告推销", category="其他")
    _act(client, h["leader"], rejected["id"], "reject", reason="与社区服务无关")
    _act(client, h["street"], rejected["id"], "uphold-rejection", note="确属无关内容")
    still_rejected = _wish(client, w, title="投诉邻居", category="其他")
    _act(client, h["leader"], still_rejected["id"], "reject", reason="请走调解渠道")
    db.session.get(Org, community.id).wish_moderation = True
    db.session.commit()
    _wish(client, w, title="待审核的心愿", contact_name="周")
    db.session.get(Org, community.id).wish_moderation = False
    db.session.commit()
    elsewhere = _wish(client, w, urgency=2, title="别的社区")
    db.session.execute(sa.update(Wish).where(Wish.id == elsewhere["id"])
                       .values(grid_id=w.orgs["b1"].id, community_id=w.orgs["b"].id))
    _set_times()
    return w


def _set_times() -> None:
    """Every time of every wish and event, from its id: the same answers on every run."""
    for column in ("created_at", "due_at", "fulfilled_at", "confirmed_at", "closed_at", "rejection_upheld_at"):
        hours = {"created_at": 0, "due_at": 48, "fulfilled_at": 20, "confirmed_at": 30, "closed_at": 31,
                 "rejection_upheld_at": 40}[column]
        for wish_id, value in db.session.execute(sa.select(Wish.id, getattr(Wish, column))).all():
            if value is not None:
                db.session.execute(sa.update(Wish).where(Wish.id == wish_id).values(
                    {column: BASE + timedelta(hours=wish_id * 3 + hours)}))
    for event_id in db.session.scalars(sa.select(WishEvent.id)).all():
        db.session.execute(sa.update(WishEvent).where(WishEvent.id == event_id)
                           .values(at=BASE + timedelta(minutes=event_id * 7)))
    db.session.commit()


def _answers(client, w) -> dict[str, dict]:
    paths = [(viewer, path) for viewer in VIEWERS for path in LISTS]
    paths += [("street", f"/api/v1/wishes?grid_id={w.orgs['a1'].id}"), ("street", "/api/v1/wishes/rejections")]
    wish_ids = db.session.scalars(sa.select(Wish.id).order_by(Wish.id)).all()
    paths += [(viewer, f"/api/v1/wishes/{wish_id}") for viewer in VIEWERS for wish_id in wish_ids]
    answers = {}
    for viewer, path in paths:
        response = client.get(path, headers=w.headers[viewer])
        answers[f"{viewer} {path}"] = {"status": response.status_code, "body": response.get_json()}
    return answers


def test_every_viewer_reads_the_recorded_answers(client, world):
    answers = _answers(client, world)
    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))
    assert answers.keys() == recorded.keys()
    for key, answer in answers.items():
        # JSON of the same values in the same order (the encoder's spacing and escapes are its own)
        assert json.dumps(answer, ensure_ascii=False) == json.dumps(recorded[key], ensure_ascii=False), key
