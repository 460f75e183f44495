"""A resident on a phone: a poll that reads well for older eyes (question text first, 可多选,
the hint once, care mode), a repeat scan told before typing, a thank-you with ways on; a
refused booking that reloads at its own address; a rating sent without stars told on the page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from playwright.sync_api import expect

from tests.browser.test_pages import font_size, heping_api, log_in
from tests.browser.test_poll_flow import answer_all


def care_mode(page) -> None:
    page.evaluate("localStorage.setItem('sanwei.care', '1')")
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-weui-mode", "care")


def test_a_poll_for_older_eyes_and_a_repeat_scan(phone, screenshot):
    secretary = phone()
    log_in(secretary, "heping")
    secretary.goto("/h5/polls/new")
    secretary.get_by_role("button", name="创建测评").click()
    secretary.get_by_role("button", name="打印测评二维码").click()
    poll_qr = secretary.locator(".poster__url").inner_text()

    resident = phone()
    resident.goto(poll_qr)
    first = resident.locator("fieldset.app-question").first
    question, star = first.locator("legend"), first.locator(".app-stars label").first
    assert font_size(question) >= font_size(star) and font_size(question) >= 20
    assert question.evaluate("el => getComputedStyle(el).fontWeight") in ("600", "700")
    expect(resident.get_by_test_id("stars-hint")).to_have_count(1)
    expect(resident.get_by_text("越多越满意")).to_have_count(1)
    expect(resident.locator("legend", has_text="可多选")).to_have_count(1)
    screenshot(resident, "poll-answer-older-eyes")
    care_mode(resident)
    assert font_size(question) >= 24 and font_size(question) >= font_size(star)
    screenshot(resident, "poll-answer-care")

    answer_all(resident)
    resident.get_by_role("button", name="提交").click()
    expect(resident.locator(".weui-msg__title")).to_have_text("提交成功，感谢参与！")
    expect(resident.get_by_role("link", name="回到首页")).to_be_visible()
    screenshot(resident, "poll-thanks-ways-on")

    resident.goto(poll_qr)   # the same phone scans again
    expect(resident.get_by_test_id("poll-message")).to_have_text("您已参加过本次测评")
    expect(resident.locator("fieldset.app-question")).to_have_count(0)
    screenshot(resident, "poll-repeat-scan-care")
    resident.get_by_role("link", name="看看和平社区的心愿办理").click()
    expect(resident.locator("h1")).to_contain_text("和平社区")
    resident.go_back()
    resident.get_by_role("link", name="回到首页").click()
    expect(resident).to_have_url(re.compile(r"/h5/$"))


def test_a_refused_booking_reloads_and_a_rating_needs_stars_on_the_page(phone, db_url, screenshot):
    organiser = phone()
    auth, heping = heping_api(organiser)
    item = organiser.request.post("/api/v1/services", headers=auth, data={
        "org_id": heping, "name": "助浴上门", "category": "助老", "location": "和平社区养老驿站",
        "provider_name": "红马甲志愿服务队"}).json()
    start = datetime.now(UTC) + timedelta(days=1)
    slot = organiser.request.post(f"/api/v1/services/{item['id']}/slots", headers=auth, data={
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat(), "capacity": 2}).json()
    page_url = f"/h5/services/{item['id']}"

    resident = phone()
    resident.goto(page_url)
    resident.locator(".weui-cells_radio label").first.click()
    resident.fill("#contact_name", "吴阿姨")
    resident.fill("#contact_phone", "12345")
    resident.locator("#consent").check()
    resident.get_by_role("button", name="预约").click()
    expect(resident.locator(".app-field-error").first).to_be_visible()
    assert resident.url.endswith(page_url)
    again = resident.goto(resident.url)   # what a reload, care mode or a shared link asks for
    assert again.status == 200
    expect(resident.locator("h1")).to_have_text("助浴上门")
    assert resident.request.get(page_url + "/book", max_redirects=0).status == 302
    screenshot(resident, "service-refused-reloaded")

    resident.locator(".weui-cells_radio label").first.click()
    resident.fill("#contact_name", "吴阿姨")
    resident.fill("#contact_phone", "13812345678")
    resident.locator("#consent").check()
    resident.get_by_role("button", name="预约").click()
    expect(resident.locator(".weui-msg__title")).to_have_text("预约成功")
    receipt_url = resident.url.split("?")[0]
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE slots SET starts_at = :at WHERE id = :id"),
                     {"at": (datetime.now(UTC) - timedelta(minutes=5)).replace(tzinfo=None), "id": slot["id"]})
    engine.dispose()
    log_in(organiser, "heping")
    organiser.goto(page_url)
    organiser.locator(".weui-cell", has_text="吴阿姨").get_by_role("button", name="已服务").click()
    expect(organiser.locator(".app-flash")).to_have_text("已标记为已服务")

    resident.goto(receipt_url)
    resident.fill("textarea[name=comment]", "很周到")
    resident.get_by_role("button", name="提交评价").click()
    alert = resident.locator("[data-stars-error]")
    expect(alert).to_have_text("请点选 1–5 颗星再提交")
    assert resident.url == receipt_url or resident.url.startswith(receipt_url)
    expect(resident.locator("textarea[name=comment]")).to_have_value("很周到")   # nothing typed is lost
    screenshot(resident, "service-rate-without-stars")
    care_mode(resident)
    resident.get_by_role("button", name="提交评价").click()
    expect(alert).to_be_visible()
    screenshot(resident, "service-rate-without-stars-care")
    resident.locator("label[for=rating-5]").click()
    resident.get_by_role("button", name="提交评价").click()
    expect(resident.locator(".app-flash")).to_have_text("感谢您的评价！")
