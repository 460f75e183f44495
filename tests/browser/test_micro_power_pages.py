"""Teams, organiser forms, double reporting, the calendar subscription and the leaderboard,
driven in the browser as the people who use them."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import requests
from playwright.sync_api import expect

from tests.browser.test_pages import log_in

ZONE = ZoneInfo("Asia/Shanghai")


def test_team_leader_runs_a_team_and_an_activity(phone, live_server, screenshot):
    secretary = phone()
    log_in(secretary, "heping")
    secretary.goto("/h5/teams/new")
    secretary.fill("#name", "银发助老服务队")
    secretary.select_option("#grid_id", label="和平社区 · 第二网格")
    leader_option = secretary.locator("#leader_id option", has_text="王秀英")
    secretary.select_option("#leader_id", leader_option.get_attribute("value"))
    secretary.fill("#skills", "助老,陪诊")
    secretary.get_by_role("button", name="创建").click()
    expect(secretary.locator(".app-hero__title")).to_have_text("银发助老服务队")

    volunteer = phone()
    log_in(volunteer, "heping_dy2")
    volunteer.goto("/h5/teams")
    volunteer.get_by_role("link", name=re.compile("银发助老服务队")).click()
    volunteer.fill("#skills", "会量血压")
    volunteer.get_by_role("button", name="加入服务队").click()
    expect(volunteer.locator(".app-flash")).to_have_text("已加入，欢迎！")
    members = volunteer.get_by_test_id("members")
    expect(members).to_contain_text("陈淑芬")   # herself in full
    expect(members).to_contain_text("王**")     # the others masked
    screenshot(volunteer, "team-page")

    leader = phone()
    log_in(leader, "heping_g2")
    leader.goto("/h5/teams")
    leader.get_by_role("link", name=re.compile("银发助老服务队")).click()
    expect(leader.get_by_test_id("members")).to_contain_text("陈淑芬")
    leader.get_by_role("link", name="以本队名义发起活动").click()
    day = (datetime.now(ZONE) + timedelta(days=4)).date().isoformat()
    leader.fill("#title", "陪老人看病")
    leader.fill("#location", "和平社区东门集合")
    leader.fill("#day", day)
    leader.fill("#start", "09:00")
    leader.fill("#end", "08:00")
    leader.fill("#capacity", "3")
    leader.select_option("#partner_unit_id", label="区人民医院")
    leader.get_by_role("button", name="发布活动").click()
    expect(leader.locator(".app-field-error")).to_have_text("结束时间须晚于开始时间")
    expect(leader.locator("#title")).to_have_value("陪老人看病")   # nothing typed is lost
    screenshot(leader, "activity-form-error")
    leader.fill("#end", "11:00")
    leader.get_by_role("button", name="发布活动").click()
    expect(leader.locator(".app-flash")).to_have_text("活动已发布，志愿者现在可以报名了")
    expect(leader.locator(".weui-form-preview")).to_contain_text("银发助老服务队")
    expect(leader.locator(".weui-form-preview")).to_contain_text("区人民医院")
    expect(leader.get_by_test_id("places")).to_contain_text("剩 3 个")

    volunteer.goto("/h5/activities")
    expect(volunteer.get_by_role("link", name=re.compile("陪老人看病"))).to_be_visible()
    screenshot(volunteer, "activities-list")
    volunteer.fill("input[name=date]", day)
    volunteer.get_by_role("button", name="筛选").click()
    expect(volunteer.locator(".weui-cells").first.locator("a")).to_have_count(1)
    volunteer.get_by_role("link", name=re.compile("陪老人看病")).click()
    volunteer.get_by_role("button", name="我要报名").click()
    expect(volunteer.get_by_test_id("my-booking")).to_have_text("已报名")
    volunteer.goto("/h5/me/bookings")
    volunteer.get_by_role("button", name="开启日历订阅").click()
    feed_url = volunteer.get_by_test_id("feed-url").input_value()
    screenshot(volunteer, "calendar-subscription")
    feed = requests.get(feed_url, timeout=10)
    assert feed.status_code == 200 and feed.headers["Content-Type"].startswith("text/calendar")
    summaries = [str(e["SUMMARY"]) for e in icalendar.Calendar.from_ical(feed.content).walk("VEVENT")]
    assert summaries == ["楼道清理与消防通道整治", "陪老人看病"]   # last week's attended one too
    volunteer.reload()   # the address is shown once
    expect(volunteer.get_by_test_id("feed-url")).to_have_count(0)
    expect(volunteer.locator("#calendar + .weui-cells")).to_contain_text("日历上次同步")


def test_double_report_confirmed_by_the_community(phone, live_server, screenshot):
    member = phone()
    log_in(member, "dw_dy1")
    member.goto("/h5/me/double-report")
    expect(member.get_by_test_id("my-reports")).to_contain_text("待社区确认")
    screenshot(member, "double-report-pending")

    secretary = phone()
    log_in(secretary, "heping")
    secretary.get_by_role("link", name=re.compile("双报到审核")).click()
    row = secretary.get_by_test_id("reports").locator(".weui-cell", has_text="钱学军")
    expect(row).to_contain_text("义诊、健康讲座")
    screenshot(secretary, "double-reports-review")
    row.get_by_role("button", name="确认").click()
    expect(secretary.locator(".app-flash")).to_have_text("已确认报到，该党员已列入本社区志愿者")

    member.reload()
    expect(member.get_by_test_id("my-reports")).to_contain_text("已确认")
    expect(member.locator(".weui-cells__tips")).to_contain_text("已报到，无需重复提交")
    # Now a volunteer of 和平社区: its activities and teams are open to them.
    member.goto("/h5/activities")
    expect(member.get_by_role("link", name=re.compile("社区健康义诊"))).to_be_visible()


def test_organiser_adds_a_service_and_its_times(phone, live_server, screenshot):
    secretary = phone()
    log_in(secretary, "heping")
    secretary.goto("/h5/services/new")
    secretary.get_by_role("button", name="上架服务").click()
    expect(secretary.locator(".app-field-error").first).to_have_text("此项必填")
    secretary.fill("#name", "家电上门维修")
    secretary.fill("#category", "家电维修")
    secretary.fill("#location", "居民家中")
    secretary.select_option("#provider_team_id", label="红马甲志愿服务队")
    secretary.get_by_role("button", name="上架服务").click()
    expect(secretary.locator(".app-hero__desc").last).to_contain_text("红马甲志愿服务队提供")
    day = (datetime.now(ZONE) + timedelta(days=5)).date().isoformat()
    secretary.fill("#day", day)
    secretary.fill("#start", "14:00")
    secretary.fill("#end", "16:00")
    secretary.fill("#capacity", "4")
    secretary.get_by_role("button", name="添加时间").click()
    expect(secretary.locator(".app-flash")).to_have_text("已添加预约时间")
    expect(secretary.locator(".weui-cells_radio")).to_contain_text("14:00 – 16:00")
    expect(secretary.locator(".weui-cells_radio")).to_contain_text("剩 4 个名额")
    screenshot(secretary, "service-with-times")
    secretary.goto("/h5/services")
    expect(secretary.locator(".weui-cells")).to_contain_text("家电上门维修")


def test_leaderboard_page(phone, live_server, screenshot):
    volunteer = phone()
    log_in(volunteer, "heping_dy1")
    volunteer.goto("/h5/")
    volunteer.get_by_role("link", name=re.compile("志愿者排行榜")).click()
    expect(volunteer.locator(".app-hero__title")).to_have_text("志愿者排行榜")
    board = volunteer.get_by_test_id("leaderboard")
    expect(board.locator(".weui-cell").first).to_contain_text("刘志刚")   # 5 hours: first
    expect(board).to_contain_text("陈**")                                 # others masked
    screenshot(volunteer, "leaderboard")
    volunteer.get_by_role("tab", name="办结心愿").click()
    expect(volunteer.locator(".weui-navbar .weui-bar__item_on")).to_have_text("办结心愿")
