"""The micro-wish flow on two phones: a resident scans and submits, a grid leader claims and
fulfils, the resident confirms with stars."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.test_pages import log_in


def wish_code_url(page, grid_name: str) -> str:
    """The printed URL of the grid's wish QR code, as the staff API lists it."""
    codes = page.request.get("/api/v1/qrcodes?purpose=wish&per_page=100").json()["items"]
    return next(c["url"] for c in codes if c["org_name"] == grid_name and c["active"])


def test_resident_submits_leader_fulfils_resident_confirms(phone, screenshot):
    leader = phone()
    log_in(leader, "heping_g1")
    url = wish_code_url(leader, "第一网格")

    resident = phone()
    resident.goto(url)
    expect(resident.locator(".weui-form__title")).to_have_text("写下您的微心愿")
    expect(resident.locator(".weui-form__desc")).to_contain_text("和平社区 · 第一网格")
    resident.fill("#title", "楼道灯坏了")
    resident.fill("#content", "3号楼2单元三楼楼道灯不亮，晚上老人上下楼不安全")
    resident.select_option("#category", "环境改善")
    resident.get_by_text("较急").click()
    resident.fill("#contact_name", "王阿姨")
    resident.fill("#contact_phone", "13912345678")
    screenshot(resident, "wish-form")
    resident.get_by_role("button", name="提交心愿").click()
    expect(resident.get_by_role("alert").first).to_contain_text("请阅读并同意隐私说明")
    expect(resident.locator("#title")).to_have_value("楼道灯坏了")  # nothing typed is lost
    resident.locator("#consent").check()
    resident.get_by_role("button", name="提交心愿").click()
    expect(resident.locator(".weui-msg__title")).to_have_text("心愿已提交")
    expect(resident.locator(".app-status")).to_have_text("待认领")
    screenshot(resident, "wish-receipt-new")
    receipt_url = resident.url.split("?")[0]

    leader.goto("/h5/tasks")
    card = leader.get_by_role("link", name=re.compile("楼道灯坏了"))
    expect(card).to_contain_text("较急")
    expect(card).to_contain_text("剩")
    screenshot(leader, "tasks-board")
    card.click()
    expect(leader.locator(".weui-form-preview")).to_contain_text("13912345678")  # grid leader: full
    leader.get_by_role("button", name="我来认领").click()
    expect(leader.locator(".app-flash")).to_have_text("认领成功，请尽快联系居民")
    leader.fill("textarea[name=note]", "已联系物业更换灯泡，晚上复查亮了")
    leader.get_by_role("button", name="标记办结").click()
    expect(leader.locator(".app-flash")).to_have_text("已标记办结，等待居民确认")
    screenshot(leader, "task-fulfilled")

    resident.goto(receipt_url)
    expect(resident.locator(".app-status")).to_have_text("待确认")
    expect(resident.locator(".weui-form-preview")).to_contain_text("网格长 张**")
    expect(resident.locator(".weui-form-preview")).not_to_contain_text("张建华")
    resident.locator("label[for=rating-5]").click()
    resident.fill("textarea[name=comment]", "灯修好了，谢谢网格长！")
    screenshot(resident, "wish-confirm")
    resident.get_by_role("button", name="确认完成并评价").click()
    expect(resident.locator(".app-flash")).to_have_text("感谢您的评价！")
    expect(resident.locator(".app-status")).to_have_text("已完成")
    expect(resident.locator(".app-stars-static")).to_have_text("★★★★★")
    screenshot(resident, "wish-confirmed")

    resident.goto("/h5/w/mine")
    expect(resident.locator("[data-my-receipts]")).to_contain_text("楼道灯坏了")


def test_second_claimant_sees_already_claimed(phone):
    first, second = phone(), phone()
    log_in(first, "heping_dy1")
    log_in(second, "heping_dy2")
    leader = phone()
    log_in(leader, "heping_g1")
    resident = phone()
    resident.goto(wish_code_url(leader, "第一网格"))
    resident.fill("#title", "想请人陪老人复诊")
    resident.fill("#content", "周三上午去区医院复诊，需要有人陪同")
    resident.select_option("#category", "助老助残")
    resident.locator("#consent").check()
    resident.get_by_role("button", name="提交心愿").click()
    expect(resident.locator(".weui-msg__title")).to_have_text("心愿已提交")

    for p in (first, second):
        p.goto("/h5/tasks")
        p.get_by_role("link", name=re.compile("想请人陪老人复诊")).click()
    first.get_by_role("button", name="我来认领").click()
    expect(first.locator(".app-flash")).to_have_text("认领成功，请尽快联系居民")
    second.get_by_role("button", name="我来认领").click()
    expect(second.locator(".app-flash")).to_have_text("已被他人认领")
