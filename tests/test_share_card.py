"""The WeChat share card of the public pages (wish form, community wish page, poll answer page,
service page): title, description, icon and link as og: tags with absolute addresses, the link
free of anything personal (a one-time poll code); the JS-SDK that sets the card inside WeChat
loads only there, and only where WeChat is configured."""

from __future__ import annotations

import re
from html import unescape

import pytest
import sqlalchemy as sa

from backend.demo import DEMO_PASSWORD, load_demo
from backend.extensions import db
from backend.orgs.models import Org
from backend.qrcodes.models import QrCode
from backend.services.models import ServiceItem
from backend.wechat.subscriptions import JS_API_LIST
from tests import factories as f
from tests.test_headers import WECHAT
from tests.test_polls import poll_body

BASE = "http://sanwei.test"


@pytest.fixture
def pages(app, client):
    """The four public pages of 和平社区 (its first grid's wish code, its service, the street's mass poll)."""
    load_demo()
    db.session.commit()
    heping = db.session.scalar(sa.select(Org).where(Org.name == "和平社区"))
    grid = db.session.scalar(sa.select(Org).where(Org.parent_id == heping.id).order_by(Org.id).limit(1))
    qr = db.session.scalar(sa.select(QrCode).where(QrCode.target_id == grid.id, QrCode.purpose == "wish"))
    service = db.session.scalar(sa.select(ServiceItem).where(ServiceItem.org_id == heping.id))
    made = client.post("/api/v1/polls", headers=f.login(client, "jiedao", DEMO_PASSWORD),
                       json=poll_body(heping.id, modes=["device", "code"]))
    assert made.status_code == 201, made.get_json()
    poll = made.get_json()["id"]
    return {"wish": (f"/h5/w/new?qr={qr.code}", f"/h5/w/new?qr={qr.code}", "微心愿 · 和平社区第一网格"),
            "community": (f"/h5/c/{heping.id}/wishes", f"/h5/c/{heping.id}/wishes", "和平社区 · 微心愿公开栏"),
            "poll": (f"/h5/p/{poll}?code=ABCD2345", f"/h5/p/{poll}", "2026 年和平社区群众满意度测评"),
            "service": (f"/h5/services/{service.id}", f"/h5/services/{service.id}", f"{service.name} · 和平社区")}


def card_of(html: str) -> dict[str, str]:
    return {name: unescape(value) for name, value in re.findall(r'<meta property="og:(\w+)" content="([^"]*)">', html)}


@pytest.mark.parametrize("page", ["wish", "community", "poll", "service"])
def test_each_public_page_has_a_share_card(client, pages, page):
    url, link, title = pages[page]
    response = client.get(url)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    card = card_of(html)
    assert card["title"] == title and card["url"] == BASE + link
    assert len(card["description"]) >= 10 and not card["description"].isascii()
    assert card["image"] == f"{BASE}/static/share-icon.png"
    icon = client.get("/static/share-icon.png")
    assert icon.status_code == 200 and icon.data[:8] == b"\x89PNG\r\n\x1a\n" and len(icon.data) < 8 * 1024
    # outside WeChat nothing more loads (the icon itself is fetched by WeChat, never by the page)
    assert "wechat.js" not in html and 'name="wx-jssdk"' not in html and html.count("share-icon.png") == 1


def test_inside_wechat_the_page_loads_the_js_sdk_only_where_wechat_is_configured(app, client, pages):
    url = pages["community"][0]
    assert "wechat.js" not in client.get(url, headers={"User-Agent": WECHAT}).get_data(as_text=True)
    app.config.update(WECHAT_APP_ID="wxapp", WECHAT_APP_SECRET="secret")
    html = client.get(url, headers={"User-Agent": WECHAT}).get_data(as_text=True)
    assert 'name="wx-jssdk"' in html and html.count("/static/wechat.js") == 1
    assert 'name="wx-jssdk"' not in client.get(url).get_data(as_text=True)   # not outside WeChat


def test_the_js_sdk_may_set_both_share_cards():
    assert {"updateAppMessageShareData", "updateTimelineShareData"} <= set(JS_API_LIST)
