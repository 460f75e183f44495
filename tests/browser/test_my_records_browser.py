"""我的心愿 in Chromium with WeChat's user agent: a resident submits a wish before signing in
(kept on the phone only), is signed in silently by WeChat, submits another wish and books a
service; the page lists those two from the server and the phone's receipts below, each once."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from backend.demo import DEMO_PASSWORD
from tests.live import demo_server


@pytest.fixture
def live_server(db_url, wechat):
    """The demo app, with WeChat sign-in pointed at the fake (replaces the plain one)."""
    base_url, fake = wechat
    with demo_server(db_url, **fake.config(base_url)) as (app_url, _):
        yield app_url


def submit_wish(page, url: str, title: str) -> None:
    page.goto(url)
    page.fill("#title", title)
    page.fill("#content", f"{title}，麻烦帮忙看看")
    page.select_option("#category", "环境改善")
    page.fill("#contact_name", "王阿姨")
    page.locator("#consent").check()
    page.get_by_role("button", name="提交心愿").click()
    expect(page.locator(".weui-msg__title")).to_have_text("心愿已提交")


def test_my_wishes_lists_the_servers_rows_and_the_phones_other_receipts_once(phone, wechat, screenshot):
    _, fake = wechat
    staff = phone()
    token = staff.request.post("/api/v1/auth/login", data={"username": "heping", "password": DEMO_PASSWORD}).json()
    bearer = {"Authorization": f"Bearer {token['token']}"}
    codes = staff.request.get("/api/v1/qrcodes?purpose=wish&per_page=100", headers=bearer).json()["items"]
    wish_url = next(c["url"] for c in codes if c["org_name"] == "第一网格" and c["active"])
    service_id = staff.request.get("/api/v1/services", headers=bearer).json()["items"][0]["id"]

    resident = phone()
    resident.goto("/h5/w/mine")                                   # signed out: the phone's list, as before
    expect(resident.locator("[data-my-receipts]")).to_contain_text("还没有")
    submit_wish(resident, wish_url, "门口路灯不亮")                 # before signing in: on this phone only
    resident.goto("/h5/w/mine")
    expect(resident.locator("[data-my-receipts] a")).to_have_count(1)
    expect(resident.get_by_test_id("my-wishes")).to_have_count(0)
    screenshot(resident, "my-wishes-signed-out")

    fake.sign_in_as("o-resident-wang")
    resident.goto("/h5/me/messages")                               # a page that needs sign-in: WeChat, silently
    expect(resident.locator(".weui-tabbar")).to_contain_text("消息")
    submit_wish(resident, wish_url, "楼道灯坏了")                   # signed in: the server knows it is theirs
    resident.goto(f"/h5/services/{service_id}")
    resident.locator(".weui-cells_radio label").first.click()
    resident.fill("#contact_name", "王阿姨")
    resident.locator("#consent").check()
    resident.get_by_role("button", name="预约").click()
    expect(resident.locator(".weui-msg__title")).to_have_text("预约成功")
    service_name = resident.locator(".weui-form-preview__bd .weui-form-preview__value").first.inner_text()

    resident.goto("/h5/w/mine")
    wishes = resident.get_by_test_id("my-wishes").locator("a")
    expect(wishes).to_have_count(1)
    expect(wishes.first).to_contain_text("楼道灯坏了")
    expect(wishes.first).to_contain_text("待认领")
    bookings = resident.get_by_test_id("my-service-bookings").locator("a")
    expect(bookings).to_have_count(1)
    expect(bookings.first).to_contain_text(service_name)
    expect(bookings.first).to_contain_text("已预约")
    # the phone remembered all three receipts; only the one the server does not list is shown
    assert len(resident.evaluate("JSON.parse(localStorage.getItem('sanwei.receipts'))")) == 3
    device = resident.locator("[data-my-receipts] a")
    expect(device).to_have_count(1)
    expect(device.first).to_contain_text("门口路灯不亮")
    expect(resident.locator("[data-receipts-section]")).to_be_visible()
    screenshot(resident, "my-wishes-signed-in")
    resident.evaluate("localStorage.setItem('sanwei.care', '1')")   # 长辈模式
    resident.reload()
    expect(resident.locator("body")).to_have_attribute("data-weui-mode", "care")
    screenshot(resident, "my-wishes-signed-in-care")
    resident.evaluate("localStorage.removeItem('sanwei.care')")
    resident.reload()

    wish_id = wishes.first.get_attribute("data-wish-id")
    wishes.first.click()
    expect(resident).to_have_url(re.compile(f"/h5/me/wishes/{wish_id}$"))
    expect(resident.locator(".app-status")).to_have_text("待认领")
    screenshot(resident, "my-wish-by-id")
    resident.get_by_role("link", name="我的心愿和预约").click()
    resident.get_by_test_id("my-service-bookings").locator("a").first.click()
    expect(resident.locator(".app-status")).to_have_text("已预约")
    resident.once("dialog", lambda dialog: dialog.accept())
    resident.get_by_role("button", name="取消预约").click()
    expect(resident.locator(".app-flash")).to_have_text("预约已取消")
    expect(resident.locator(".app-status")).to_have_text("已取消")
    screenshot(resident, "my-booking-cancelled")
