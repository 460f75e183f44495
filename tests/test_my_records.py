"""我的心愿 and 我的预约 for a signed-in resident, on both databases: the wishes they submitted
and the services they booked come from the server with their state, open by id for them and
nobody else (the server keeps only a receipt's hash), and a bare first-visit resident's records
follow their WeChat when it is bound to a known person."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from backend.auth.models import AuthToken
from backend.extensions import db
from backend.notifications.models import Notification
from backend.people.actors import actor_of
from backend.people.models import Person
from backend.qrcodes.service import ensure_code
from backend.services import service as services
from backend.services.models import ServiceBooking
from backend.wechat import service as wechat_service
from backend.wechat.models import WechatSubscription
from backend.wishes import service as wishes
from backend.wishes.models import Wish
from tests import factories as f
from tests.fake_wechat import fake_wechat
from tests.test_csrf_session import csrf_from, h5_login
from tests.test_wechat import UA, bind_in_wechat, me, new_code, web_sign_in

SOON = datetime.now(UTC) + timedelta(days=2)


@pytest.fixture
def wechat(app):
    with fake_wechat() as (base_url, fake):
        app.config.update(fake.config(base_url))
        yield fake


class World:
    """A community with a grid's wish code and a bookable service."""

    def __init__(self, client):
        self.orgs = f.tree()
        f.person("李红梅", username="sec_a", role="secretary", org=self.orgs["a"])
        f.person("张建华", username="leader_a1", role="grid_leader", org=self.orgs["a1"])
        self.volunteer = f.person("周晓燕", username="vol_a1", role="volunteer", org=self.orgs["a1"])
        self.qr = ensure_code("wish", self.orgs["a1"].id, self.orgs["a1"]).code
        db.session.commit()
        self.headers = {u: f.login(client, u) for u in ("sec_a", "leader_a1", "vol_a1")}
        item = client.post("/api/v1/services", headers=self.headers["sec_a"], json={
            "org_id": self.orgs["a"].id, "name": "老年人理发", "category": "理发", "location": "和平社区活动室",
            "provider_name": "红马甲志愿服务队"}).get_json()
        slot = client.post(f"/api/v1/services/{item['id']}/slots", headers=self.headers["sec_a"], json={
            "starts_at": SOON.isoformat(), "ends_at": (SOON + timedelta(hours=1)).isoformat(), "capacity": 5})
        assert slot.status_code == 201, slot.get_json()
        self.item_id, self.slot_id = item["id"], slot.get_json()["id"]


@pytest.fixture
def world(app, client):
    return World(client)


def resident(client, wechat, openid: str):
    """A phone signed in with WeChat as the resident `openid` (a first visit makes them)."""
    phone = client.application.test_client()
    assert web_sign_in(phone, wechat, openid).status_code == 302
    return phone


def submit_wish(phone, world: World, title: str = "楼道灯坏了") -> str:
    """The wish form a building's code opens; returns the receipt."""
    form = phone.get(f"/h5/w/new?qr={world.qr}", headers=UA)
    sent = phone.post(f"/h5/w/new?qr={world.qr}", headers=UA, data={
        "title": title, "content": "3号楼2单元楼道灯不亮", "category": "环境改善", "urgency": "2",
        "contact_name": "王阿姨", "consent": "on", "csrf_token": csrf_from(form)})
    assert sent.status_code == 302, sent.get_data(as_text=True)
    return re.search(r"/h5/w/r/([^?]+)", sent.headers["Location"]).group(1)


def book_service(phone, world: World) -> str:
    """The service page's booking form; returns the receipt page's path."""
    page = phone.get(f"/h5/services/{world.item_id}", headers=UA)
    sent = phone.post(f"/h5/services/{world.item_id}/book", headers=UA, data={
        "slot_id": str(world.slot_id), "contact_name": "王阿姨", "consent": "on", "csrf_token": csrf_from(page)})
    assert sent.status_code == 302, sent.get_data(as_text=True)
    return sent.headers["Location"].split("?")[0]


def page_text(phone, path: str) -> str:
    response = phone.get(path, headers=UA)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def the_wish(title: str = "楼道灯坏了") -> Wish:
    db.session.expire_all()
    return db.session.scalar(sa.select(Wish).where(Wish.title == title))


def the_booking() -> ServiceBooking:
    db.session.expire_all()
    return db.session.scalar(sa.select(ServiceBooking))


# --- 我的心愿 and 我的预约 from the server --------------------------------------------------------

def test_a_signed_in_residents_wish_and_booking_are_listed_with_their_state(client, wechat, world):
    phone = resident(client, wechat, "o-wang")
    person_id = me(phone)["id"]
    submit_wish(phone, world)
    book_service(phone, world)
    wish, booking = the_wish(), the_booking()
    assert wish.submitted_by_id == person_id and booking.booked_by_id == person_id

    page = page_text(phone, "/h5/w/mine")
    assert "我提交的心愿" in page and "我的预约" in page and "本机提交过的心愿" not in page
    assert f'href="/h5/me/wishes/{wish.id}" data-wish-id="{wish.id}"' in page
    assert "楼道灯坏了" in page and "待认领" in page and wish.created_at.strftime("%Y年") in page
    assert (f'href="/h5/me/service-bookings/{booking.booking_id}" data-booking-id="{booking.booking_id}"'
            in page)
    assert "老年人理发" in page and "已预约" in page and "和平社区活动室" in page

    # the state follows the wish: claimed, then the booking cancelled from its page
    claimed = client.post(f"/api/v1/wishes/{wish.id}/claim", headers=world.headers["vol_a1"])
    assert claimed.status_code == 200, claimed.get_json()
    opened = phone.get(f"/h5/me/service-bookings/{booking.booking_id}", headers=UA)
    cancelled = phone.post(f"/h5/me/service-bookings/{booking.booking_id}/cancel", headers=UA,
                           data={"csrf_token": csrf_from(opened)})
    assert cancelled.headers["Location"] == f"/h5/me/service-bookings/{booking.booking_id}"
    page = page_text(phone, "/h5/w/mine")
    assert "办理中" in page and "已取消" in page and "已预约" not in page


def test_newest_first_and_only_their_own(client, wechat, world):
    phone = resident(client, wechat, "o-wang")
    submit_wish(phone, world, "第一个心愿")
    submit_wish(phone, world, "第二个心愿")
    submit_wish(resident(client, wechat, "o-li"), world, "别人的心愿")
    submit_wish(client, world, "没登录的心愿")
    actor = actor_of(me(phone)["id"])
    assert [w.title for w in wishes.my_wishes(actor)] == ["第二个心愿", "第一个心愿"]
    assert [w.title for w in wishes.my_wishes(actor, limit=1)] == ["第二个心愿"]
    assert services.my_service_bookings(actor) == []
    page = page_text(phone, "/h5/w/mine")
    assert page.index("第二个心愿") < page.index("第一个心愿") and "别人的心愿" not in page
    assert "还没有预约过便民服务" in page


def test_not_signed_in_the_page_is_the_phones_list_as_before(client, world):
    submit_wish(client, world)
    book_service(client, world)
    assert the_wish().submitted_by_id is None and the_booking().booked_by_id is None
    page = page_text(client, "/h5/w/mine")
    assert "本机提交过的心愿" in page and "data-my-receipts" in page
    assert "data-server-rows" not in page and "楼道灯坏了" not in page


def test_a_receipt_page_remembers_the_id_for_the_phones_list(client, world):
    receipt = submit_wish(client, world)
    wish = the_wish()
    page = page_text(client, f"/h5/w/r/{receipt}")
    assert f'data-remember-receipt="{receipt}"' in page and f'data-wish-id="{wish.id}"' in page
    path = book_service(client, world)
    page = page_text(client, path)
    assert f'data-remember-receipt="{path}"' in page and f'data-booking-id="{the_booking().booking_id}"' in page


def test_a_signed_in_booking_through_the_api_is_theirs_too(client, wechat, world):
    code = wechat.miniprogram_code("o-mp-wang")
    token = client.post("/api/v1/auth/wechat/miniprogram", json={"code": code}).get_json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    made = client.post(f"/api/v1/slots/{world.slot_id}/bookings", headers=bearer,
                       json={"contact_name": "王阿姨", "consent": True})
    assert made.status_code == 201, made.get_json()
    assert the_booking().booked_by_id == me(client, bearer)["id"]
    anonymous = client.post(f"/api/v1/slots/{world.slot_id}/bookings", json={"contact_name": "吴阿姨", "consent": True})
    assert anonymous.status_code == 201
    assert db.session.get(ServiceBooking, 2).booked_by_id is None


# --- opening them by id: the submitter only ----------------------------------------------------

def test_the_submitter_follows_confirms_and_rates_without_the_receipt(client, wechat, world):
    phone = resident(client, wechat, "o-wang")
    submit_wish(phone, world)
    book_service(phone, world)
    wish, booking = the_wish(), the_booking()
    vol = world.headers["vol_a1"]
    client.post(f"/api/v1/wishes/{wish.id}/claim", headers=vol)
    client.post(f"/api/v1/wishes/{wish.id}/fulfil", headers=vol, json={"note": "已换新灯泡"})

    page = page_text(phone, f"/h5/me/wishes/{wish.id}")
    assert "待确认" in page and "已换新灯泡" in page and "data-remember-receipt" not in page
    assert f'action="/h5/me/wishes/{wish.id}/confirm"' in page and f'action="/h5/me/wishes/{wish.id}/reopen"' in page
    token = csrf_from(phone.get(f"/h5/me/wishes/{wish.id}", headers=UA))
    back = phone.post(f"/h5/me/wishes/{wish.id}/reopen", headers=UA, data={"csrf_token": token, "note": "还是不亮"})
    assert back.headers["Location"] == f"/h5/me/wishes/{wish.id}"
    assert the_wish().status == "claimed"
    client.post(f"/api/v1/wishes/{wish.id}/fulfil", headers=vol, json={"note": "换了开关"})
    refused = phone.post(f"/h5/me/wishes/{wish.id}/confirm", headers=UA, data={"csrf_token": token})
    assert "请点选 1–5 颗星再提交" in page_text(phone, refused.headers["Location"])
    phone.post(f"/h5/me/wishes/{wish.id}/confirm", headers=UA, data={"csrf_token": token, "rating": "5"})
    assert (the_wish().status, the_wish().rating) == ("confirmed", 5)
    assert "已完成" in page_text(phone, "/h5/w/mine")

    # the booked time begins (a booking is delivered from its start, never before)
    booking.booking.slot.starts_at = datetime.now(UTC) - timedelta(minutes=1)
    db.session.commit()
    done = client.post(f"/api/v1/bookings/{booking.booking_id}/complete", headers=world.headers["sec_a"])
    assert done.status_code == 200, done.get_json()
    page = page_text(phone, f"/h5/me/service-bookings/{booking.booking_id}")
    assert "已服务" in page and f'action="/h5/me/service-bookings/{booking.booking_id}/rate"' in page
    assert "data-remember-receipt" not in page
    phone.post(f"/h5/me/service-bookings/{booking.booking_id}/rate", headers=UA,
               data={"csrf_token": token, "rating": "4"})
    assert the_booking().booking.rating == 4


def test_the_submitter_withdraws_their_wish(client, wechat, world):
    phone = resident(client, wechat, "o-wang")
    submit_wish(phone, world)
    wish_id = the_wish().id
    token = csrf_from(phone.get(f"/h5/me/wishes/{wish_id}", headers=UA))
    assert phone.post(f"/h5/me/wishes/{wish_id}/cancel", headers=UA, data={"csrf_token": token}).status_code == 302
    assert the_wish().status == "cancelled"
    assert "已撤回" in page_text(phone, "/h5/w/mine")


def test_nobody_else_opens_them(client, wechat, world):
    phone = resident(client, wechat, "o-wang")
    submit_wish(phone, world)
    book_service(phone, world)
    wish_id, booking_id = the_wish().id, the_booking().booking_id
    paths = [f"/h5/me/wishes/{wish_id}", f"/h5/me/service-bookings/{booking_id}"]

    other = resident(client, wechat, "o-li")
    secretary = client.application.test_client()
    h5_login(secretary, "sec_a")
    for someone in (other, secretary):
        token = csrf_from(someone.get("/h5/me", headers=UA))
        for path in paths:
            assert someone.get(path, headers=UA).status_code == 404, path
        for path in (f"{paths[0]}/cancel", f"{paths[0]}/reopen", f"{paths[0]}/confirm", f"{paths[1]}/cancel",
                     f"{paths[1]}/rate"):
            assert someone.post(path, headers=UA, data={"csrf_token": token, "rating": "1", "note": "没办好"}
                                ).status_code == 404, path
        assert "楼道灯坏了" not in page_text(someone, "/h5/w/mine")
    assert (the_wish().status, the_booking().booking.status) == ("open", "confirmed")
    assert phone.get("/h5/me/wishes/99999", headers=UA).status_code == 404

    # not signed in: sent to sign in (inside WeChat, silently), never shown
    stranger = client.application.test_client()
    assert stranger.get(paths[0], headers=UA).headers["Location"].startswith("/api/v1/auth/wechat/authorize")
    assert stranger.get(paths[1]).headers["Location"].startswith("/h5/login")


def test_a_wish_written_down_for_a_resident_is_not_the_grid_leaders_own(client, wechat, world):
    leader = client.application.test_client()
    h5_login(leader, "leader_a1")
    grid = world.orgs["a1"].id
    form = leader.get(f"/h5/w/new?grid={grid}")
    leader.post(f"/h5/w/new?grid={grid}", data={
        "title": "代老人提交", "content": "帮独居老人修水管", "category": "环境改善", "urgency": "1", "consent": "on",
        "csrf_token": csrf_from(form)})
    wish = the_wish("代老人提交")
    assert wish.channel == "staff_proxy"
    leader_actor = actor_of(wish.submitted_by_id)
    assert wishes.my_wishes(leader_actor) == []
    assert leader.get(f"/h5/me/wishes/{wish.id}").status_code == 404
    # a secretary's wish through the API is their own
    own = client.post("/api/v1/wishes", headers=world.headers["sec_a"], json={
        "grid_id": grid, "title": "自己的心愿", "content": "活动室需要一台饮水机", "category": "环境改善",
        "consent": True})
    assert own.status_code == 201 and own.get_json()["channel"] == "api"
    assert [w.title for w in wishes.my_wishes(actor_of(the_wish("自己的心愿").submitted_by_id))] == ["自己的心愿"]


# --- binding merges a first-visit resident -------------------------------------------------------

def test_binding_moves_a_first_visit_residents_records_to_the_bound_person(client, wechat, world):
    volunteer = world.volunteer
    phone = resident(client, wechat, "o-zhou")
    bare_id = me(phone)["id"]
    other_browser = resident(client, wechat, "o-zhou")
    assert me(other_browser)["id"] == bare_id
    submit_wish(phone, world)
    book_service(phone, world)
    db.session.add_all([
        Notification(person_id=bare_id, kind="test", subject_type="wish", subject_id=1, message="给首访居民的消息"),
        WechatSubscription(person_id=bare_id, template_id="tpl-both", remaining=2, long_term=True),
        WechatSubscription(person_id=bare_id, template_id="tpl-bare", remaining=1),
        WechatSubscription(person_id=volunteer.id, template_id="tpl-both", remaining=1),
        WechatSubscription(person_id=volunteer.id, template_id="tpl-vol", remaining=3)])
    db.session.commit()

    assert bind_in_wechat(phone, wechat, new_code(client, volunteer), "o-zhou").status_code == 302
    db.session.expire_all()
    assert me(phone)["id"] == volunteer.id
    assert the_wish().submitted_by_id == volunteer.id and the_booking().booked_by_id == volunteer.id
    assert db.session.scalar(sa.select(Notification.person_id).where(Notification.kind == "test")) == volunteer.id
    subscriptions = db.session.execute(sa.select(WechatSubscription.person_id, WechatSubscription.template_id,
                                                 WechatSubscription.remaining, WechatSubscription.long_term)
                                       .order_by(WechatSubscription.template_id)).all()
    assert [tuple(s) for s in subscriptions] == [(volunteer.id, "tpl-bare", 1, False),
                                                 (volunteer.id, "tpl-both", 3, True),
                                                 (volunteer.id, "tpl-vol", 3, False)]
    # the empty record is gone, with its sessions: the other browser is a guest again
    assert db.session.get(Person, bare_id) is None
    assert db.session.scalar(sa.select(sa.func.count()).where(AuthToken.person_id == bare_id)) == 0
    assert other_browser.get("/api/v1/me").status_code == 401

    page = page_text(phone, "/h5/w/mine")
    assert "楼道灯坏了" in page and "老年人理发" in page
    assert page_text(phone, f"/h5/me/wishes/{the_wish().id}").count("楼道灯坏了") >= 1
    # and signing in again with the same WeChat, anywhere, is the volunteer
    assert me(resident(client, wechat, "o-zhou"))["id"] == volunteer.id


def test_binding_without_a_first_visit_moves_nothing(client, wechat, world):
    """A resident's records stay theirs when someone else's WeChat is bound."""
    phone = resident(client, wechat, "o-wang")
    submit_wish(phone, world)
    resident_id = me(phone)["id"]
    bind_in_wechat(client.application.test_client(), wechat, new_code(client, world.volunteer), "o-zhou")
    assert the_wish().submitted_by_id == resident_id
    assert db.session.get(Person, resident_id).name == wechat_service.VISITOR_NAME
