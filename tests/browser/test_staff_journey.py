"""Staff on a phone, on the demo data: the grid leader's home counts lead to the lists and a
task offers the resident's number as one big 拨打 button; the secretary's live board shows a
burst of answers as one row and says in words when the line is cut; a poll criterion
explains its score on its own page. Each page is also seen in 长辈模式."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from playwright.sync_api import expect

from backend.polls.presets import PRESETS
from tests.browser.test_live_dashboard import Relay, api, bearer, first_feed_row
from tests.browser.test_pages import font_size, log_in
from tests.browser.test_wish_flow import wish_code_url

WISH = {"content": "3号楼2单元楼道灯不亮，晚上上楼看不见", "category": "环境改善", "urgency": 2, "consent": True}


def care(page, on: bool = True) -> None:
    """长辈模式 on this phone (as the switch on 我的 leaves it), the page reloaded."""
    page.evaluate("on => on ? localStorage.setItem('sanwei.care', '1') : localStorage.removeItem('sanwei.care')", on)
    page.reload()
    if on:
        expect(page.locator("body")).to_have_attribute("data-weui-mode", "care")


def test_grid_leader_home_counts_lead_to_a_task_with_a_call_button(phone, live_server, screenshot):
    leader = phone()
    log_in(leader, "heping_g1")
    qr = wish_code_url(leader, "第一网格").rsplit("/", 1)[-1]
    made = [api(live_server, "POST", "/api/v1/wishes", qr=qr, title=title, contact_name="李阿姨",
                contact_phone="13912345678", **WISH) for title in ("楼道灯坏了", "门禁坏了", "想学用智能手机")]
    api(live_server, "POST", f"/api/v1/wishes/{made[0]['id']}/claim", bearer(live_server, "heping_g1"))

    leader.goto("/h5/")
    tiles = leader.get_by_test_id("tiles")
    expect(tiles.locator("[data-tile=waiting]")).to_have_text(re.compile(r"2\s*待认领"))
    expect(tiles.locator("[data-tile=mine]")).to_have_text(re.compile(r"1\s*我认领的"))
    unread = leader.locator("[data-testid=unread]").inner_text() if leader.locator("[data-testid=unread]").count() \
        else "0"
    expect(tiles.locator("[data-tile=messages]")).to_have_text(re.compile(rf"{unread}\s*消息"))
    screenshot(leader, "staff-home-grid-leader")
    care(leader)
    assert font_size(tiles.locator("[data-tile=waiting] .app-tile__label")) >= 22
    screenshot(leader, "staff-home-grid-leader-care")
    care(leader, on=False)

    leader.get_by_test_id("tiles").locator("[data-tile=mine]").click()
    expect(leader).to_have_url(re.compile(r"/h5/tasks\?tab=mine$"))
    leader.get_by_role("link", name=re.compile("楼道灯坏了")).click()
    call = leader.get_by_test_id("call")
    expect(call).to_have_attribute("href", "tel:13912345678")
    expect(call).to_contain_text("拨打 李阿姨")
    assert call.bounding_box()["height"] >= 48 and call.bounding_box()["width"] >= 300   # a thumb's target
    # The leader's own name in full on the timeline, not 张**.
    expect(leader.locator(".app-timeline")).to_contain_text("网格长 张建华")
    expect(leader.locator(".app-timeline")).not_to_contain_text("张**")
    screenshot(leader, "staff-task-call")
    care(leader)
    screenshot(leader, "staff-task-call-care")
    care(leader, on=False)

    # A party member who does not hold the wish sees a masked number and nothing to dial.
    member = phone()
    log_in(member, "heping_dy1")
    member.goto(f"/h5/tasks/{made[1]['id']}")
    expect(member.locator(".weui-form-preview")).to_contain_text("139****5678")
    expect(member.get_by_test_id("call")).to_have_count(0)


def test_live_board_one_row_per_burst_and_a_cut_line_said_in_words(phone, live_server, screenshot):
    secretary = phone()
    log_in(secretary, "heping")
    secretary.goto("/h5/rating/")
    secretary.get_by_role("link", name=re.compile("和平社区")).click()
    secretary.get_by_role("link", name=re.compile("实时看板")).click()
    relay = Relay(live_server)
    secretary.goto(relay.url + urlsplit(secretary.url).path)
    status = secretary.locator("[data-live-status]")
    expect(status).to_have_text("实时更新")
    expect(status).to_have_attribute("data-state", "live")
    assert font_size(status) >= 17

    jiedao = bearer(live_server, "jiedao")
    poll = api(live_server, "POST", "/api/v1/polls", jiedao, **PRESETS["mass"], org_id=2, modes=["code"],
               opens_at=(datetime.now(UTC) - timedelta(hours=1)).isoformat(),
               closes_at=(datetime.now(UTC) + timedelta(days=7)).isoformat())
    codes = [c["code"] for c in api(live_server, "POST", f"/api/v1/polls/{poll['id']}/codes", jiedao, count=5)]
    rated = [q["id"] for q in poll["questions"] if q["kind"] == "rating5"]
    for code in codes:
        api(live_server, "POST", f"/api/v1/polls/{poll['id']}/responses", code=code,
            answers=[{"question_id": q, "value": 5} for q in rated])
    # Five answers, each moving three criteria: one row, not fifteen.
    expect(first_feed_row(secretary)).to_contain_text("第 1–5 份答卷（5 份）")
    expect(first_feed_row(secretary)).to_contain_text("样本不足，暂计 0 分")
    expect(first_feed_row(secretary)).to_have_attribute("data-events", "15")
    expect(secretary.locator("[data-feed] .weui-cell", has_text="份答卷")).to_have_count(1)
    expect(secretary.locator("[data-poll=S5]")).to_contain_text("满意率 100.0%（5 份，样本不足 30 份）")
    screenshot(secretary, "staff-live-burst")

    relay.cut()
    expect(status).to_have_text("连接中断，正在重连…")
    expect(status).to_have_attribute("data-state", "broken")
    red = status.evaluate("el => getComputedStyle(el).color")
    assert red != secretary.locator("main").evaluate("el => getComputedStyle(el).color")
    screenshot(secretary, "staff-live-broken")
    relay.close()


def test_live_board_state_in_care_mode(phone, live_server, screenshot):
    secretary = phone()
    log_in(secretary, "heping")
    secretary.evaluate("localStorage.setItem('sanwei.care', '1')")
    secretary.goto("/h5/rating/")
    secretary.get_by_role("link", name=re.compile("和平社区")).click()
    secretary.get_by_role("link", name=re.compile("实时看板")).click()
    status = secretary.locator("[data-live-status]")
    expect(status).to_have_text("实时更新")
    assert font_size(status) >= 21
    screenshot(secretary, "staff-live-care")


def test_poll_criterion_detail_page(phone, live_server, screenshot):
    jiedao = bearer(live_server, "jiedao")
    poll = api(live_server, "POST", "/api/v1/polls", jiedao, **PRESETS["mass"], org_id=2, modes=["code"],
               opens_at=(datetime.now(UTC) - timedelta(hours=1)).isoformat(),
               closes_at=(datetime.now(UTC) + timedelta(days=7)).isoformat())
    codes = [c["code"] for c in api(live_server, "POST", f"/api/v1/polls/{poll['id']}/codes", jiedao, count=3)]
    rated = [q["id"] for q in poll["questions"] if q["kind"] == "rating5"]
    for code, value in zip(codes, (5, 4, 2), strict=True):
        api(live_server, "POST", f"/api/v1/polls/{poll['id']}/responses", code=code,
            answers=[{"question_id": q, "value": value} for q in rated])

    secretary = phone()
    log_in(secretary, "heping")
    secretary.goto("/h5/rating/")
    secretary.get_by_role("link", name=re.compile("和平社区")).click()
    secretary.locator("#c-S5 [data-detail]").click()
    expect(secretary).to_have_url(re.compile(r"/criteria/S5$"))
    expect(secretary.locator("h1")).to_have_text("群众满意度")
    expect(secretary.get_by_test_id("rate")).to_contain_text("66.7%")
    expect(secretary.get_by_test_id("samples")).to_contain_text("还差 27 份")
    expect(secretary.get_by_test_id("formula")).to_contain_text("得分 = 5 × (满意率 − 60.0%) ÷ (95.0% − 60.0%)")
    expect(secretary.get_by_test_id("questions")).to_contain_text("3 份")
    screenshot(secretary, "staff-criterion-poll")
    care(secretary)
    screenshot(secretary, "staff-criterion-poll-care")
