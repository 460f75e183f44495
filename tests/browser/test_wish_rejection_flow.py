"""A grid leader turns a wish down; the street officer agrees it did not belong, so it leaves
the community's wish rates."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.test_pages import log_in


def test_street_officer_upholds_a_rejected_wish(phone, screenshot):
    leader = phone()
    log_in(leader, "heping_g1")
    codes = leader.request.get("/api/v1/qrcodes?purpose=wish&per_page=100").json()["items"]
    code = next(c["code"] for c in codes if c["org_name"] == "第一网格" and c["active"])
    made = phone().request.post("/api/v1/wishes", data={   # a resident, through the grid's code
        "qr": code, "title": "推销保健品", "content": "免费领取保健品，扫码进群", "category": "其他", "consent": True})
    assert made.status == 201, made.text()
    wish_id = made.json()["id"]

    leader.goto(f"/h5/tasks/{wish_id}")
    leader.fill("textarea[name=reason]", "商业推销，不属于微心愿")
    leader.get_by_role("button", name="不予受理").click()
    expect(leader.locator(".app-flash")).to_have_text("已不予受理")
    expect(leader.get_by_role("button", name="确认不属于微心愿")).to_have_count(0)   # not the community's call

    officer = phone()
    log_in(officer, "jiedao")
    officer.goto("/h5/tasks")
    officer.get_by_role("tab", name="未受理待确认").click()
    expect(officer.locator(".weui-cells__tips")).to_contain_text("街道确认确实不属于微心愿的，才不计入")
    screenshot(officer, "tasks-rejections")
    officer.get_by_role("link", name=re.compile("推销保健品")).click()
    expect(officer.locator(".weui-form-preview")).to_contain_text("商业推销，不属于微心愿")
    officer.fill("textarea[name=note]", "群发广告，不是居民的需求")
    screenshot(officer, "task-uphold-rejection")
    officer.once("dialog", lambda dialog: dialog.accept())
    officer.get_by_role("button", name="确认不属于微心愿").click()
    expect(officer.locator(".app-flash")).to_have_text("已确认不属于微心愿，不计入办结率等考核")
    expect(officer.get_by_test_id("rejection-upheld")).to_contain_text("不属于微心愿，不计入考核")
    expect(officer.locator(".app-timeline")).to_contain_text("街道确认不属于微心愿")
    expect(officer.locator(".app-timeline")).to_contain_text("群发广告，不是居民的需求")
    screenshot(officer, "task-rejection-upheld")
    officer.goto("/h5/tasks?tab=rejected")
    expect(officer.get_by_text("没有待确认的未受理心愿")).to_be_visible()
