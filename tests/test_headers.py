"""Security headers and request contracts: a Content-Security-Policy with a fresh nonce on every
HTML page and no inline handler in any template, HSTS over HTTPS, uploaded files sandboxed where
the viewer allows, HEAD of a page is the page, a campaign advances only from the phase the
client names, and the OpenAPI document describes the errors the API answers."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from backend.demo import DEMO_PASSWORD, load_demo
from backend.extensions import db
from backend.orgs.models import Org
from backend.rating.models import RatingPeriod
from tests import factories as f
from tests.test_api_errors import envelope

TEMPLATES = Path(__file__).resolve().parent.parent / "h5" / "templates"
FIREFOX = "Mozilla/5.0 (Android 14; Mobile; rv:131.0) Gecko/131.0 Firefox/131.0"
WECHAT = ("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Mobile Safari/537.36 "
          "MicroMessenger/8.0.50")


@pytest.fixture
def demo(app, client):
    load_demo()
    db.session.commit()
    heping = db.session.scalar(sa.select(Org.id).where(Org.name == "和平社区"))
    return {"heping": heping, "period": db.session.scalar(sa.select(RatingPeriod.id)),
            "officer": f.login(client, "jiedao", DEMO_PASSWORD), "secretary": f.login(client, "heping", DEMO_PASSWORD)}


def _login_page(client, username):
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/h5/login").get_data(as_text=True)).group(1)
    assert client.post("/h5/login", data={"username": username, "password": DEMO_PASSWORD,
                                          "csrf_token": token}).status_code == 302


def _page_urls(app, demo) -> list[str]:
    """Every H5 page without arguments, and those of 和平社区 and the campaign."""
    urls = [rule.rule for rule in app.url_map.iter_rules()
            if rule.rule.startswith("/h5/") and "GET" in rule.methods and not rule.arguments
            and not rule.rule.endswith(".xlsx")]
    return urls + [f"/h5/orgs/{demo['heping']}", f"/h5/rating/{demo['period']}", f"/h5/c/{demo['heping']}/wishes",
                   f"/h5/rating/{demo['period']}/orgs/{demo['heping']}", "/h5/no-such-page", "/api/v1/docs"]


def test_every_page_has_a_nonce_policy_and_its_inline_scripts_carry_the_nonce(app, client, demo):
    _login_page(client, "jiedao")
    nonces = set()
    for url in _page_urls(app, demo):
        response = client.get(url)
        if response.mimetype != "text/html":
            continue
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "object-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0], url
        html = response.get_data(as_text=True)
        inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
        found = re.search(r"'nonce-([^']+)'", policy)
        for attributes in inline:
            if 'type="text/wxtag-template"' not in attributes:
                assert found and f'nonce="{found.group(1)}"' in attributes, (url, attributes)
        if found:
            nonces.add(found.group(1))
        assert not re.search(r"\son[a-z]+\s*=", html), url
    assert len(nonces) > 5   # one per response, never reused


def test_no_template_has_an_inline_handler_or_an_unnonced_script():
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"\son[a-z]+\s*=", text), template.name
        for attributes in re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", text):
            assert "nonce=" in attributes or "text/wxtag-template" in attributes, template.name


def test_hsts_only_over_https(app, client):
    assert "Strict-Transport-Security" not in client.get("/h5/").headers
    app.config["PUBLIC_BASE_URL"] = "https://sanwei.example.cn"
    assert client.get("/h5/").headers["Strict-Transport-Security"] == "max-age=31536000"
    assert client.get("/api/v1/rubrics").headers["Strict-Transport-Security"] == "max-age=31536000"


def test_head_of_a_page_is_the_page(app, client, demo):
    for url in ("/h5/", "/h5/login", "/h5/privacy", f"/h5/c/{demo['heping']}/wishes", "/api/v1/rubrics"):
        head, get = client.head(url), client.get(url)
        assert head.status_code == get.status_code == 200, url
        assert head.data == b""


def _pdf_evidence(client, demo) -> str:
    card = f"/api/v1/periods/{demo['period']}/scorecards/{demo['heping']}"
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    made = client.post(f"{card}/evidence", headers=demo["secretary"], content_type="multipart/form-data",
                       data={"file": (io.BytesIO(pdf), "纪要.pdf")})
    assert made.status_code == 201, made.get_json()
    return made.get_json()["url"]


def test_a_pdf_is_sandboxed_where_the_viewer_shows_a_sandboxed_page(client, demo):
    url = _pdf_evidence(client, demo)
    firefox = client.get(url, headers={**demo["secretary"], "User-Agent": FIREFOX})
    assert firefox.headers["Content-Security-Policy"] == "sandbox"
    wechat = client.get(url, headers={**demo["secretary"], "User-Agent": WECHAT})
    assert wechat.status_code == 200 and "Content-Security-Policy" not in wechat.headers
    assert wechat.headers["X-Content-Type-Options"] == "nosniff"


def test_a_campaign_advances_only_from_the_phase_named(client, demo):
    url = f"/api/v1/periods/{demo['period']}/advance"
    error = envelope(client.post(url, headers=demo["officer"]), 422, "validation_error")
    assert error["fields"] == {"from": ["此项必填"]}
    envelope(client.post(url, headers=demo["officer"], json={}), 422, "validation_error")
    stale = envelope(client.post(url, headers=demo["officer"], json={"from": "open"}), 409, "stale_phase")
    assert stale["message"] == "创评已在“自我评定”阶段，请刷新后再试"
    moved = client.post(url, headers=demo["officer"], json={"from": "self_evaluation"})
    assert moved.status_code == 200 and moved.get_json()["phase"] == "review"
    envelope(client.post(url, headers=demo["officer"], json={"from": "self_evaluation"}), 409, "stale_phase")


def test_the_campaign_page_advances_from_the_phase_it_shows(client, demo):
    _login_page(client, "jiedao")
    page = client.get(f"/h5/rating/{demo['period']}").get_data(as_text=True)
    assert 'name="from" value="self_evaluation"' in page
    assert 'data-confirm="进入“' in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    url = f"/h5/rating/{demo['period']}/advance"
    assert client.post(url, data={"csrf_token": token, "from": "self_evaluation", "to": "review"}).status_code == 302
    stale = client.post(url, data={"csrf_token": token, "from": "self_evaluation", "to": "review"},
                        follow_redirects=True)
    assert "请刷新后再试" in stale.get_data(as_text=True)


def test_the_openapi_document_describes_the_envelope(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    assert schemas["Error"]["required"] == ["error"]
    assert set(schemas["ErrorDetail"]["properties"]) == {"code", "message", "fields"}
    for name in ("DEFAULT_ERROR", "UNPROCESSABLE_ENTITY"):
        assert doc["components"]["responses"][name]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"}

    def bounds(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("minimum", "maximum"):
                    yield value
                yield from bounds(value)
        elif isinstance(node, list):
            for item in node:
                yield from bounds(item)
    assert all(isinstance(value, int | float) for value in bounds(doc))
    wish_id = doc["paths"]["/api/v1/wishes/{wish_id}"]["parameters"][0]["schema"]
    assert wish_id["maximum"] == 2 ** 31 - 1
