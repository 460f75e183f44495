"""Browser fixtures: the app served on loopback from a thread, and Debian's Chromium driven
by Playwright in iPhone 13 emulation with a WeChat user agent.

`REQUIRE_BROWSER=1` turns a missing Chromium from a skip into a failure (CI).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from backend import create_app
from backend.demo import load_demo
from backend.extensions import db
from tests.conftest import TEST_CONFIG

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
WECHAT_UA_SUFFIX = " MicroMessenger/8.0.50(0x1800323d) NetType/WIFI Language/zh_CN"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def playwright_browser():
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        reason = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("REQUIRE_BROWSER", "") not in ("", "0", "false"):
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        device = dict(p.devices["iPhone 13"])
        device["user_agent"] += WECHAT_UA_SUFFIX
        yield browser, device
        browser.close()


@pytest.fixture
def live_server(db_url):
    """The app with demo data, served from a background thread on a free loopback port."""
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": db_url})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_BASE_URL"] = base_url
    with app.app_context():
        load_demo()
        db.session.commit()
        db.session.remove()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base_url
    server.shutdown()
    thread.join(timeout=10)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def page(playwright_browser, live_server):
    browser, device = playwright_browser
    context = browser.new_context(**device, locale="zh-CN", timezone_id="Asia/Shanghai", base_url=live_server)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(request, database):
    """Save a full-page screenshot named after the test and the database backend."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}-{database[0]}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
