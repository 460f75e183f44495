"""A wish's 楼栋/门牌 and photos: stored with the wish, seen only by the claimant and the grid
leader (others 403, outside the community 404), erased with the contact details; the form shows
every error at once; 我的心愿 without an account asks the states by receipt."""

from __future__ import annotations

import io
import os
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from PIL import Image

from backend.core import filestore
from backend.extensions import db, utcnow
from backend.rating import evidence
from backend.services.models import ServiceItem
from backend.wishes import service
from backend.wishes.models import Wish, WishContactView, WishPhoto
from tests import factories as f
from tests.test_csrf_session import csrf_from

FORM = {"title": "楼道灯坏了", "content": "3号楼2单元楼道灯不亮", "category": "环境改善", "urgency": "1",
        "contact_name": "王阿姨", "contact_phone": "13912345678", "consent": "on"}


def _jpeg(color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def w(app, client):
    return f.WishWorld(client)


def _post_form(client, w, data, photos=()):
    page = client.get(f"/h5/w/new?qr={w.qr}")
    token = re.search(r'name="submit_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    body = {**data, "submit_token": token, "csrf_token": csrf_from(page),
            "photos": [(io.BytesIO(p), name) for name, p in photos]}
    return client.post(f"/h5/w/new?qr={w.qr}", data=body, content_type="multipart/form-data")


def _submitted(client, w, photos=(("灯.jpg", _jpeg()),)) -> Wish:
    response = _post_form(client, w, {**FORM, "location": "3号楼2单元401"}, photos)
    assert response.status_code == 302, response.get_data(as_text=True)
    return db.session.scalar(sa.select(Wish).order_by(Wish.id.desc()))


def test_form_stores_location_and_photos(client, w):
    wish = _submitted(client, w, (("a.jpg", _jpeg()), ("b.png", _png())))
    assert wish.location == "3号楼2单元401"
    assert [p.content_type for p in wish.photos] == ["image/jpeg", "image/png"]
    for photo in wish.photos:
        path = filestore.path_for(photo.sha256, photo.extension, service.PHOTO_AREA)
        assert path.read_bytes()[:3] in (b"\xff\xd8\xff", b"\x89PN")


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (10, 10), (0, 0, 255)).save(out, "PNG")
    return out.getvalue()


def test_photos_only_for_claimant_and_grid_leader(client, w):
    wish = _submitted(client, w)
    photo_url = f"/h5/tasks/{wish.id}/photos/{wish.photos[0].id}"
    member = f.login(client, "member")
    assert client.post(f"/api/v1/wishes/{wish.id}/claim", headers=member).status_code == 200
    for who in ("leader", "member"):
        got = client.get(photo_url, headers=f.login(client, who))
        assert got.status_code == 200 and got.data == _jpeg() and got.mimetype == "image/jpeg"
        assert "private" in got.headers["Cache-Control"]
    # a party member of the same community who did not claim it sees the wish, not its photo
    assert client.get(photo_url, headers=f.login(client, "member2")).status_code == 403
    # outside the community the wish does not exist
    assert client.get(photo_url, headers=f.login(client, "leader_b")).status_code == 404
    # a photo of another wish under this wish's id
    other = _submitted(client, w, (("c.jpg", _jpeg((0, 200, 0))),))
    assert client.get(f"/h5/tasks/{wish.id}/photos/{other.photos[0].id}",
                      headers=f.login(client, "leader")).status_code == 404


def test_photos_not_for_anonymous(client, w):
    wish = _submitted(client, w)
    got = client.get(f"/h5/tasks/{wish.id}/photos/{wish.photos[0].id}")
    assert got.status_code in (302, 401, 404) and got.data != _jpeg()


def test_location_and_photo_ids_follow_the_contact_rule(client, w):
    wish = _submitted(client, w)
    leader = client.get(f"/api/v1/wishes/{wish.id}", headers=f.login(client, "leader")).get_json()
    assert leader["location"] == "3号楼2单元401" and leader["photo_ids"] == [wish.photos[0].id]
    member = client.get(f"/api/v1/wishes/{wish.id}", headers=f.login(client, "member2")).get_json()
    assert member["location"] is None and member["photo_ids"] == [] and member["contact_masked"]


def test_api_takes_location(client, w):
    response = client.post("/api/v1/wishes", json={**FORM, "consent": True, "urgency": 1, "qr": w.qr,
                                                   "location": "5号楼101"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["location"] == "5号楼101"
    assert db.session.get(Wish, response.get_json()["id"]).location == "5号楼101"
    too_long = client.post("/api/v1/wishes", json={**FORM, "consent": True, "urgency": 1, "qr": w.qr,
                                                   "location": "门" * 41})
    assert too_long.status_code == 422 and "location" in too_long.get_json()["error"]["fields"]


def test_form_shows_every_error_at_once(client, w):
    response = _post_form(client, w, {"urgency": "1"}, (("a.pdf", b"%PDF-1.4 not a photo"),))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    errors = re.findall(r'<p class="app-field-error" role="alert">([^<]+)</p>', html)
    # title, content, category, photos and consent: all in one answer
    assert len(errors) == 5, errors
    assert "请阅读并同意隐私说明" in errors
    assert any("照片" in e for e in errors) and "请选择类别" in errors
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Wish)) == 0


def test_at_most_three_photos(client, w):
    photos = [(f"{i}.jpg", _jpeg((i * 40, 0, 0))) for i in range(4)]
    response = _post_form(client, w, FORM, photos)
    assert response.status_code == 422 and "最多上传 3 张照片" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WishPhoto)) == 0


def test_photos_ask_to_be_chosen_again_after_another_error(client, w):
    response = _post_form(client, w, {**FORM, "title": ""}, (("a.jpg", _jpeg()),))
    assert response.status_code == 422 and "请重新选择照片" in response.get_data(as_text=True)


def test_erasing_contacts_takes_location_and_photos(app, client, w):
    wish = _submitted(client, w)
    photo = wish.photos[0]
    path = filestore.path_for(photo.sha256, photo.extension, service.PHOTO_AREA)
    assert path.exists()
    service.cancel(wish)
    wish.closed_at = utcnow() - timedelta(days=app.config["WISH_CONTACT_RETENTION_DAYS"] + 1)
    db.session.commit()
    assert service.erase_contacts() == 1
    db.session.commit()
    db.session.refresh(wish)
    assert wish.location is None and wish.photos == [] and not path.exists()


def test_each_photo_view_is_recorded(client, w):
    wish = _submitted(client, w)
    url = f"/h5/tasks/{wish.id}/photos/{wish.photos[0].id}"
    leader = f.login(client, "leader")
    assert client.get(url, headers=leader).status_code == 200
    assert client.get(url, headers=f.login(client, "member2")).status_code == 403
    views = db.session.execute(sa.select(WishContactView.person_id, WishContactView.what)
                               .where(WishContactView.wish_id == wish.id)).all()
    assert views == [(w.people["leader"].id, "photo")]


def test_orphan_files_are_swept_after_a_day(app, client, w):
    """A file whose commit failed (or whose process died) goes after a day; held and young files stay."""
    held = _submitted(client, w).photos[0]
    held_path = filestore.path_for(held.sha256, held.extension, service.PHOTO_AREA)
    orphan = filestore.keep("ab" * 32, "jpg", _jpeg((1, 2, 3)), service.PHOTO_AREA)
    young = filestore.keep("cd" * 32, "jpg", _jpeg((4, 5, 6)), service.PHOTO_AREA)
    evidence_orphan = filestore.keep("ef" * 32, "pdf", b"%PDF-1.4")
    old = (utcnow() - filestore.ORPHAN_GRACE - timedelta(hours=1)).timestamp()
    for path in (held_path, orphan, evidence_orphan):
        os.utime(path, (old, old))
    assert service.sweep_orphan_photos() == 1
    assert held_path.exists() and young.exists() and not orphan.exists() and evidence_orphan.exists()
    assert evidence.sweep_orphan_files() >= 1
    assert not evidence_orphan.exists() and held_path.exists()


def test_states_by_receipts(client, w):
    made = client.post("/api/v1/wishes", json={**FORM, "consent": True, "urgency": 1, "qr": w.qr}).get_json()
    wish = db.session.get(Wish, made["id"])
    response = client.post("/api/v1/wishes/by-receipts", json={"receipts": ["x" * 32, made["receipt"]]})
    assert response.status_code == 200
    [row] = response.get_json()
    assert row["receipt"] == made["receipt"] and row["status_label"] == "待认领"
    assert row["next_step"] == "网格长通常 24 小时内认领" and row["awaits_you"] is False
    leader = f.login(client, "leader")
    client.post(f"/api/v1/wishes/{wish.id}/claim", headers=leader)
    client.post(f"/api/v1/wishes/{wish.id}/fulfil", headers=leader, json={"note": "已换灯泡"})
    [row] = client.post("/api/v1/wishes/by-receipts", json={"receipts": [made["receipt"]]}).get_json()
    assert row["status_label"] == "待确认" and row["awaits_you"] is True and "请您确认" in row["next_step"]
    too_many = client.post("/api/v1/wishes/by-receipts", json={"receipts": ["x" * 32] * 31})
    assert too_many.status_code == 422


def test_signed_in_mine_shows_state_badge_and_next_step(client, w):
    mine = w.headers["resident"]
    made = client.post("/api/v1/wishes", headers=mine, json={**FORM, "consent": True, "urgency": 1, "qr": w.qr})
    assert made.status_code == 201, made.get_json()
    page = client.get("/h5/w/mine", headers=mine).get_data(as_text=True)
    assert "网格长通常 24 小时内认领" in page and "待您确认" not in page
    leader = f.login(client, "leader")
    wish_id = made.get_json()["id"]
    client.post(f"/api/v1/wishes/{wish_id}/claim", headers=leader)
    client.post(f"/api/v1/wishes/{wish_id}/fulfil", headers=leader, json={"note": "已换灯泡"})
    page = client.get("/h5/w/mine", headers=mine).get_data(as_text=True)
    assert 'data-testid="awaits-you">待您确认' in page and "请您确认并打分" in page


def test_public_community_pages(client, w):
    db.session.add(ServiceItem(org_id=w.orgs["a"].id, name="老年人理发", category="理发", location="和平社区活动室"))
    db.session.add(ServiceItem(org_id=w.orgs["b"].id, name="义诊", category="医疗", location="幸福社区"))
    db.session.commit()
    html = client.get(f"/h5/c/{w.orgs['a'].id}/services").get_data(as_text=True)
    assert "老年人理发" in html and "义诊" not in html
    assert client.get(f"/h5/c/{w.orgs['a1'].id}/services").status_code == 404
    home = client.get("/h5/").get_data(as_text=True)
    assert f"/h5/c/{w.orgs['a'].id}/services" in home and f"/h5/c/{w.orgs['b'].id}/wishes" in home
    assert "扫一扫" in home and "登录" in home
