"""The H5 shell as a phone user inside WeChat sees it."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from backend.demo import DEMO_PASSWORD


def log_in(page, username: str, password: str = DEMO_PASSWORD) -> None:
    page.goto("/h5/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")


def test_anonymous_home_is_weui_in_chinese(page, screenshot):
    page.goto("/h5/")
    expect(page.locator("h1")).to_have_text("三微服务")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    button = page.get_by_role("link", name="工作人员登录")
    expect(button).to_be_visible()
    # the WeUI stylesheet really loaded: its primary button is WeChat green, not a plain link
    background = button.evaluate("el => getComputedStyle(el).backgroundColor")
    assert background in ("rgb(7, 193, 96)", "rgb(6, 174, 86)"), background
    viewport = page.evaluate("document.querySelector('meta[name=viewport]').content")
    assert "width=device-width" in viewport
    screenshot(page, "home-anonymous")


def test_secretary_logs_in_and_sees_the_role_home(page, screenshot):
    log_in(page, "heping")
    expect(page).to_have_url(re.compile(r"/h5/$"))
    expect(page.locator("h1")).to_have_text("您好，李红梅")
    actions = page.get_by_test_id("actions")
    expect(actions).to_contain_text("组织与成员")
    expect(actions).to_contain_text("二维码管理")
    expect(page.locator(".weui-tabbar")).to_contain_text("组织")
    screenshot(page, "home-secretary")


def test_party_member_home_has_no_management(page):
    log_in(page, "heping_dy1")
    expect(page.locator("h1")).to_have_text("您好，刘志刚")
    actions = page.get_by_test_id("actions")
    expect(actions).to_contain_text("我的信息")
    expect(actions).not_to_contain_text("二维码管理")
    expect(page.locator(".weui-tabbar")).not_to_contain_text("组织")


def test_wrong_password_shows_the_error_and_keeps_the_username(page, screenshot):
    log_in(page, "heping", "wrong-password")
    expect(page.get_by_role("alert")).to_have_text("用户名或密码错误")
    expect(page.locator("#username")).to_have_value("heping")
    screenshot(page, "login-error")


def test_care_mode_is_remembered_and_enlarges_text(page, screenshot):
    page.goto("/h5/me")
    size_before = page.locator(".weui-cell").first.evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
    page.locator(".weui-cell_switch").click()
    expect(page.locator("body")).to_have_attribute("data-weui-mode", "care")
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-weui-mode", "care")
    expect(page.locator("#care-mode")).to_be_checked()
    size_after = page.locator(".weui-cell").first.evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
    assert size_after > size_before
    screenshot(page, "me-care-mode")
    page.goto("/h5/")
    expect(page.locator("body")).to_have_attribute("data-weui-mode", "care")


def test_qr_code_flow_from_poster_to_scan_to_revoke(page, screenshot):
    log_in(page, "heping")
    page.goto("/h5/qrcodes")
    page.select_option("select[name=target_id]", label="第二网格")
    page.get_by_role("button", name="生成并打印").click()
    expect(page.locator(".poster__purpose")).to_have_text("扫码提交微心愿")
    expect(page.locator(".poster__org")).to_contain_text("和平社区")
    expect(page.locator(".poster__org")).to_contain_text("第二网格")
    expect(page.locator(".poster__code svg")).to_be_visible()
    screenshot(page, "qr-poster")
    short_url = page.locator(".poster__url").inner_text()
    code = short_url.rsplit("/", 1)[1]

    page.goto(short_url)
    expect(page.locator(".weui-msg__title")).to_have_text("扫码提交微心愿")
    expect(page.locator(".weui-msg")).to_contain_text("第二网格")

    page.goto("/h5/qrcodes")
    page.once("dialog", lambda dialog: dialog.accept())
    row = page.locator(".weui-cell", has_text=code)
    row.get_by_role("button", name="停用").click()
    expect(page.locator(".weui-cell", has_text=code)).to_contain_text("已停用")
    response = page.goto(short_url)
    assert response.status == 410
    expect(page.locator(".weui-msg__title")).to_contain_text("该二维码已停用")
    screenshot(page, "qr-revoked")


def test_org_page_masks_phone_numbers(page, screenshot):
    log_in(page, "heping")
    page.goto("/h5/orgs")
    page.get_by_role("link", name=re.compile("第一网格")).first.click()
    expect(page.locator("h1")).to_contain_text("第一网格")
    expect(page.locator("body")).to_contain_text("138****1011")
    expect(page.locator("body")).not_to_contain_text("13800001011")
    screenshot(page, "org-grid")


def test_logout_returns_to_the_public_home(page):
    log_in(page, "heping")
    page.locator(".weui-tabbar").get_by_role("link", name="我的").click()
    page.get_by_role("button", name="退出登录").click()
    expect(page.locator("h1")).to_have_text("三微服务")
    page.goto("/h5/orgs")
    expect(page).to_have_url(re.compile(r"/h5/login"))
