"""The star rating campaign on a phone: a secretary scores a manual criterion and sees the
total change; the street starts a campaign with a deduction rubric and advances it; the
secretary ticks deductions, counts one per instance and picks one of exclusive alternatives;
in review the secretary can no longer edit."""

from __future__ import annotations

import io
import re
from decimal import Decimal

from PIL import Image
from playwright.sync_api import expect

from tests.browser.test_pages import log_in


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 90), "white").save(out, "PNG")
    return out.getvalue()


def total_of(page) -> Decimal:
    return Decimal(page.get_by_test_id("total").locator("strong").inner_text())


def test_secretary_scores_a_criterion_and_the_total_moves(phone, live_server, screenshot):
    secretary = phone()
    log_in(secretary, "heping")
    secretary.get_by_role("link", name=re.compile("星级创评")).click()
    # One campaign, one community: the list opens straight onto its scorecard.
    secretary.get_by_role("link", name=re.compile("和平社区")).click()
    expect(secretary.locator(".app-hero__title")).to_have_text("和平社区")
    expect(secretary.get_by_test_id("manual-progress")).to_contain_text("手工评分项已评 3/")
    before = total_of(secretary)
    screenshot(secretary, "rating-scorecard")

    secretary.locator("#c-G4").get_by_role("link", name="评分").click()
    expect(secretary.locator(".app-hero__title")).to_contain_text("G4")
    secretary.get_by_role("button", name="保存评分").click()
    expect(secretary.locator(".app-field-error").first).to_be_visible()
    secretary.fill("#points", "2.5")
    secretary.locator("textarea[name=note]").fill("各网格长职责已上墙公示，定岗定责表见附件")
    secretary.fill("#evidence_url", "https://example.org/heping/grid-duties")
    secretary.set_input_files("input[name=evidence_file]", files=[
        {"name": "网格职责公示.png", "mimeType": "image/png", "buffer": _photo()}])
    screenshot(secretary, "rating-criterion")
    secretary.get_by_role("button", name="保存评分").click()

    expect(secretary.locator(".app-flash_ok")).to_have_text("G4 已评分，总分已更新")
    expect(secretary.locator("#c-G4 [data-points]")).to_have_text("2.5")
    expect(secretary.locator("#c-G4")).to_contain_text("各网格长职责已上墙公示")
    assert total_of(secretary) == before + Decimal("2.5")
    expect(secretary.get_by_test_id("manual-progress")).to_contain_text("手工评分项已评 4/")
    evidence = secretary.locator("#c-G4").get_by_role("link", name="网格职责公示.png")
    shown = secretary.request.get(evidence.get_attribute("href"))
    assert shown.status == 200 and shown.headers["content-type"] == "image/png" and shown.body() == _photo()


def test_street_campaign_with_deduction_ticks_and_phase_rules(phone, live_server, screenshot):
    officer = phone()
    officer.on("dialog", lambda dialog: dialog.accept())
    log_in(officer, "jiedao")
    officer.goto("/h5/rating/new")
    officer.select_option("#rubric_code", "zhengxian-community")
    officer.fill("#name", "2026年度争先创优评定")
    officer.get_by_role("button", name="发起").click()
    expect(officer.get_by_test_id("phase")).to_contain_text("已发布")
    expect(officer.get_by_test_id("ranking").locator(".weui-cell")).to_have_count(3)
    officer.get_by_test_id("advance").click()
    expect(officer.get_by_test_id("phase")).to_contain_text("自我评定")
    expect(officer.get_by_test_id("chain")).to_contain_text("完整")
    campaign_url = officer.url
    screenshot(officer, "rating-campaign")

    secretary = phone()
    log_in(secretary, "heping")
    secretary.goto("/h5/rating/")
    secretary.get_by_role("link", name=re.compile("争先创优评定")).click()
    before = total_of(secretary)
    secretary.locator("#c-C1\\.1").get_by_role("link", name="评分").click()
    expect(secretary.locator("[data-score]")).to_have_text("2")
    secretary.get_by_text("未进行摸底排查", exact=True).click()
    expect(secretary.locator("[data-score]")).to_have_text("1")
    secretary.locator("textarea[name=note]").fill("今年尚未开展党组织设置摸底")
    screenshot(secretary, "rating-deductions")
    secretary.get_by_role("button", name="保存评分").click()
    expect(secretary.locator("#c-C1\\.1 [data-points]")).to_have_text("1")
    expect(secretary.locator("#c-C1\\.1")).to_contain_text("未进行摸底排查 −1")
    assert total_of(secretary) == before + 1
    scorecard_url = secretary.url.split("#")[0]

    # 每少1项扣1分: a count with − and +; exclusive alternatives: one radio of a group.
    secretary.goto(f"{scorecard_url}/criteria/C5.1")
    expect(secretary.locator("[data-score]")).to_have_text("5")
    plus = secretary.get_by_role("button", name="增加")
    for _ in range(4):
        plus.click()
    secretary.get_by_role("button", name="减少").click()
    expect(secretary.locator("input[name=count-2]")).to_have_value("3")
    expect(secretary.locator("[data-score]")).to_have_text("2")
    secretary.get_by_text("社区用房不达标", exact=True).click()
    expect(secretary.locator("[data-score]")).to_have_text("0")
    secretary.locator("textarea[name=note]").fill("用房不足 500㎡；大讲堂缺制度、设备、标识三项")
    screenshot(secretary, "rating-deduction-count")
    secretary.get_by_role("button", name="保存评分").click()
    expect(secretary.locator("#c-C5\\.1")).to_contain_text("新时代“三新”大讲堂未依据“6有”标准建设（3 项） −3")
    expect(secretary.locator("#c-C5\\.1 [data-points]")).to_have_text("0")

    secretary.goto(f"{scorecard_url}/criteria/C3.2")
    expect(secretary.locator("[data-score]")).to_have_text("3")
    secretary.get_by_text("每年集中学习培训时间不足", exact=True).click()
    expect(secretary.locator("[data-score]")).to_have_text("2")
    secretary.get_by_text("没有集中培训的", exact=True).click()
    expect(secretary.locator("[data-score]")).to_have_text("1")
    secretary.locator("textarea[name=note]").fill("班子成员今年未参加集中培训")
    screenshot(secretary, "rating-deduction-choice")
    secretary.get_by_role("button", name="保存评分").click()
    expect(secretary.locator("#c-C3\\.2 [data-points]")).to_have_text("1")
    assert total_of(secretary) == before + 1 + 0 + 1   # C1.1, C5.1 and C3.2 so far

    officer.goto(campaign_url)
    officer.get_by_test_id("advance").click()
    expect(officer.get_by_test_id("phase")).to_contain_text("街道初审")

    # Review belongs to the street: the secretary's card has no score buttons any more, and
    # the form itself refuses.
    secretary.goto(scorecard_url)
    expect(secretary.get_by_test_id("manual-progress")).to_have_count(0)
    expect(secretary.locator("#c-C1\\.1").get_by_role("link")).to_have_count(0)
    response = secretary.goto(f"{scorecard_url}/criteria/C1.1")
    assert response.status == 403
    officer.goto(scorecard_url)
    officer.locator("#c-C1\\.1").get_by_role("link", name="修改").click()
    officer.locator("textarea[name=note]").fill("初审核实：已补做摸底，恢复 1 分")
    officer.get_by_text("未进行摸底排查", exact=True).click()
    officer.get_by_role("button", name="保存评分").click()
    expect(officer.locator("#c-C1\\.1 [data-points]")).to_have_text("2")
    screenshot(officer, "rating-review")
