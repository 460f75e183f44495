"""A resident books a micro-service through its QR code, the provider delivers, the resident rates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from playwright.sync_api import expect

from tests.browser.test_pages import heping_api, log_in


def test_resident_books_a_service_and_rates_it(phone, db_url, screenshot):
    organiser = phone()
    auth, heping = heping_api(organiser)
    item = organiser.request.post("/api/v1/services", headers=auth, data={
        "org_id": heping, "name": "老年人上门理发", "category": "理发", "location": "和平社区养老驿站",
        "provider_name": "红马甲志愿服务队", "description": "每周三上午，行动不便的老人可预约上门"}).json()
    start = datetime.now(UTC) + timedelta(days=2)
    slot_ids = []
    for offset in (0, 1):
        slot = organiser.request.post(f"/api/v1/services/{item['id']}/slots", headers=auth, data={
            "starts_at": (start + timedelta(hours=offset)).isoformat(),
            "ends_at": (start + timedelta(hours=offset + 1)).isoformat(), "capacity": 3})
        assert slot.status == 201, slot.text()
        slot_ids.append(slot.json()["id"])
    slot_id = slot_ids[0]   # the resident picks the first time

    log_in(organiser, "heping")
    organiser.goto(f"/h5/services/{item['id']}")
    organiser.get_by_role("button", name="打印预约二维码").click()
    expect(organiser.locator(".poster__purpose")).to_have_text("扫码预约微服务")
    url = organiser.locator(".poster__url").inner_text()

    resident = phone()
    resident.goto(url)
    expect(resident.locator("h1")).to_have_text("老年人上门理发")
    resident.get_by_role("button", name="预约").click()
    expect(resident.get_by_role("alert").first).to_have_text("请选择时间")
    resident.locator(".weui-cells_radio label").first.click()
    resident.fill("#contact_name", "吴阿姨")
    resident.fill("#contact_phone", "13812345678")
    resident.locator("#consent").check()
    screenshot(resident, "service-booking")
    resident.get_by_role("button", name="预约").click()
    expect(resident.locator(".weui-msg__title")).to_have_text("预约成功")
    receipt_url = resident.url.split("?")[0]

    organiser.goto(f"/h5/services/{item['id']}")
    row = organiser.locator(".weui-cell", has_text="吴阿姨")
    expect(row).to_contain_text("138****5678")
    expect(row).to_contain_text("开始后可标记")   # delivered only from the booked time
    expect(row.get_by_role("button", name="已服务")).to_have_count(0)
    screenshot(organiser, "service-bookings-before-time")
    # the booked time comes: move it back instead of waiting two days
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE slots SET starts_at = :at WHERE id = :id"),
                     {"at": (datetime.now(UTC) - timedelta(minutes=5)).replace(tzinfo=None), "id": slot_id})
    engine.dispose()
    organiser.reload()
    row.get_by_role("button", name="已服务").click()
    expect(organiser.locator(".app-flash")).to_have_text("已标记为已服务")

    resident.goto(receipt_url)
    expect(resident.locator(".app-status")).to_have_text("已服务")
    resident.locator("label[for=rating-4]").click()
    resident.fill("textarea[name=comment]", "师傅很耐心")
    resident.get_by_role("button", name="提交评价").click()
    expect(resident.locator(".app-flash")).to_have_text("感谢您的评价！")
    expect(resident.locator(".app-stars-static")).to_have_text("★★★★☆")
    screenshot(resident, "service-rated")
    resident.goto("/h5/w/mine")
    resident.locator("[data-my-booking-receipts]").get_by_text("老年人上门理发").click()   # listed apart
    expect(resident.locator(".app-stars-static")).to_have_text("★★★★☆")
