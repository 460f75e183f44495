"""The H5 pages as a phone user inside WeChat sees them (demo data, both databases)."""

from __future__ import annotations

import os
import re

import pytest

from backend.demo import DEMO_PASSWORD

try:
    from playwright.sync_api import expect
except ImportError:
    if os.environ.get("REQUIRE_BROWSER", "") not in ("", "0", "false"):
        raise
    pytest.skip("the playwright package is not installed", allow_module_level=True)

WECHAT_GREEN = ("rgb(7, 193, 96)", "rgb(6, 174, 86)")  # WeUI --weui-BRAND, light and care mode


def log_in(page, username: str, password: str = DEMO_PASSWORD, *, succeeds: bool = True) -> None:
    page.goto("/h5/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    if succeeds:
        page.wait_for_url(lambda url: "/h5/login" not in url)


def heping_api(page) -> tuple[dict, int]:
    """和平社区's secretary signed in to the API through `page`'s request context: the
    Authorization header, and the community's id."""
    token = page.request.post("/api/v1/auth/login",
                              data={"username": "heping", "password": DEMO_PASSWORD}).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    communities = page.request.get("/api/v1/orgs?kind=community", headers=auth).json()["items"]
    return auth, next(c["id"] for c in communities if c["name"] == "和平社区")


def font_size(locator) -> float:
    return locator.evaluate("el => parseFloat(getComputedStyle(el).fontSize)")


def test_anonymous_home_is_weui_in_chinese(page, screenshot):
    page.goto("/h5/")
    expect(page).to_have_title(re.compile("三微"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_have_text("三微服务")
    expect(page.get_by_role("link", name="工作人员登录")).to_be_visible()   # kept, small, below the residents' actions
    button = page.get_by_role("button", name="扫一扫 社区二维码")
    # the WeUI stylesheet really loaded: its primary button is WeChat green, not a plain blue link
    assert button.evaluate("el => getComputedStyle(el).backgroundColor") in WECHAT_GREEN
    assert page.evaluate("document.styleSheets.length") >= 2
    assert "width=device-width" in page.evaluate("document.querySelector('meta[name=viewport]').content")
    expect(page.locator(".weui-tabbar")).not_to_contain_text("组织")  # staff only
    screenshot(page, "home-anonymous")


def test_secretary_logs_in_and_sees_the_role_home(page, screenshot):
    log_in(page, "heping")
    expect(page).to_have_url(re.compile(r"/h5/$"))
    expect(page.locator("h1")).to_have_text("您好，李红梅")
    expect(page.locator(".app-hero")).to_contain_text("社区书记")
    actions = page.get_by_test_id("actions")
    expect(actions).to_contain_text("组织与成员")
    expect(actions).to_contain_text("二维码管理")
    expect(page.locator(".weui-tabbar")).to_contain_text("组织")
    screenshot(page, "home-secretary")
    actions.get_by_text("组织与成员").click()
    expect(page).to_have_url(re.compile(r"/h5/orgs$"))
    expect(page.locator(".weui-cells")).to_contain_text("和平社区")
    expect(page.locator(".weui-cells")).not_to_contain_text("幸福社区")
    screenshot(page, "orgs-secretary")


def test_party_member_home_has_no_management(page, screenshot):
    log_in(page, "heping_dy1")
    expect(page.locator("h1")).to_have_text("您好，刘志刚")
    actions = page.get_by_test_id("actions")
    expect(actions).to_contain_text("我的信息")
    expect(actions).not_to_contain_text("二维码管理")
    expect(actions).not_to_contain_text("组织与成员")
    expect(page.locator(".weui-tabbar")).not_to_contain_text("组织")
    screenshot(page, "home-party-member")


def test_grid_leader_manages_codes_of_their_own_grid_only(page):
    # grid leaders are managers (MANAGER_ROLES): 二维码管理 is theirs too, for one grid
    log_in(page, "heping_g1")
    page.get_by_test_id("actions").get_by_text("二维码管理").click()
    expect(page.locator("select[name=target_id] option")).to_have_text(["第一网格"])
    expect(page.locator(".weui-cells").last).not_to_contain_text("第二网格")


def test_wrong_password_shows_the_error_and_keeps_the_username(page, screenshot):
    log_in(page, "heping", "wrong-password", succeeds=False)
    expect(page.get_by_role("alert")).to_have_text("用户名或密码错误")
    expect(page.locator("#username")).to_have_value("heping")
    expect(page.locator("#password")).to_have_value("")
    expect(page).to_have_url(re.compile(r"/h5/login"))
    screenshot(page, "login-error")


def test_care_mode_is_remembered_and_enlarges_text(page, screenshot):
    page.goto("/h5/me")
    cell = page.locator(".weui-cell_switch")
    size_before = font_size(cell)
    expect(page.locator("body")).not_to_have_attribute("data-weui-mode", "care")
    cell.click()  # the whole row is the label: an elderly thumb need not hit the switch
    expect(page.locator("body")).to_have_attribute("data-weui-mode", "care")
    assert font_size(cell) > size_before
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-weui-mode", "care")
    expect(page.locator("#care-mode")).to_be_checked()
    assert font_size(cell) > size_before
    screenshot(page, "me-care-mode")
    page.goto("/h5/")
    expect(page.locator("body")).to_have_attribute("data-weui-mode", "care")
    screenshot(page, "home-care-mode")
    page.goto("/h5/me")
    cell.click()
    expect(page.locator("body")).not_to_have_attribute("data-weui-mode", "care")
    page.reload()
    expect(page.locator("#care-mode")).not_to_be_checked()


def test_qr_code_flow_from_poster_to_scan_to_revoke(page, screenshot):
    log_in(page, "heping")
    page.goto("/h5/qrcodes")
    page.select_option("select[name=target_id]", label="第二网格")
    page.get_by_role("button", name="生成并打印").click()
    expect(page).to_have_url(re.compile(r"/h5/qrcodes/\d+/poster$"))
    expect(page.locator(".poster__purpose")).to_have_text("扫码提交微心愿")
    expect(page.locator(".poster__org")).to_have_text("东湖街道 · 和平社区 · 第二网格")
    expect(page.locator(".poster__code svg")).to_be_visible()
    screenshot(page, "qr-poster")
    short_url = page.locator(".poster__url").inner_text()
    assert re.fullmatch(re.escape(page.url.split("/h5/")[0]) + r"/q/[A-Za-z0-9_-]+", short_url), short_url
    code = short_url.rsplit("/", 1)[1]

    response = page.goto(short_url)  # what a phone does after scanning
    assert response.ok, response.status
    expect(page).to_have_url(re.compile(re.escape(code)))  # the page the code is for
    expect(page).not_to_have_url(re.compile(r"/q/"))
    expect(page.locator("main")).to_contain_text("心愿")
    expect(page.locator("main")).to_contain_text("和平社区 · 第二网格")
    screenshot(page, "qr-landing")

    page.goto("/h5/qrcodes")
    screenshot(page, "qrcodes")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(".weui-cell", has_text=code).get_by_role("button", name="停用").click()
    expect(page.locator(".weui-cell", has_text=code)).to_contain_text("已停用")
    expect(page.locator(".weui-cell", has_text=code).get_by_role("button", name="停用")).to_have_count(0)
    response = page.goto(short_url)
    assert response.status == 410
    expect(page.locator(".weui-msg__title")).to_have_text("该二维码已停用，请扫描最新张贴的二维码")
    expect(page.get_by_role("link", name="返回首页")).to_be_visible()
    screenshot(page, "qr-revoked")


def test_org_pages_list_grids_in_order_one_row_per_person_and_mask_phones(page, screenshot):
    log_in(page, "heping")
    page.goto("/h5/orgs")
    page.get_by_role("link", name=re.compile("和平社区")).click()
    expect(page.locator("h1")).to_contain_text("和平社区")
    grids = page.locator(".weui-cells").first.locator(".weui-cell__bd")
    expect(grids).to_have_text(["第一网格", "第二网格", "第三网格"])
    members = page.locator(".weui-cell", has_text="李红梅")
    expect(members).to_have_count(1)
    expect(members).to_contain_text("社区书记、党员")
    screenshot(page, "org-community")
    grids.first.click()
    expect(page.locator("h1")).to_contain_text("第一网格")
    expect(page.locator("main")).to_contain_text("138****1011")
    expect(page.locator("main")).not_to_contain_text("13800001011")
    screenshot(page, "org-grid")


def test_logout_returns_to_the_public_home(page):
    log_in(page, "heping")
    page.locator(".weui-tabbar").get_by_role("link", name="我的").click()
    expect(page).to_have_url(re.compile(r"/h5/me$"))
    page.get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(re.compile(r"/h5/$"))
    expect(page.locator("h1")).to_have_text("三微服务")
    expect(page.get_by_role("link", name="工作人员登录")).to_be_visible()
    page.goto("/h5/orgs")
    expect(page).to_have_url(re.compile(r"/h5/login\?next=(/|%2F)h5(/|%2F)orgs$"))
