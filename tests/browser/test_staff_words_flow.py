"""What staff and residents read when something is refused or shared, in Chromium with WeChat's
user agent: error pages say what happened and what to do (no English code, also in 长辈模式),
the campaign page says the ledger check in words, and inside WeChat (the fake, on loopback)
each public page sets its share card through the JS-SDK, signed once per page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_pages import log_in
from tests.browser.test_wish_flow import wish_code_url
from tests.live import demo_server

ENGLISH_CODES = ("forbidden", "not_found", "revoked_code", "method_not_allowed", "错误代码")


@pytest.fixture
def live_server(db_url, wechat):
    """The demo app with WeChat pointed at the fake (replaces the plain one)."""
    base_url, fake = wechat
    templates = {"wish_claimed": "tmpl-wish-claimed-0001", "wish_fulfilled": "tmpl-wish-fulfilled-01"}
    with demo_server(db_url, **fake.config(base_url), WECHAT_TEMPLATES=templates) as (app_url, _):
        yield app_url


def care_mode(page) -> None:
    page.evaluate("localStorage.setItem('sanwei.care', '1')")
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-weui-mode", "care")


def test_error_pages_say_what_happened_and_what_to_do(phone, screenshot):
    leader = phone()
    log_in(leader, "heping_g1")
    answer = leader.goto("/h5/rating/")
    assert answer.status == 403
    expect(leader.locator(".weui-msg__title")).to_have_text("星级创评仅对社区书记和街道工作人员开放")
    expect(leader.get_by_test_id("error-hint")).to_have_text("本页只对负责这项工作的人员开放；如需办理，请联系社区工作人员")
    expect(leader.locator(".weui-msg")).to_have_attribute("data-error-code", "forbidden")
    for code in ENGLISH_CODES:
        expect(leader.locator("body")).not_to_contain_text(code)
    screenshot(leader, "error-403")
    care_mode(leader)
    # 长辈模式 scales what the page says, not only its button
    assert leader.locator(".weui-msg__title").evaluate("e => parseFloat(getComputedStyle(e).fontSize)") >= 26
    assert leader.get_by_test_id("error-hint").evaluate("e => parseFloat(getComputedStyle(e).fontSize)") >= 20
    screenshot(leader, "error-403-care")

    visitor = phone()
    visitor.goto("/q/no-such-code")
    expect(visitor.locator(".weui-msg__title")).to_have_text("二维码无效，请确认是否扫描了正确的二维码")
    expect(visitor.get_by_test_id("error-hint")).to_have_text("链接可能有误，或内容已被删除。请核对链接，或返回首页查找")
    for code in ENGLISH_CODES:
        expect(visitor.locator("body")).not_to_contain_text(code)
    screenshot(visitor, "error-404-qr")
    visitor.get_by_role("link", name="返回首页").click()
    expect(visitor.locator("h1")).to_have_text("三微服务")


def test_the_ledger_check_is_said_in_words(phone, screenshot):
    officer = phone()
    log_in(officer, "jiedao")
    officer.goto("/h5/rating/")
    officer.locator("a.weui-cell_access").first.click()
    chain = officer.get_by_test_id("chain")
    expect(chain).to_contain_text("台账完整性：已校验，未被改动")
    expect(chain).to_contain_text("逐条核对无误")
    page_shot = screenshot(officer, "rating-period-ledger-check")
    # in the full page the fixed tab bar covers it: the cell alone, scrolled clear of the bar
    chain.evaluate("e => e.scrollIntoView({block: 'center'})")
    chain.screenshot(path=str(page_shot.with_name("rating-ledger-check-cell.png")))


def test_inside_wechat_public_pages_set_their_share_card(phone, wechat, screenshot):
    _, fake = wechat
    leader = phone()
    log_in(leader, "heping_g1")
    wish_url = wish_code_url(leader, "第一网格")
    orgs = leader.request.get("/api/v1/orgs?per_page=100").json()["items"]
    community = f"/h5/c/{next(o['id'] for o in orgs if o['name'] == '和平社区')}/wishes"

    visitor = phone()
    visitor.goto(community)
    expect(visitor.locator("h1")).to_contain_text("微心愿")
    _wait_for_shares(visitor, 2)
    [(config, signed, good)] = fake.configs
    assert good and signed == visitor.url.split("#")[0]
    assert {"updateAppMessageShareData", "updateTimelineShareData"} <= set(config["jsApiList"])
    cards = {api: data for api, data, _ in fake.shares}
    friend, moments = cards["updateAppMessageShareData"], cards["updateTimelineShareData"]
    assert friend["title"] == moments["title"] == "和平社区 · 微心愿公开栏"
    assert friend["desc"] == "居民心愿的收到、认领和办结情况，向居民公开。"
    assert friend["link"] == moments["link"] == visitor.url.split("#")[0]
    assert friend["imgUrl"] == moments["imgUrl"] == visitor.url.split("/h5/")[0] + "/static/share-icon.png"
    screenshot(visitor, "community-wishes-wechat-share")

    # The wish form of a signed-in resident also asks for messages: still one wx.config.
    fake.sign_in_as("o-share-resident")
    resident = phone()
    resident.goto("/h5/me/messages")                     # signed in silently through WeChat
    fake.configs.clear()
    fake.shares.clear()
    resident.goto(wish_url)
    expect(resident.locator("[data-wx-subscribe]")).to_be_visible()
    _wait_for_shares(resident, 2)
    assert len(fake.configs) == 1
    shared = {api: data for api, data, _ in fake.shares}["updateAppMessageShareData"]
    assert shared["title"] == "微心愿 · 和平社区第一网格" and shared["link"] == resident.url.split("#")[0]
    screenshot(resident, "wish-form-wechat-share")


def _wait_for_shares(page, count: int) -> None:
    """Until the page has set `count` share cards (the stand-in counts those WeChat took)."""
    page.wait_for_function(f"() => window.wx && window.wx.sharedCards === {count}")
