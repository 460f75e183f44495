"""A volunteer signs up for an activity, checks in by the venue QR, checks out and sees the hours."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from playwright.sync_api import expect

from backend.demo import DEMO_PASSWORD
from tests.browser.test_pages import log_in


def test_volunteer_signs_up_checks_in_and_sees_hours(phone, live_server, db_url, screenshot):
    organiser = phone()
    token = organiser.request.post("/api/v1/auth/login",
                                   data={"username": "heping", "password": DEMO_PASSWORD}).json()["token"]
    communities = organiser.request.get("/api/v1/orgs?kind=community",
                                        headers={"Authorization": f"Bearer {token}"}).json()["items"]
    heping = next(c["id"] for c in communities if c["name"] == "和平社区")
    now = datetime.now(UTC)
    created = organiser.request.post("/api/v1/activities", headers={"Authorization": f"Bearer {token}"}, data={
        "org_id": heping, "title": "敬老院义务理发", "location": "和平社区养老驿站", "skills": "理发",
        "starts_at": (now - timedelta(minutes=60)).isoformat(), "ends_at": (now + timedelta(minutes=60)).isoformat(),
        "signup_closes_at": (now + timedelta(minutes=60)).isoformat(), "capacity": 5})
    assert created.status == 201, created.text()
    activity_id = created.json()["id"]

    volunteer = phone()
    log_in(volunteer, "heping_dy4")
    volunteer.goto("/h5/activities?skill=理发")
    volunteer.get_by_role("link", name=re.compile("敬老院义务理发")).click()
    expect(volunteer.get_by_test_id("places")).to_contain_text("剩 5 个")
    volunteer.get_by_role("button", name="我要报名").click()
    expect(volunteer.locator(".app-flash")).to_have_text("报名成功")
    expect(volunteer.get_by_test_id("my-booking")).to_have_text("已报名")
    screenshot(volunteer, "activity-signed-up")

    log_in(organiser, "heping")
    organiser.goto(f"/h5/activities/{activity_id}")
    organiser.get_by_role("button", name="打印签到二维码").click()
    expect(organiser.locator(".poster__purpose")).to_have_text("扫码签到")
    venue_url = organiser.locator(".poster__url").inner_text()

    volunteer.goto(venue_url)
    expect(volunteer.get_by_test_id("booking-status")).to_have_text("已报名")
    volunteer.get_by_role("button", name="签到").click()
    expect(volunteer.locator(".app-flash")).to_have_text("签到成功，感谢参与！")
    # the volunteer serves for an hour: move the check-in back instead of waiting
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE bookings SET checked_in_at = :at WHERE checked_out_at IS NULL"),
                     {"at": (now - timedelta(minutes=61)).replace(tzinfo=None)})
    engine.dispose()
    volunteer.get_by_role("link", name="签退").click()
    expect(volunteer.get_by_test_id("checkout-credit")).to_contain_text("1.0 小时")
    volunteer.get_by_role("button", name="确认签退").click()
    expect(volunteer.locator(".app-flash")).to_contain_text("签退成功：签退时间")
    screenshot(volunteer, "activity-checked-out")

    volunteer.get_by_role("link", name="我的服务时长和积分").click()
    totals = volunteer.get_by_test_id("totals")
    expect(totals).to_contain_text("1.0")   # an hour of the slot
    expect(totals).to_contain_text("12")    # party members earn 12 points an hour
    expect(volunteer.locator(".weui-cells")).to_contain_text("敬老院义务理发")
    screenshot(volunteer, "my-hours")
