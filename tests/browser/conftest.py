"""Browser fixtures: the app served on loopback from a thread, and Debian's Chromium driven
by Playwright in iPhone 13 emulation with a WeChat user agent.

`REQUIRE_BROWSER=1` turns a missing Chromium (or Playwright) from a skip into a failure (CI).
Playwright only drives the system Chromium; `playwright install` is never needed.

Browser tests run on SQLite only: the page layer does not differ by database, and the
service and API tests cover both. Every wait is for a condition (an element, a text, a
load); PATIENCE_MS only bounds it so that a broken page fails instead of hanging, and is
generous so that a loaded machine never misses it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.fake_wechat import fake_wechat
from tests.live import answer_jssdk, demo_server

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
WECHAT_UA_SUFFIX = " MicroMessenger/8.0.50(0x1800323d) NetType/WIFI Language/zh_CN"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
PATIENCE_MS = 120_000   # an upper bound for actions, navigations and expect(), never a speed assertion


@pytest.fixture(scope="session", params=["sqlite"])
def database(database):
    """The migrated template of tests/conftest.py, on SQLite only."""
    return database


def _unavailable(reason: str):
    if os.environ.get("REQUIRE_BROWSER", "") not in ("", "0", "false"):
        pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def playwright_browser():
    """(browser, device settings) for the whole session; one Chromium process."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415  (optional: without it browser tests skip)
    except ImportError:
        _unavailable("the playwright package is not installed")

    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=PATIENCE_MS)
        except Exception as exc:  # a broken install must say why
            _unavailable(f"Chromium at {CHROMIUM} did not start: {exc}")
        device = dict(p.devices["iPhone 13"])
        device["user_agent"] += WECHAT_UA_SUFFIX
        expect.set_options(timeout=PATIENCE_MS)   # the default, 5 s, is missed on a loaded machine
        yield browser, device
        browser.close()


@pytest.fixture
def live_server(db_url):
    """The app with demo data, served on a free loopback port."""
    with demo_server(db_url) as (base_url, _):
        yield base_url


@pytest.fixture
def wechat():
    """(base URL, the fake WeChat) on loopback; a module points the app at it by overriding
    `live_server` with `demo_server(db_url, **fake.config(base_url))`."""
    with fake_wechat() as (base_url, fake):
        yield base_url, fake


@pytest.fixture
def phone(playwright_browser, live_server, request):
    """Factory: each call is a fresh phone (own cookies and localStorage).

    Fails the test if any page asks for anything off this machine (a CDN, fonts, analytics),
    throws a JavaScript error, or a stylesheet, script or image it loads is missing. Where the
    app is pointed at the fake WeChat (the test uses `wechat`), the phones are inside WeChat:
    a page there signs wx.config through the JS-SDK stand-in, whose calls the fake answers
    (unanswered, a page left a moment after loading has a 404 or not).
    """
    browser, device = playwright_browser
    fake = request.getfixturevalue("wechat")[1] if "wechat" in request.fixturenames else None
    contexts = []
    problems: list[str] = []

    def guard(route):
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            problems.append(f"request to {route.request.url}")
            route.abort()

    def new():
        context = browser.new_context(**device, locale="zh-CN", timezone_id="Asia/Shanghai", base_url=live_server)
        context.set_default_timeout(PATIENCE_MS)
        context.route("**/*", guard)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.append(f"JavaScript error: {exc}"))
        page.on("response", lambda r: problems.append(f"{r.status} for {r.url}")
                if r.status >= 400 and r.request.resource_type != "document" else None)
        if fake is not None:
            answer_jssdk(page, fake)
        return page

    yield new
    for context in contexts:
        context.close()
    assert not problems, problems


@pytest.fixture
def page(phone):
    """One phone."""
    return phone()


def check_phone_layout(page) -> None:
    """What a phone user would notice first: sideways scrolling, or the tab bar hiding content."""
    width = page.evaluate("[innerWidth, document.documentElement.scrollWidth]")
    assert width[1] <= width[0], f"{page.url} scrolls sideways: content {width[1]}px, screen {width[0]}px"
    covered = page.evaluate("""() => {
        const bar = document.querySelector('.weui-tabbar'), main = document.querySelector('main');
        if (!bar || !main || !main.lastElementChild) return null;
        window.scrollTo(0, document.documentElement.scrollHeight);
        const last = main.lastElementChild.getBoundingClientRect().bottom, top = bar.getBoundingClientRect().top;
        window.scrollTo(0, 0);
        return last > top + 0.5 ? [last, top] : null;
    }""")
    assert covered is None, f"{page.url}: the tab bar (top {covered[1]}px) covers content ending at {covered[0]}px"


@pytest.fixture
def screenshot(database):
    """Check the phone layout, then save a full-page screenshot named after the page and the database."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        # A navigation already under way has no document yet; measure the page it lands on.
        page.wait_for_load_state()
        check_phone_layout(page)
        path = SCREENSHOTS / f"{name}-{database[0]}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
