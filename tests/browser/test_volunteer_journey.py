"""A volunteer's day on the demo data: the venue code signed out leads to 志愿者登录; a page not
open yet says when it opens and offers 报名; 取消报名 is not offered inside the cut-off; 签退
is refused before the start and then asks first with the time; the organiser undoes a mistaken
check-out; 我的时长 shows one row per activity. Care mode included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from playwright.sync_api import expect

from backend.demo import DEMO_PASSWORD
from tests.browser.test_pages import heping_api, log_in
from tests.browser.test_resident_polls import care_mode


def test_a_volunteer_day_at_the_venue(phone, db_url, screenshot):
    organiser = phone()
    auth, heping = heping_api(organiser)
    now = datetime.now(UTC)
    activity = organiser.request.post("/api/v1/activities", headers=auth, data={
        "org_id": heping, "title": "社区义务理发", "location": "和平社区养老驿站",
        "starts_at": (now + timedelta(minutes=20)).isoformat(), "ends_at": (now + timedelta(hours=3)).isoformat(),
        "capacity": 5}).json()
    later = organiser.request.post("/api/v1/activities", headers=auth, data={
        "org_id": heping, "title": "周末垃圾分类宣传", "location": "和平广场",
        "starts_at": (now + timedelta(hours=6)).isoformat(), "ends_at": (now + timedelta(hours=8)).isoformat(),
        "capacity": 5}).json()
    venue = {}
    for a in (activity, later):
        code = organiser.request.post("/api/v1/qrcodes", headers=auth,
                                      data={"purpose": "checkin", "target_id": a["id"]}).json()["code"]
        venue[a["id"]] = f"/q/{code}"

    # signed out, the venue code leads to the volunteers' login, then back to the venue
    volunteer = phone()
    volunteer.goto(venue[later["id"]])
    expect(volunteer.locator(".weui-form__title")).to_have_text("志愿者登录")
    expect(volunteer.get_by_text("工作人员登录")).to_have_count(0)
    screenshot(volunteer, "volunteer-login")
    volunteer.fill("#username", "heping_dy4")
    volunteer.fill("#password", DEMO_PASSWORD)
    volunteer.click("button[type=submit]")
    expect(volunteer.get_by_test_id("checkin-state")).to_contain_text("您还没有报名本活动")
    screenshot(volunteer, "venue-not-signed-up")
    volunteer.get_by_role("button", name="报名").click()
    expect(volunteer.locator(".app-flash")).to_have_text("报名成功")
    expect(volunteer.get_by_test_id("checkin-state")).to_contain_text("开始（活动开始前 30 分钟），到时请再扫码")
    expect(volunteer.get_by_role("button", name="签到")).to_have_count(0)
    screenshot(volunteer, "venue-not-open")

    # the first activity starts in 20 minutes: inside the cut-off, 取消报名 is not offered
    volunteer.goto(f"/h5/activities/{activity['id']}")
    volunteer.get_by_role("button", name="我要报名").click()
    expect(volunteer.get_by_test_id("cancel-closed")).to_contain_text("前可以取消")
    expect(volunteer.get_by_role("button", name="取消报名")).to_have_count(0)
    screenshot(volunteer, "activity-cancel-closed")

    volunteer.goto(venue[activity["id"]])
    volunteer.get_by_role("button", name="签到").click()
    expect(volunteer.locator(".app-flash")).to_have_text("签到成功，感谢参与！")
    expect(volunteer.get_by_test_id("checkout-later")).to_contain_text("开始后才能签退")
    expect(volunteer.get_by_role("button", name="签到")).to_have_count(0)   # no second tap to check out
    screenshot(volunteer, "venue-checked-in-before-start")

    # an hour later: the activity runs
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE slots SET starts_at = :at WHERE id = (SELECT slot_id FROM activities "
                             "WHERE id = :id)"), {"at": (now - timedelta(minutes=70)).replace(tzinfo=None),
                                                  "id": activity["id"]})
        conn.execute(sa.text("UPDATE bookings SET checked_in_at = :at WHERE checked_in_at IS NOT NULL "
                             "AND checked_out_at IS NULL"), {"at": (now - timedelta(minutes=61)).replace(tzinfo=None)})
    engine.dispose()
    volunteer.reload()
    volunteer.get_by_role("link", name="签退").click()
    expect(volunteer.get_by_test_id("checkout-at")).to_contain_text("（现在）")
    expect(volunteer.get_by_test_id("checkout-credit")).to_contain_text("1.0 小时，12 积分")
    screenshot(volunteer, "checkout-confirm")
    care_mode(volunteer)
    screenshot(volunteer, "checkout-confirm-care")
    volunteer.get_by_role("button", name="确认签退").click()
    expect(volunteer.locator(".app-flash")).to_contain_text("签退成功：签退时间")

    # the organiser undoes it (a mistaken tap), and the volunteer checks out again
    log_in(organiser, "heping")
    organiser.goto(f"/h5/activities/{activity['id']}")
    row = organiser.get_by_test_id("attendance").locator(".weui-cell", has_text="签退")
    organiser.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="撤销签退").click()
    expect(organiser.locator(".app-flash")).to_contain_text("已撤销签退")
    expect(organiser.get_by_test_id("attendance")).to_contain_text("未签退")
    screenshot(organiser, "activity-attendance-undone")

    volunteer.goto(venue[activity["id"]])
    volunteer.get_by_role("link", name="签退").click()
    volunteer.get_by_role("button", name="确认签退").click()
    volunteer.goto("/h5/me/hours")
    row = volunteer.get_by_test_id("hours-rows").locator(".weui-cell", has_text="社区义务理发")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("1.0 小时")
    expect(row).to_contain_text("12 积分")
    screenshot(volunteer, "my-hours-by-activity-care")
