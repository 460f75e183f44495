"""名册导入 on a phone: the street officer downloads the template through the page, fills it in,
checks it (the errors in a table, the file still chosen), fixes it, checks again, imports, and
prints the WeChat binding codes of the grid staff it brought in."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from backend.demo import load_demo
from backend.extensions import db
from tests.browser.test_pages import log_in
from tests.live import serve
from tests.test_rosters import id_number

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def live_server(db_url):
    """The demo, served with the mini-program configured: binding codes can be issued (and, the
    web sign-in being off, pages still ask for a password rather than going to WeChat)."""
    with serve(db_url, WECHAT_MP_APP_ID="wx-roster-test", WECHAT_MP_SECRET="not-used") as (base_url, app):
        with app.app_context():
            load_demo()
            db.session.commit()
            db.session.remove()
        yield base_url


def _filled(template: bytes, party: list[list]) -> bytes:
    book = load_workbook(io.BytesIO(template))
    book["网格"].append(["和平社区", "第四网格", "10-12栋"])
    book["网格员"].append(["钱建新", "13800001041", None, "和平社区", "第四网格", "网格长"])
    for row in party:
        book["党员"].append(row)
    book["驻区单位"].append(["区图书馆", "幸福社区"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_officer_checks_fixes_and_imports_a_roster(page, screenshot):
    log_in(page, "jiedao")
    page.get_by_role("link", name=re.compile("名册导入")).click()
    expect(page.locator("h1")).to_have_text("名册导入")
    with page.expect_download() as download:
        page.get_by_role("link", name="下载名册模板").click()
    template = Path(download.value.path()).read_bytes()
    assert download.value.suggested_filename == "名册导入模板.xlsx"

    bad = _filled(template, [["林小红", "1380000105", None, "在职", None, "和平社区"],
                             ["郭大勇", "13800001052", id_number(8, valid=False), "退休", None, "和平社区"],
                             ["曹玉梅", "13800003022", None, "其他", None, "星光社区"]])
    page.select_option("#org_id", label="东湖街道（全街道）")
    page.set_input_files("input[name=file]", files=[{"name": "和平社区名册.xlsx", "mimeType": XLSX, "buffer": bad}])
    expect(page.locator("[data-file-name]")).to_have_text("和平社区名册.xlsx")
    expect(page.get_by_role("button", name="导入")).to_be_disabled()
    page.get_by_role("button", name="检查").click()
    report = page.locator("#roster-report")
    expect(report).to_contain_text("发现 4 处错误，改正后再检查")
    rows = report.locator("[data-errors] tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.nth(0)).to_contain_text("请填写 11 位手机号")
    expect(rows.nth(1)).to_contain_text("在职党员请填写工作单位")
    expect(rows.nth(2)).to_contain_text("身份证号校验位不对")
    expect(rows.nth(3)).to_contain_text("找不到社区“星光社区”")
    expect(page.get_by_role("button", name="导入")).to_be_disabled()
    screenshot(page, "roster-check-errors")

    good = _filled(template, [["林小红", "13800001051", None, "在职", "区图书馆", "和平社区"],
                              ["郭大勇", "13800001052", id_number(8), "退休", None, "和平社区"],
                              ["曹玉梅", "13800003022", None, "其他", None, "光明社区"]])
    page.set_input_files("input[name=file]", files=[{"name": "和平社区名册.xlsx", "mimeType": XLSX, "buffer": good}])
    expect(report).to_be_empty()
    page.get_by_role("button", name="检查").click()
    expect(page.locator("#roster-report")).to_contain_text("检查通过")
    # 曹玉梅 is a demo party member of 光明社区 already (same phone): found, nothing to change.
    expect(page.locator("#roster-report")).to_contain_text("新增人员 3 人、更新 0 人")
    expect(page.get_by_role("button", name="导入")).to_be_enabled()
    screenshot(page, "roster-check-ok")

    page.get_by_role("button", name="导入").click()
    expect(page.locator(".weui-msg__title")).to_have_text("名册已导入东湖街道")
    screenshot(page, "roster-done")
    page.get_by_role("button", name="打印网格员微信绑定码（1 人）").click()
    slips = page.get_by_test_id("binding-slips").locator(".app-slip")
    expect(slips).to_have_count(1)
    expect(slips.first).to_contain_text("钱建新")
    expect(slips.first).to_contain_text("第四网格网格长")
    screenshot(page, "roster-binding-codes")
    page.goto("/h5/orgs")
    page.get_by_role("link", name=re.compile("和平社区")).first.click()
    page.get_by_role("link", name=re.compile("第四网格")).click()
    expect(page.locator("main")).to_contain_text("钱建新")
