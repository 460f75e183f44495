"""扫一扫 on the public home page inside WeChat: the page signs the JS-SDK, and the button opens
WeChat's scanner (the fake's stand-in), which opens the scanned wish form itself."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_pages import log_in
from tests.browser.test_wish_flow import wish_code_url
from tests.live import demo_server


@pytest.fixture
def served(db_url, wechat):
    base_url, fake = wechat
    with demo_server(db_url, **fake.config(base_url)) as (app_url, app):
        yield app_url, app


@pytest.fixture
def live_server(served):
    return served[0]


def test_scan_inside_wechat_opens_the_scanned_page(phone, wechat, screenshot):
    _, fake = wechat
    leader = phone()
    log_in(leader, "heping_g1")
    fake.scan_result = wish_code_url(leader, "第一网格")

    resident = phone()
    resident.goto("/h5/")
    expect(resident.locator("[data-scan-hint]")).to_be_hidden()       # WeChat scans; no camera hint
    expect(resident.locator("[data-scan][data-ready]")).to_have_count(1)   # WeChat accepted the signature
    [(config, signed_url, good)] = fake.configs
    assert good and signed_url == resident.url.split("#")[0] and "scanQRCode" in config["jsApiList"]
    screenshot(resident, "resident-home-wechat")
    resident.get_by_role("button", name="扫一扫 社区二维码").click()
    expect(resident.locator(".weui-form__title")).to_have_text("写下您的微心愿")
    assert fake.scans == [{"needResult": 0, "scanType": ["qrCode"]}]
