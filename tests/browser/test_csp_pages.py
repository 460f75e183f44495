"""Pages under their Content-Security-Policy in Chromium: nothing on them is refused, and what
the inline handlers did (ask before a form is sent, print, select) still works from app.js."""

from __future__ import annotations

import os
import re

import pytest

from tests.browser.test_pages import log_in

try:
    from playwright.sync_api import expect
except ImportError:
    if os.environ.get("REQUIRE_BROWSER", "") not in ("", "0", "false"):
        raise
    pytest.skip("the playwright package is not installed", allow_module_level=True)

#: Collects every CSP violation a page reports, before any of its own scripts run.
WATCH = """window.__violations = [];
document.addEventListener('securitypolicyviolation',
    e => window.__violations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline')));"""


def violations(page) -> list[str]:
    return page.evaluate("window.__violations")


def test_pages_run_under_their_policy(page, screenshot):
    page.context.add_init_script(WATCH)
    log_in(page, "jiedao")
    for url in ("/h5/", "/h5/rating/", "/h5/qrcodes", "/h5/me", "/h5/orgs", "/h5/leaderboard", "/h5/me/bookings"):
        response = page.goto(url)
        assert response.ok, (url, response.status)
        assert "'nonce-" in response.headers["content-security-policy"]
        assert violations(page) == [], url
    page.goto("/h5/rating/")
    page.locator("a[href^='/h5/rating/']").first.click()
    expect(page.get_by_test_id("advance")).to_be_visible()
    phase = page.locator("input[name=from]").get_attribute("value")
    screenshot(page, "csp-rating-period")

    # Cancelling the question sends nothing, and the form stays usable.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_test_id("advance").click()
    expect(page.locator("input[name=from]")).to_have_value(phase)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("advance").click()
    expect(page.locator(".app-flash")).to_contain_text("已进入")
    expect(page.locator("input[name=from]")).not_to_have_value(phase)
    assert violations(page) == []
    screenshot(page, "csp-rating-advanced")


def test_the_poster_prints_and_the_feed_address_selects(page, screenshot):
    page.context.add_init_script(WATCH + "window.print = () => { window.__printed = true; };")
    log_in(page, "heping")
    page.goto("/h5/qrcodes")
    page.locator("a[href*='/poster']").first.click()
    page.get_by_role("button", name=re.compile("打印")).click()
    assert page.evaluate("window.__printed") is True
    assert violations(page) == []
    screenshot(page, "csp-poster")


def test_the_api_docs_render_under_their_policy(page, screenshot):
    page.context.add_init_script(WATCH)
    page.goto("/api/v1/docs")
    expect(page.locator(".swagger-ui .info")).to_contain_text("Sanwei")
    expect(page.locator(".opblock").first).to_be_visible()
    assert violations(page) == []
    screenshot(page, "csp-api-docs")
