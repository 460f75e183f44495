"""The street's controls on a phone: a secretary records a meeting dated far back with a
photo of the minutes and it waits for the street; the street confirms it, reads why there is
no five-star place, overrides a computed criterion in review and sees the computed value
move beside the override, and records a quota exception."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.test_pages import log_in


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (160, 120), "white").save(out, "JPEG")
    return out.getvalue()


def test_street_checks_records_overrides_and_explains_quotas(phone, live_server, screenshot):
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    if (today - timedelta(days=100)).year != today.year:
        pytest.skip("the demo's meetings 40 and 100 days back fall in this year's campaign from April 11")
    secretary = phone()
    log_in(secretary, "heping")
    secretary.goto("/h5/rating/")
    secretary.get_by_role("link", name=re.compile("和平社区")).click()
    secretary.get_by_role("link", name=re.compile("组织生活记录")).click()
    secretary.select_option("#kind", "committee")
    secretary.fill("#held_on", (today - timedelta(days=35)).isoformat())
    secretary.fill("#topic", "支委会：研究老旧小区改造")
    secretary.fill("#attendance", "7")
    secretary.get_by_role("button", name="记录").click()
    expect(secretary.locator(".app-field-error").first).to_contain_text("说明没有佐证材料的原因")
    secretary.set_input_files("input[name=evidence_file]", files=[
        {"name": "支委会纪要.jpg", "mimeType": "image/jpeg", "buffer": _photo()}])
    secretary.get_by_role("button", name="记录").click()
    expect(secretary.locator(".app-flash_ok")).to_have_text("会议已记录")
    mine = secretary.get_by_test_id("meetings").locator("[data-meeting]", has_text="支委会：研究老旧小区改造")
    expect(mine).to_contain_text("待街道确认")
    expect(mine.get_by_role("link", name="支委会纪要.jpg")).to_be_visible()
    expect(mine.get_by_role("button", name="确认计入")).to_have_count(0)
    screenshot(secretary, "rating-meetings")

    officer = phone()
    officer.on("dialog", lambda dialog: dialog.accept())
    log_in(officer, "jiedao")
    officer.goto("/h5/rating/")
    officer.get_by_role("link", name=re.compile("总览")).click()
    quotas = officer.get_by_test_id("quotas")
    expect(quotas).to_contain_text("五星名额 0 个：3 个组织 × 15% = 0.45，向下取整为 0（不足 1 个）")
    expect(quotas).to_contain_text("本次不设五星")
    expect(officer.get_by_test_id("meetings-waiting")).to_contain_text("2 条待确认")
    screenshot(officer, "rating-quotas")
    campaign_url = officer.url

    officer.get_by_test_id("meetings-waiting").click()
    waiting = officer.locator("[data-meeting]", has_text="支委会：研究老旧小区改造")
    expect(waiting.get_by_role("button", name="确认计入")).to_be_visible()
    screenshot(officer, "rating-campaign-meetings")
    waiting.get_by_role("button", name="确认计入").click()
    expect(officer.locator(".app-flash_ok")).to_have_text("已确认，该记录计入评分")
    expect(officer.locator("[data-meeting]", has_text="支委会：研究老旧小区改造")).to_contain_text("已计入")

    officer.goto(campaign_url)
    officer.get_by_test_id("advance").click()
    expect(officer.get_by_test_id("phase")).to_contain_text("街道初审")
    officer.get_by_test_id("ranking").get_by_role("link", name=re.compile("和平社区")).click()
    o2 = officer.locator("#c-O2")
    computed = o2.locator("[data-points]").inner_text()
    o2.get_by_role("link", name="核定").click()
    expect(officer.get_by_test_id("computed")).to_contain_text(computed)
    officer.fill("#points", "2")
    officer.locator("textarea[name=note]").fill("实地查阅：主题党日签到表缺 3 个月，按实际召开情况核定")
    officer.get_by_role("button", name="保存核定").click()
    expect(officer.locator(".app-field-error").first).to_contain_text("核定须附佐证材料")
    officer.set_input_files("input[name=evidence_file]", files=[
        {"name": "核查记录.jpg", "mimeType": "image/jpeg", "buffer": _photo()}])
    screenshot(officer, "rating-override-form")
    officer.get_by_role("button", name="保存核定").click()
    expect(officer.locator(".app-flash_ok")).to_have_text("O2 已核定，总分已更新")
    override = officer.locator("#c-O2 [data-override]")
    expect(override).to_contain_text(f"计算 {computed} → 街道核定 2，理由：实地查阅")
    expect(officer.locator("#c-O2 [data-points]")).to_have_text("2")
    expect(officer.locator("#c-O2")).to_contain_text("街道核定")
    scorecard_url = officer.url.split("#")[0]
    officer.locator("#c-O2").scroll_into_view_if_needed()
    screenshot(officer, "rating-override")

    # The street strikes a 主题党日 of August: the computed value drops, the override stands.
    officer.goto(campaign_url)
    officer.get_by_test_id("meetings-waiting").click()
    held = today - timedelta(days=100)
    theme_day = officer.locator("[data-meeting]", has_text=f"主题党日 · {held:%Y年%m月%d日}")
    theme_day.locator("summary").click()
    theme_day.locator("textarea[name=reason]").fill("签到表显示当日未组织，系补记")
    theme_day.get_by_role("button", name="确认删除").click()
    expect(officer.locator(".app-flash_ok")).to_have_text("已删除，该记录不再计入评分")
    officer.goto(scorecard_url)
    expect(officer.locator("#c-O2 [data-points]")).to_have_text("2")
    expect(officer.locator("#c-O2 [data-moved]")).to_contain_text(f"核定时 {computed} 分")
    officer.locator("#c-O2").scroll_into_view_if_needed()
    screenshot(officer, "rating-override-moved")

    secretary.goto(scorecard_url)
    expect(secretary.locator("#c-O2 [data-override]")).to_contain_text("街道核定 2")
    expect(secretary.locator("#c-O2").get_by_role("link", name="核定")).to_have_count(0)

    # A quota exception for 和平社区, shown on the overview with its reason.
    officer.get_by_test_id("quota-exception").click()
    officer.locator("textarea[name=reason]").fill("经街道党委会研究，和平社区为全区党建示范点，报县委组织部备案")
    officer.get_by_role("button", name="记录例外").click()
    expect(officer.locator(".app-flash_ok")).to_contain_text("名额例外已记录")
    expect(officer.get_by_test_id("ranking")).to_contain_text("和平社区为全区党建示范点")
    screenshot(officer, "rating-quota-exception")


def test_self_claimed_level_and_the_streets_preliminary_opinion(phone, live_server, screenshot):
    secretary = phone()
    log_in(secretary, "heping")
    secretary.goto("/h5/rating/")
    secretary.get_by_role("link", name=re.compile("和平社区")).click()
    scorecard_url = secretary.url
    secretary.get_by_role("link", name=re.compile("自我评价报告")).click()
    expect(secretary.get_by_test_id("computed-level")).to_contain_text("目前无星级")
    for name, text in (("evaluation", "五项标准逐项对照，组织网格化基本达标"), ("problems", "服务智慧化不足"),
                       ("measures", "推广网上预约"), ("next_steps", "争创三星")):
        secretary.locator(f"textarea[name={name}]").fill(text)
    secretary.get_by_role("button", name="保存报告").click()
    expect(secretary.locator(".app-field-error").first).to_have_text("请选择星级")
    secretary.select_option("#claimed", "3")
    screenshot(secretary, "rating-self-report")
    secretary.get_by_role("button", name="保存报告").click()
    expect(secretary.locator(".app-flash_ok")).to_have_text("自我评价报告已保存")
    expect(secretary.get_by_test_id("levels")).to_contain_text("自我定级 三星")

    officer = phone()
    officer.on("dialog", lambda dialog: dialog.accept())
    log_in(officer, "jiedao")
    officer.goto("/h5/rating/")
    officer.get_by_role("link", name=re.compile("总览")).click()
    officer.get_by_test_id("advance").click()
    expect(officer.get_by_test_id("phase")).to_contain_text("街道初审")
    expect(officer.get_by_test_id("opinions")).to_contain_text("0/3 个组织已填写")
    officer.goto(scorecard_url)
    officer.get_by_test_id("review-opinion").click()
    officer.select_option("#level", "2")
    officer.locator("textarea[name=opinion]").fill("自评三星偏高：联席会记录不全，测评样本不足，经党委会研究拟定二星")
    screenshot(officer, "rating-review-opinion")
    officer.get_by_role("button", name="保存初评意见").click()
    expect(officer.locator(".app-flash_ok")).to_have_text("初评意见已保存")
    expect(officer.get_by_test_id("levels")).to_contain_text("自我定级 三星 · 街道初评 二星")
    expect(officer.get_by_test_id("review-opinion")).to_contain_text("经党委会研究拟定二星")
    secretary.goto(scorecard_url)
    expect(secretary.get_by_test_id("review-opinion")).to_contain_text("二星")
    expect(secretary.locator("a[data-testid=review-opinion]")).to_have_count(0)   # read, not edited
