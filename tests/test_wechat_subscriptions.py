"""WeChat subscribe notifications (服务号订阅通知), on both databases, against the fake WeChat
over real HTTP: the JS-SDK signature the open tag needs, what a person allowed, messages that
go to WeChat only when allowed, once each through an outage, and a refusal (43101) that drops
the subscription."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from backend.extensions import db
from backend.notifications import service
from backend.notifications.models import Delivery, Notification
from backend.people.actors import load_actor
from backend.wechat import client as wechat_client
from backend.wechat import subscriptions
from backend.wechat.models import WechatSubscription
from tests import factories as f
from tests.fake_wechat import fake_wechat
from tests.test_wechat import BASE, UA, me, web_sign_in

ONE_TIME, LONG_TERM = "tmpl-wish-claimed-0001", "tmpl-booking-remind-01"
#: 10:00 in Shanghai.
DAY = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def wechat(app):
    with fake_wechat() as (base_url, fake):
        app.config.update(fake.config(base_url), WECHAT_TEMPLATES={"wish_claimed": ONE_TIME,
                                                                   "booking_reminder": LONG_TERM},
                          WECHAT_LONG_TERM_TEMPLATES=frozenset({LONG_TERM}), NOTIFY_MAX_ATTEMPTS=6,
                          NOTIFY_RETRY_SECONDS=60)
        fake.long_term_templates.add(LONG_TERM)
        wechat_client._tokens.clear()
        yield fake


@pytest.fixture
def resident(client, wechat):
    """A resident signed in inside WeChat; the client carries a CSRF token for API writes."""
    assert web_sign_in(client, wechat, "o-resident-sub").status_code == 302
    with client.session_transaction() as kept:
        kept["csrf"] = "csrf-token"
    return me(client)["id"]


def report(client, details: dict) -> tuple[int, object]:
    response = client.post("/api/v1/me/wechat-subscriptions", json={"details": details},
                           headers={"X-CSRF-Token": "csrf-token"})
    return response.status_code, response.get_json()


LONG_TEXT = "您的心愿“帮忙修一下楼道里坏了很久的路灯”已有人认领，正在办理"


def tell(person_id: int, kind: str = "wish_claimed", text: str = LONG_TEXT):
    note = service.notify(person_id, kind, "wish", 7, text)
    db.session.commit()
    return db.session.scalars(sa.select(Delivery).where(Delivery.notification_id == note.id)).all()


# --- the JS-SDK signature --------------------------------------------------------------------------

def test_js_config_is_signed_with_the_cached_ticket(client, wechat):
    page = f"{BASE}/h5/w/new?qr=abc&x=1"
    first = client.get("/api/v1/wechat/js-config", query_string={"url": page}).get_json()
    second = client.get("/api/v1/wechat/js-config", query_string={"url": page}).get_json()
    ticket = next(iter(wechat.tickets.values()))
    for config in (first, second):
        assert config["signature"] == wechat.signature(ticket, config["nonceStr"], str(config["timestamp"]), page)
        assert config["appId"] == wechat.config("")["WECHAT_APP_ID"] and config["openTagList"] == ["wx-open-subscribe"]
    assert len(wechat.calls_to("/cgi-bin/ticket/getticket")) == 1


@pytest.mark.parametrize("url", ["https://evil.example/h5/", f"{BASE}/h5/#frag", "/h5/w/new"])
def test_js_config_signs_only_this_sites_pages(client, wechat, url):
    response = client.get("/api/v1/wechat/js-config", query_string={"url": url})
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "wechat_foreign_url"


def test_js_config_without_wechat_settings_is_404(client):
    response = client.get("/api/v1/wechat/js-config", query_string={"url": f"{BASE}/h5/"})
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "wechat_not_configured"


def test_js_config_when_wechat_is_busy_is_503(client, wechat):
    wechat.fail_next(1, errcode=-1, path="/cgi-bin/ticket/getticket")
    response = client.get("/api/v1/wechat/js-config", query_string={"url": f"{BASE}/h5/"})
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "wechat_unavailable"


# --- what a person allowed -------------------------------------------------------------------------

def test_each_one_time_allow_permits_one_message_and_a_long_term_one_until_turned_off(client, resident):
    assert report(client, {ONE_TIME: "accept"})[0] == 200
    status, rows = report(client, {ONE_TIME: "acceptWithAlert", LONG_TERM: "accept"})
    assert status == 200
    assert rows == [{"template_id": LONG_TERM, "long_term": True, "remaining": 0},
                    {"template_id": ONE_TIME, "long_term": False, "remaining": 2}]
    status, rows = report(client, {ONE_TIME: "reject", LONG_TERM: "reject"})
    assert rows == [{"template_id": ONE_TIME, "long_term": False, "remaining": 2}]
    assert client.get("/api/v1/me/wechat-subscriptions").get_json() == rows


def test_a_report_is_refused_for_unknown_templates_and_without_a_wechat_sign_in(client, resident, app):
    status, body = report(client, {"someone-elses-template": "accept"})
    assert (status, body["error"]["code"]) == (422, "unknown_template")
    other = app.test_client()
    assert other.post("/api/v1/me/wechat-subscriptions", json={"details": {ONE_TIME: "accept"}}).status_code == 401
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WechatSubscription)) == 0


def test_a_report_without_the_csrf_token_is_refused(client, resident):
    response = client.post("/api/v1/me/wechat-subscriptions", json={"details": {ONE_TIME: "accept"}})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "csrf_failed"


# --- the channel ---------------------------------------------------------------------------------

def test_a_message_goes_to_wechat_once_per_allow(client, wechat, resident):
    assert tell(resident) == []                      # not allowed yet: the inbox only
    wechat.subscribe("o-resident-sub", ONE_TIME)
    report(client, {ONE_TIME: "accept"})
    [delivery] = tell(resident)
    assert (delivery.channel, delivery.address) == ("wechat", "o-resident-sub")
    assert tell(resident) == []                      # the one allow is spent

    service.deliver_due(DAY)
    db.session.expire_all()
    assert delivery.status == "sent"
    [sent] = wechat.biz_sent
    assert sent["touser"] == "o-resident-sub" and sent["template_id"] == ONE_TIME
    assert sent["page"] == f"{BASE}/h5/tasks/7"
    values = {key: item["value"] for key, item in sent["data"].items()}
    assert values["thing1"] == "心愿已被认领" and len(values["thing2"]) == 20
    assert values["thing2"] == LONG_TEXT[:20]
    assert values["time3"].endswith("日 " + values["time3"][-5:]) and "年" in values["time3"]


def test_telling_several_at_once_writes_each_inbox_and_spends_an_allow_once(client, wechat, resident):
    wechat.subscribe("o-resident-sub", ONE_TIME)
    report(client, {ONE_TIME: "accept"})
    neighbour = f.person().id
    service.notify_all([neighbour, resident], "wish_claimed", "wish", 7, LONG_TEXT)
    db.session.commit()
    notes = db.session.scalars(sa.select(Notification).where(Notification.subject_id == 7)).all()
    assert sorted(n.person_id for n in notes) == sorted([neighbour, resident])
    assert {n.message for n in notes} == {LONG_TEXT}
    [delivery] = db.session.scalars(sa.select(Delivery)).all()
    assert delivery.address == "o-resident-sub"
    assert delivery.notification_id == next(n.id for n in notes if n.person_id == resident)
    assert tell(resident) == []                      # the one allow is spent


def test_a_long_term_subscription_is_not_spent(client, wechat, resident):
    wechat.subscribe("o-resident-sub", LONG_TERM)
    report(client, {LONG_TERM: "accept"})
    deliveries = [tell(resident, "booking_reminder", f"提醒{n}") for n in range(3)]
    assert all(len(d) == 1 for d in deliveries)
    service.deliver_due(DAY)
    assert len(wechat.biz_sent) == 3


def test_a_rolled_back_change_sends_nothing_and_spends_no_allow(client, wechat, resident):
    report(client, {ONE_TIME: "accept"})
    service.notify(resident, "wish_claimed", "wish", 7, "不会发出")
    db.session.rollback()
    assert service.deliver_due(DAY) == 0 and wechat.biz_sent == []
    assert db.session.scalar(sa.select(WechatSubscription.remaining)) == 1


@pytest.mark.parametrize("failure", [{"errcode": -1}, {"http_status": 502}, {"errcode": 45011}])
def test_an_outage_then_recovery_delivers_once(client, wechat, resident, failure):
    wechat.subscribe("o-resident-sub", LONG_TERM)
    report(client, {LONG_TERM: "accept"})
    [first], [second] = tell(resident, "booking_reminder", "甲"), tell(resident, "booking_reminder", "乙")
    wechat.fail_next(6, path="/cgi-bin/message/subscribe/bizsend", **failure)
    now = DAY
    for _ in range(3):
        assert service.deliver_due(now) == 2
        now += timedelta(hours=1)
    db.session.expire_all()
    assert (first.status, first.attempts) == ("pending", 3) and first.last_error.startswith("微信繁忙")
    for _ in range(2):
        service.deliver_due(now)
        now += timedelta(hours=1)
    db.session.expire_all()
    assert (first.status, second.status) == ("sent", "sent")
    assert [s["data"]["thing2"]["value"] for s in wechat.biz_sent] == ["甲", "乙"]


def test_a_turned_off_subscription_is_refused_once_and_dropped(client, wechat, resident):
    report(client, {LONG_TERM: "accept"})           # the page said allowed; WeChat says otherwise (43101)
    [delivery] = tell(resident, "booking_reminder", "提醒")
    service.deliver_due(DAY)
    db.session.expire_all()
    assert delivery.status == "dead" and delivery.attempts == 1 and "43101" in delivery.last_error
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WechatSubscription)) == 0
    assert tell(resident, "booking_reminder", "下一条") == []
    assert client.get("/api/v1/admin/notification-deliveries").status_code == 403


def test_a_revoked_access_token_is_refreshed_and_the_message_sent(client, wechat, resident):
    wechat.subscribe("o-resident-sub", LONG_TERM)
    report(client, {LONG_TERM: "accept"})
    [first] = tell(resident, "booking_reminder", "第一条")
    service.deliver_due(DAY)
    wechat.revoke_tokens()                           # 40001 while stable_token still returns it
    [second] = tell(resident, "booking_reminder", "第二条")
    service.deliver_due(DAY)
    db.session.expire_all()
    assert (first.status, second.status) == ("sent", "sent") and len(wechat.biz_sent) == 2
    assert [c["force_refresh"] for c in wechat.calls_to("/cgi-bin/stable_token")] == [False, False, True]


# --- what a page offers ----------------------------------------------------------------------------

def test_pages_offer_the_tag_only_to_a_wechat_signed_in_person(client, wechat, resident, app):
    actor = load_actor(resident)
    kinds = ("wish_claimed", "booking_reminder", "wish_fulfilled")
    assert subscriptions.offer(actor, UA["User-Agent"], kinds) == [ONE_TIME, LONG_TERM]
    assert subscriptions.offer(actor, "Mozilla/5.0 Chrome", kinds) == []
    assert subscriptions.offer(None, UA["User-Agent"], kinds) == []
    assert subscriptions.offer(actor, UA["User-Agent"], ("wish_fulfilled",)) == []
    report(client, {LONG_TERM: "accept"})
    assert subscriptions.offer(actor, UA["User-Agent"], kinds) == [ONE_TIME]   # a held long-term one is not asked again
