"""Signing in with WeChat in Chromium with WeChat's user agent, against the fake WeChat on
loopback: a resident's first visit, a volunteer who binds their WeChat and then checks in at
the venue QR without a password, and the pages for a bad or reused code or state."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from backend.demo import DEMO_PASSWORD
from tests.browser.test_pages import log_in
from tests.live import demo_server


@pytest.fixture
def live_server(db_url, wechat):
    """The demo app, with WeChat sign-in pointed at the fake (replaces the plain one)."""
    base_url, fake = wechat
    with demo_server(db_url, **fake.config(base_url)) as (app_url, _):
        yield app_url


# WeChat's "#wechat_redirect" is for its own browser; a redirect without a fragment keeps the
# one before it, so Chromium carries it to our pages (harmless).
BACK_FROM_WECHAT = "(#wechat_redirect)?$"


def visited(page) -> list[str]:
    """Every URL the page navigates to from now on, redirects included."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url) if request.is_navigation_request() else None)
    return urls


def test_a_residents_first_visit_signs_them_in_with_wechat(phone, wechat, screenshot):
    _, fake = wechat
    resident = phone()
    resident.goto("/h5/login")
    expect(resident.locator(".weui-form__title")).to_have_text("登录")
    expect(resident.get_by_role("link", name="微信一键登录")).to_be_visible()
    expect(resident.locator("#password")).to_be_visible()     # desks keep the password
    screenshot(resident, "login-wechat")

    fake.sign_in_as("o-resident-wang")
    urls = visited(resident)
    resident.goto("/h5/me/messages")                              # a page that needs sign-in
    expect(resident).to_have_url(re.compile("/h5/me/messages" + BACK_FROM_WECHAT))
    expect(resident.locator(".weui-tabbar")).to_contain_text("消息")
    assert any("/connect/oauth2/authorize" in u for u in urls)
    assert not any("/h5/login" in u for u in urls)
    resident.locator(".weui-tabbar").get_by_role("link", name="我的", exact=True).click()
    expect(resident.locator(".weui-cells").first).to_contain_text("微信用户")
    expect(resident.get_by_role("button", name="退出登录")).to_be_visible()
    assert fake.authorized[0]["scope"] == "snsapi_base"


def test_a_volunteer_binds_their_wechat_then_checks_in_without_a_password(phone, wechat, screenshot):
    _, fake = wechat
    organiser = phone()
    token = organiser.request.post("/api/v1/auth/login",
                                   data={"username": "heping", "password": DEMO_PASSWORD}).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    communities = organiser.request.get("/api/v1/orgs?kind=community", headers=bearer).json()["items"]
    heping = next(c["id"] for c in communities if c["name"] == "和平社区")
    now = datetime.now(UTC)
    created = organiser.request.post("/api/v1/activities", headers=bearer, data={
        "org_id": heping, "title": "楼道清洁志愿活动", "location": "和平社区3号楼",
        "starts_at": (now - timedelta(minutes=20)).isoformat(), "ends_at": (now + timedelta(minutes=90)).isoformat(),
        "signup_closes_at": (now + timedelta(minutes=60)).isoformat(), "capacity": 5})
    assert created.status == 201, created.text()
    activity_id = created.json()["id"]

    # the secretary, at a desk, issues 周晓燕 a binding code from the community's member list
    log_in(organiser, "heping")
    organiser.goto(f"/h5/orgs/{heping}")
    screenshot(organiser, "org-members-binding")
    organiser.get_by_role("button", name="周晓燕的微信绑定码").click()
    expect(organiser.locator(".weui-msg__title")).to_have_text("周晓燕 的微信绑定码")
    bind_url = organiser.get_by_test_id("binding-url").inner_text()
    qr = Image.open(io.BytesIO(organiser.locator(".app-binding-qr svg").screenshot()))
    assert [r.text for r in zxingcpp.read_barcodes(qr)] == [bind_url]
    screenshot(organiser, "wechat-binding-code")

    # 周晓燕 scans it with WeChat
    fake.sign_in_as("o-zhou-xiaoyan")
    volunteer = phone()
    volunteer.goto(bind_url)
    expect(volunteer.locator(".weui-msg__title")).to_have_text("绑定微信")
    expect(volunteer.get_by_test_id("bind-name")).to_have_text("周**")
    screenshot(volunteer, "wechat-bind")
    volunteer.get_by_role("button", name="我是周**，绑定本微信").click()
    expect(volunteer.locator(".weui-msg__title")).to_have_text("绑定成功")
    expect(volunteer.get_by_test_id("bound-name")).to_have_text("周晓燕")
    screenshot(volunteer, "wechat-bound")
    volunteer.goto(f"/h5/activities/{activity_id}")
    volunteer.get_by_role("button", name="我要报名").click()
    expect(volunteer.locator(".app-flash")).to_have_text("报名成功")

    organiser.goto(f"/h5/activities/{activity_id}")
    organiser.get_by_role("button", name="打印签到二维码").click()
    venue_url = organiser.locator(".poster__url").inner_text()

    # on the day: WeChat again, a new session, no password anywhere
    at_the_venue = phone()
    urls = visited(at_the_venue)
    at_the_venue.goto(venue_url)
    expect(at_the_venue.get_by_test_id("booking-status")).to_have_text("已报名")
    at_the_venue.get_by_role("button", name="签到").click()
    expect(at_the_venue.locator(".app-flash")).to_have_text("签到成功，感谢参与！")
    assert any("/connect/oauth2/authorize" in u for u in urls)
    assert not any("/h5/login" in u for u in urls)
    screenshot(at_the_venue, "wechat-checked-in")


def test_a_bad_or_reused_code_or_state_gets_a_clear_chinese_page(phone, wechat, screenshot):
    _, fake = wechat
    fake.sign_in_as("o-reuse")
    first = phone()
    callbacks: list[str] = []
    first.on("request", lambda r: callbacks.append(r.url) if "/auth/wechat/callback" in r.url else None)
    first.goto("/h5/me/messages")
    expect(first).to_have_url(re.compile("/h5/me/messages" + BACK_FROM_WECHAT))

    # the same callback again (a reload from history, a shared link): its state was used up
    again = first.goto(callbacks[0])
    assert again.status == 400
    expect(first.locator(".weui-msg__title")).to_have_text("登录链接已失效，请返回上一页重新打开")
    expect(first.locator(".weui-msg")).to_have_attribute("data-error-code", "wechat_state_invalid")
    screenshot(first, "wechat-state-invalid")

    # WeChat hands back a code that was already exchanged
    fake.next_code = re.search(r"code=([0-9a-f]+)", callbacks[0]).group(1)
    second = phone()
    second.goto("/h5/me/messages")
    expect(second.locator(".weui-msg__title")).to_have_text("该登录链接已使用过，请返回上一页重新打开")
    expect(second.locator(".weui-msg")).to_have_attribute("data-error-code", "wechat_code_used")
    second.get_by_role("link", name="返回首页").click()
    expect(second.locator("h1")).to_have_text("三微服务")      # still a guest, nothing half signed in

    # a made-up binding code
    page = second.goto("/h5/bind?code=made-up")
    assert page.status == 404
    expect(second.locator(".weui-msg__title")).to_have_text("绑定码无效，请确认扫描的是工作人员给您的绑定二维码")
    screenshot(second, "wechat-binding-code-invalid")
