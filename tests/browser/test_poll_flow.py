"""A secretary starts a mass poll that feeds no score; residents answer through its QR code
and a code slip; the results page changes. The street starts the polls that count."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.test_pages import log_in


def answer_all(page, stars=(5, 4, 5, 4)):
    rating_fieldsets = page.locator("fieldset.app-question", has=page.locator(".app-stars"))
    for i, n in enumerate(stars):
        rating_fieldsets.nth(i).locator(f"label[for$='-{n}']").click()
    page.get_by_text("环境卫生").click()
    page.get_by_text("文体活动").click()


def test_mass_poll_by_qr_and_code_slip(phone, live_server, screenshot):
    secretary = phone()
    log_in(secretary, "heping")
    secretary.goto("/h5/polls/new")
    expect(secretary.get_by_test_id("not-counted")).to_contain_text("计分的党员测评和群众测评由街道组织")
    screenshot(secretary, "poll-form-secretary")
    secretary.get_by_role("button", name="创建测评").click()
    expect(secretary.locator(".app-flash")).to_have_text("测评已创建，请打印二维码或测评码发放")
    expect(secretary.get_by_test_id("counted")).to_have_text("不计入星级创评评分")
    expect(secretary.get_by_test_id("respondents")).to_contain_text("有效答卷 0 份")
    results_url = secretary.url
    secretary.get_by_role("button", name="打印测评二维码").click()
    poll_qr = secretary.locator(".poster__url").inner_text()

    resident = phone()
    resident.goto(poll_qr)
    expect(resident.locator(".app-hero__title")).to_have_text("和平社区群众满意度测评")
    resident.get_by_role("button", name="提交").click()
    expect(resident.locator(".app-field-error").first).to_have_text("请回答此题")
    answer_all(resident)
    expect(resident.locator("[data-progress-count]")).to_have_text("5")
    expect(resident.locator(".app-field-error")).to_have_count(0)
    resident.locator("textarea").fill("希望楼道灯早点修好")
    screenshot(resident, "poll-answer")
    resident.get_by_role("button", name="提交").click()
    expect(resident.locator(".weui-msg__title")).to_have_text("提交成功，感谢参与！")
    screenshot(resident, "poll-thanks")
    resident.goto(poll_qr)   # a repeat scan is told before anything is typed
    expect(resident.locator(".weui-msg__title")).to_have_text("您已参加过本次测评")
    expect(resident.locator("fieldset.app-question")).to_have_count(0)

    secretary.goto(results_url)
    expect(secretary.get_by_test_id("respondents")).to_contain_text("有效答卷 1 份")
    expect(secretary.get_by_test_id("question-1")).to_contain_text("满意率 100.0%")
    secretary.get_by_role("button", name="生成测评码纸条").click()
    slips = secretary.locator(".app-slip__code strong")
    expect(slips).to_have_count(20)
    code = slips.first.inner_text()
    screenshot(secretary, "poll-code-slips")

    neighbour = phone()
    poll_id = re.search(r"/polls/(\d+)/", results_url).group(1)
    neighbour.goto(f"/h5/p/{poll_id}?code={code}")   # what the slip's QR opens
    expect(neighbour.locator("#code")).to_have_value(code)
    answer_all(neighbour, (2, 3, 4, 5))
    neighbour.get_by_role("button", name="提交").click()
    expect(neighbour.locator(".weui-msg__title")).to_have_text("提交成功，感谢参与！")

    secretary.goto(results_url)
    expect(secretary.get_by_test_id("respondents")).to_contain_text("有效答卷 2 份")
    expect(secretary.get_by_test_id("respondents")).to_contain_text("一次性测评码 1")
    expect(secretary.get_by_test_id("question-1")).to_contain_text("满意率 50.0%")
    expect(secretary.get_by_test_id("question-6")).to_contain_text("希望楼道灯早点修好")
    screenshot(secretary, "poll-results")


def test_the_street_starts_the_counted_polls(phone, live_server, screenshot):
    officer = phone()
    log_in(officer, "jiedao")
    officer.goto("/h5/polls/new")
    officer.locator("#org_id").select_option(label="和平社区")
    expect(officer.locator("#counted")).to_be_checked()
    screenshot(officer, "poll-form-street")
    officer.get_by_role("button", name="创建测评").click()
    expect(officer.get_by_test_id("counted")).to_have_text(
        "计入星级创评评分（S5 群众满意度、R5 群众对共建工作的满意度、O5 党员群众对运行规范的评价），由街道组织")
    screenshot(officer, "poll-results-counted")
    officer.goto("/h5/polls/new")
    officer.locator("#org_id").select_option(label="和平社区")
    officer.locator("#preset").select_option(label="党员测评（5 题）")
    officer.locator("label[for='mode-device']").click()   # party members prove who they are
    officer.get_by_role("button", name="创建测评").click()
    expect(officer.get_by_test_id("counted")).to_have_text(
        "计入星级创评评分（G5 党员对网格工作的评价、T5 党员对社区班子的评价、O5 党员群众对运行规范的评价），由街道组织")
    officer.goto("/h5/polls/new")
    officer.locator("#org_id").select_option(label="和平社区")
    officer.get_by_role("button", name="创建测评").click()
    expect(officer.locator(".app-flash_warn")).to_contain_text("本次创评已有计分的群众满意度测评「和平社区群众满意度测评」")
    screenshot(officer, "poll-form-second-refused")
