"""A resident inside WeChat asks to be told of their wish's progress: the page signs the JS-SDK,
WeChat (the fake, on loopback) accepts the signature and shows the open tag, the resident taps
it, and when a grid leader claims the wish the message arrives as a 服务号 subscribe
notification that opens the wish."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from backend.notifications import service as notifications
from tests.browser.test_pages import log_in
from tests.browser.test_wish_flow import wish_code_url
from tests.live import demo_server

CLAIMED, FULFILLED = "tmpl-wish-claimed-0001", "tmpl-wish-fulfilled-01"


@pytest.fixture
def served(db_url, wechat):
    base_url, fake = wechat
    templates = {"wish_claimed": CLAIMED, "wish_fulfilled": FULFILLED}
    with demo_server(db_url, **fake.config(base_url), WECHAT_TEMPLATES=templates) as (app_url, app):
        yield app_url, app


@pytest.fixture
def live_server(served):
    return served[0]


def test_a_resident_allows_wechat_messages_and_is_told_of_the_claim(phone, wechat, served, screenshot):
    _, fake = wechat
    _, app = served
    leader = phone()
    log_in(leader, "heping_g1")
    url = wish_code_url(leader, "第一网格")

    fake.sign_in_as("o-resident-li")
    resident = phone()
    # The JS-SDK stand-in's calls (the real SDK talks to the WeChat app) are answered by the fake.
    resident.goto("/h5/me/messages")                     # signed in silently through WeChat
    resident.goto(url)
    ask = resident.locator("[data-wx-subscribe]")
    expect(ask).to_be_visible()                          # WeChat accepted the page's signature
    [(config, signed_url, good)] = fake.configs
    assert good and signed_url == resident.url.split("#")[0]
    resident.locator("#wx-subscribe").click()
    expect(ask.locator("[data-wx-note]")).to_have_text("已开启：有进展时，微信“服务通知”会提醒您")
    expect(resident.locator("#wx-subscribe")).to_be_hidden()      # done: the page's one action is the form
    screenshot(resident, "wish-form-wechat-subscribed")
    assert fake.subscriptions == {("o-resident-li", CLAIMED): 1, ("o-resident-li", FULFILLED): 1}

    resident.fill("#title", "帮忙修一下楼道灯")
    resident.fill("#content", "5号楼1单元二楼楼道灯不亮")
    resident.select_option("#category", "环境改善")
    resident.locator("#consent").check()
    resident.get_by_role("button", name="提交心愿").click()
    expect(resident.locator(".weui-msg__title")).to_have_text("心愿已提交")

    leader.goto("/h5/tasks")
    leader.get_by_role("link", name="帮忙修一下楼道灯").click()
    leader.get_by_role("button", name="我来认领").click()
    expect(leader.locator(".app-flash")).to_have_text("认领成功，请尽快联系居民")

    with app.app_context():
        notifications.deliver_due()
    [sent] = fake.biz_sent
    assert sent["touser"] == "o-resident-li" and sent["template_id"] == CLAIMED
    assert sent["data"]["thing1"]["value"] == "心愿已被认领"
    resident.goto(sent["page"])                          # the message opens the wish
    expect(resident.locator(".app-status")).to_have_text("办理中")
