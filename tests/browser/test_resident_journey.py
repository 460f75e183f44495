"""A resident's journey on the demo data (iPhone-sized, WeChat user agent): the public home
offers real actions (scan, a community's services and wish page, remembered on the phone), the
wish form takes a photo and the 楼栋/门牌 and shows every error at once, 我的心愿 says each
wish's state, next step and 待您确认, and 长辈模式 is one tap away on a QR landing page, the
consent line and the errors scaled with it."""

from __future__ import annotations

import io
import random
import re
from datetime import UTC, datetime, timedelta

from PIL import Image
from playwright.sync_api import expect

from backend.demo import DEMO_PASSWORD
from tests.browser.test_pages import font_size, log_in
from tests.browser.test_wish_flow import wish_code_url


def _camera_photo() -> bytes:
    """A photo as large as a phone camera's (noise, so JPEG cannot shrink it for free)."""
    rng = random.Random(18)
    img = Image.frombytes("RGB", (2000, 1500), bytes(rng.getrandbits(8) for _ in range(2000 * 1500 * 3)))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=95)
    return out.getvalue()


def test_home_leads_to_a_community_and_remembers_it(phone, screenshot):
    resident = phone()
    resident.goto("/h5/")
    expect(resident.get_by_role("button", name="扫一扫 社区二维码")).to_be_visible()
    expect(resident.locator("[data-scan-hint]")).to_contain_text("手机相机")
    expect(resident.locator("[data-last-community]")).to_be_hidden()
    expect(resident.get_by_role("link", name="工作人员登录")).to_be_visible()
    screenshot(resident, "resident-home-first-visit")
    row = resident.locator("[data-community-row='和平社区']")
    row.get_by_role("link", name="便民服务").click()
    expect(resident.locator(".app-hero__title")).to_have_text("和平社区 便民服务")
    expect(resident.get_by_test_id("community-services")).to_contain_text("老年人义务理发")
    screenshot(resident, "community-services")
    resident.get_by_role("link", name="和平社区的微心愿公示").click()
    expect(resident.locator(".app-hero__title")).to_have_text("和平社区 微心愿")
    screenshot(resident, "community-wishes")

    resident.goto("/h5/")
    last = resident.get_by_test_id("last-community")
    expect(last).to_be_visible()
    expect(last).to_contain_text("和平社区便民服务")
    expect(resident.locator("[data-communities-title]")).to_have_text("其他社区")
    screenshot(resident, "resident-home-remembered")
    last.get_by_role("link", name="和平社区微心愿公示").click()
    expect(resident.locator(".app-hero__title")).to_have_text("和平社区 微心愿")


def test_wish_with_photo_and_door_then_progress(phone, screenshot, tmp_path):
    leader = phone()
    log_in(leader, "heping_g1")
    url = wish_code_url(leader, "第一网格")

    resident = phone()
    resident.goto(url)
    resident.get_by_role("button", name="提交心愿").click()
    # every error at once, the consent among them
    expect(resident.get_by_test_id("error-summary")).to_contain_text("还有 4 处需要修改")
    errors = resident.locator(".app-field-error")
    expect(errors).to_have_count(4)
    for text in ("请填写标题", "请写下需要什么帮助", "请选择类别", "请阅读并同意隐私说明"):
        expect(errors.filter(has_text=text)).to_have_count(1)
    screenshot(resident, "wish-form-errors")

    resident.fill("#title", "楼道扶手松了")
    resident.fill("#content", "三楼楼梯扶手晃动，老人上下楼害怕")
    resident.select_option("#category", "助老助残")
    resident.fill("#location", "3号楼2单元")
    photo = tmp_path / "扶手.jpg"
    photo.write_bytes(_camera_photo())
    resident.locator("#photos").set_input_files(str(photo))
    expect(resident.locator("[data-photo-note]")).to_have_text("已选 1 张照片")
    expect(resident.locator("[data-photo-thumbs] img")).to_have_count(1)
    sent = resident.locator("#photos").evaluate("i => [i.files.length, i.files[0].type, i.files[0].size]")
    assert sent[0] == 1 and sent[1] == "image/jpeg" and sent[2] < photo.stat().st_size / 2, sent
    resident.locator("#consent").check()
    screenshot(resident, "wish-form-filled")
    resident.get_by_role("button", name="提交心愿").click()
    expect(resident.locator(".weui-msg__title")).to_have_text("心愿已提交")

    resident.goto("/h5/w/mine")
    row = resident.get_by_test_id("phone-wishes").get_by_role("link", name=re.compile("楼道扶手松了"))
    expect(row.get_by_test_id("wish-state")).to_have_text("待认领")
    expect(row.get_by_test_id("next-step")).to_have_text("网格长通常 24 小时内认领")

    leader.goto("/h5/tasks")
    leader.get_by_role("link", name=re.compile("楼道扶手松了")).click()
    expect(leader.get_by_test_id("wish-location")).to_have_text("3号楼2单元")
    shown = leader.get_by_test_id("wish-photos").locator("img")
    expect(shown).to_have_count(1)
    shown.scroll_into_view_if_needed()
    leader.wait_for_function("() => document.querySelector('[data-testid=wish-photos] img').naturalWidth > 0")
    assert shown.evaluate("img => img.naturalWidth") == 1280
    screenshot(leader, "task-with-photo")
    leader.get_by_role("button", name="我来认领").click()
    leader.fill("textarea[name=note]", "已联系物业加固扶手")
    leader.get_by_role("button", name="标记办结").click()
    expect(leader.locator(".app-flash")).to_have_text("已标记办结，等待居民确认")

    resident.goto("/h5/w/mine")
    row = resident.get_by_test_id("phone-wishes").get_by_role("link", name=re.compile("楼道扶手松了"))
    expect(row.get_by_test_id("wish-state")).to_have_text("待确认")
    expect(row.get_by_test_id("awaits-you")).to_have_text("待您确认")
    expect(row.get_by_test_id("next-step")).to_contain_text("请您确认并打分")
    expect(resident.get_by_test_id("phone-bookings")).to_contain_text("还没有预约过便民服务")
    screenshot(resident, "wish-mine-states")

    resident.goto("/h5/")
    expect(resident.get_by_test_id("phone-wishes").get_by_test_id("awaits-you")).to_have_text("待您确认")
    screenshot(resident, "resident-home-with-wish")


def test_care_mode_on_a_qr_landing_page(phone, screenshot):
    leader = phone()
    log_in(leader, "heping_g1")
    url = wish_code_url(leader, "第一网格")

    resident = phone()
    resident.goto(url)
    consent = resident.locator(".weui-agree__text")
    small = font_size(consent)
    resident.locator("label[for=care-switch]").click()
    expect(resident.locator("body")).to_have_attribute("data-weui-mode", "care")
    resident.get_by_role("button", name="提交心愿").click()
    expect(resident.locator("body")).to_have_attribute("data-weui-mode", "care")   # kept on the phone
    expect(resident.locator("#care-switch")).to_be_checked()
    error = resident.locator(".app-field-error").first
    expect(error).to_be_visible()
    assert font_size(consent) >= 18 > small
    assert font_size(error) >= 18
    assert font_size(resident.get_by_test_id("error-summary")) >= 18
    screenshot(resident, "wish-form-errors-care")

    resident.goto("/h5/")
    expect(resident.locator("#care-switch")).to_be_checked()
    screenshot(resident, "resident-home-care")


def test_care_switch_on_every_qr_landing_page(phone, screenshot):
    """Wish form, service page, poll and check-in: each QR code's page has the switch, and the
    choice made on one holds on the others (it is kept on the phone)."""
    secretary = phone()
    token = secretary.request.post("/api/v1/auth/login",
                                   data={"username": "heping", "password": DEMO_PASSWORD}).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    log_in(secretary, "heping")
    secretary.goto("/h5/polls/new")
    secretary.get_by_role("button", name="创建测评").click()
    secretary.get_by_role("button", name="打印测评二维码").click()
    poll_url = secretary.locator(".poster__url").inner_text()
    heping = next(c["id"] for c in secretary.request.get("/api/v1/orgs?kind=community", headers=bearer).json()["items"]
                  if c["name"] == "和平社区")
    now = datetime.now(UTC)
    activity = secretary.request.post("/api/v1/activities", headers=bearer, data={
        "org_id": heping, "title": "楼道清扫", "location": "和平社区3号楼", "capacity": 5,
        "starts_at": (now + timedelta(hours=1)).isoformat(), "ends_at": (now + timedelta(hours=3)).isoformat()})
    assert activity.status == 201, activity.text()
    secretary.goto(f"/h5/activities/{activity.json()['id']}")
    secretary.get_by_role("button", name="打印签到二维码").click()
    venue_url = secretary.locator(".poster__url").inner_text()
    wish_url = wish_code_url(secretary, "第一网格")

    resident = phone()
    resident.goto(wish_url)
    resident.locator("label[for=care-switch]").click()
    expect(resident.locator("body")).to_have_attribute("data-weui-mode", "care")
    resident.goto(f"/h5/c/{heping}/services")
    resident.get_by_role("link", name=re.compile("老年人义务理发")).click()
    expect(resident.locator("#care-switch")).to_be_checked()
    screenshot(resident, "service-page-care")
    resident.goto(poll_url)
    expect(resident.locator("#care-switch")).to_be_checked()
    expect(resident.locator("body")).to_have_attribute("data-weui-mode", "care")
    screenshot(resident, "poll-answer-care")

    volunteer = phone()
    log_in(volunteer, "heping_dy4")
    volunteer.goto(venue_url)
    expect(volunteer.locator("#care-switch")).not_to_be_checked()
    volunteer.locator("label[for=care-switch]").click()
    expect(volunteer.locator("body")).to_have_attribute("data-weui-mode", "care")
    screenshot(volunteer, "activity-checkin-care")
