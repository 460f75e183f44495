"""A grid leader's task board past one page: 30 wishes, then one clear 下一页 button; the
next page has its way back. Seen as it is and in 长辈模式."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_live_dashboard import api
from tests.browser.test_pages import log_in
from tests.browser.test_staff_journey import WISH, care
from tests.browser.test_wish_flow import wish_code_url
from tests.live import demo_server


@pytest.fixture
def live_server(db_url):
    """The demo street, taking more than a page of wishes from this machine in an hour."""
    with demo_server(db_url, WISH_CLIENT_HOURLY_LIMIT=100) as (base_url, _):
        yield base_url


def test_task_board_pages(phone, live_server, screenshot):
    leader = phone()
    log_in(leader, "heping_g1")
    qr = wish_code_url(leader, "第一网格").rsplit("/", 1)[-1]
    for n in range(35):
        api(live_server, "POST", "/api/v1/wishes", qr=qr, title=f"楼道灯坏了{n}", contact_name="李阿姨",
            contact_phone="13912345678", **WISH)

    leader.goto("/h5/tasks")
    rows = leader.locator(".app-task-list > a")
    expect(rows).to_have_count(30)
    pager = leader.get_by_test_id("task-pager")
    expect(pager).to_contain_text("第 1 页")
    expect(pager.get_by_role("link")).to_have_count(1)
    screenshot(leader, "task-board-page-1")

    pager.get_by_role("link", name="下一页").click()
    expect(leader).to_have_url(re.compile(r"/h5/tasks\?page=2$"))
    expect(leader.get_by_test_id("task-pager")).to_contain_text("第 2 页")
    assert leader.locator(".app-task-list > a").count() >= 5
    care(leader)
    screenshot(leader, "task-board-page-2-care")
    care(leader, on=False)
    leader.get_by_test_id("task-pager").get_by_role("link", name="上一页").click()
    expect(leader).to_have_url(re.compile(r"/h5/tasks$"))
    expect(leader.locator(".app-task-list > a")).to_have_count(30)
