"""QR codes: creation, images that decode to exactly the short URL, scanning, revocation."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import pytest
import zxingcpp
from PIL import Image, ImageDraw

from tests import factories as f

URL_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")


@pytest.fixture
def setup(app, client):
    orgs = f.tree()
    f.person("李红梅", username="sec_a", role="secretary", org=orgs["a"])
    f.person("黄丽娟", username="sec_b", role="secretary", org=orgs["b"])
    f.person("陈淑芬", username="member_a", role="party_member", org=orgs["a"])
    return orgs, f.login(client, "sec_a")


def make_code(client, headers, grid_id):
    response = client.post("/api/v1/qrcodes", json={"purpose": "wish", "target_id": grid_id}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def decode(image: Image.Image):
    results = zxingcpp.read_barcodes(image)
    assert len(results) == 1
    return results[0]


def rasterise_svg(svg: bytes, scale: int = 8) -> Image.Image:
    """Draw the module squares of qrcode's path SVG ("Mx,yHx+1Vy+1Hxz" per dark module)."""
    root = ET.fromstring(svg)
    width = int(float(root.get("viewBox").split()[2]))
    path = root.find("{http://www.w3.org/2000/svg}path")
    image = Image.new("L", (width * scale, width * scale), 255)
    draw = ImageDraw.Draw(image)
    for x, y in re.findall(r"M(\d+),(\d+)H", path.get("d")):
        x, y = int(x) * scale, int(y) * scale
        draw.rectangle([x, y, x + scale - 1, y + scale - 1], fill=0)
    return image


def test_create_wish_code_for_a_grid(client, setup):
    orgs, headers = setup
    body = make_code(client, headers, orgs["a1"].id)
    assert body["active"] is True
    assert body["purpose"] == "wish"
    assert body["url"] == f"http://sanwei.test/q/{body['code']}"
    assert body["png_url"].endswith(f"/api/v1/qrcodes/{body['id']}.png")
    assert body["svg_url"].endswith(f"/api/v1/qrcodes/{body['id']}.svg")
    # at least 64 random bits, URL-safe: 16 base64url characters carry 96
    assert len(body["code"]) >= 11 and URL_SAFE.match(body["code"])
    other = make_code(client, headers, orgs["a1"].id)
    assert other["code"] != body["code"]


@pytest.mark.parametrize(("payload", "code"), [
    ({"purpose": "wish", "target_id": 999999}, "unknown_target"),
    ({"purpose": "checkin", "target_id": 999999}, "unknown_target"),
    ({"purpose": "poll", "target_id": 999999}, "unknown_target"),
    ({"purpose": "service", "target_id": 999999}, "unknown_target"),
    ({"purpose": "parking", "target_id": 1}, "validation_error"),
    ({"purpose": "wish", "target_id": "1"}, "validation_error"),
])
def test_bad_targets_are_422(client, setup, payload, code):
    _, headers = setup
    response = client.post("/api/v1/qrcodes", json=payload, headers=headers)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == code


def test_wish_code_target_must_be_a_grid(client, setup):
    orgs, headers = setup
    response = client.post("/api/v1/qrcodes", json={"purpose": "wish", "target_id": orgs["a"].id}, headers=headers)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "unknown_target"


def test_png_decodes_to_exactly_the_url_with_error_correction_m(client, setup):
    orgs, headers = setup
    body = make_code(client, headers, orgs["a1"].id)
    response = client.get(body["png_url"], headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    result = decode(Image.open(io.BytesIO(response.data)))
    assert result.text == body["url"]
    assert result.ec_level == "M"


def test_svg_decodes_to_exactly_the_url_with_a_four_module_border(client, setup):
    orgs, headers = setup
    body = make_code(client, headers, orgs["a1"].id)
    response = client.get(body["svg_url"], headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    image = rasterise_svg(response.data)
    assert decode(image).text == body["url"]
    first_dark = re.search(r"M(\d+),(\d+)H", response.get_data(as_text=True))
    assert first_dark.groups() == ("4", "4")  # finder pattern starts after the quiet zone


def test_scan_opens_the_wish_form_of_the_grid(client, setup):
    orgs, headers = setup
    body = make_code(client, headers, orgs["a1"].id)
    anonymous = client.application.test_client()
    scan = anonymous.get(f"/q/{body['code']}")
    assert scan.status_code == 302
    assert scan.headers["Cache-Control"] == "no-store"
    page = anonymous.get(scan.headers["Location"])
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "和平社区" in text and "第一网格" in text and "写下您的微心愿" in text
    assert scan.headers["Location"] == f"/h5/w/new?qr={body['code']}"


def test_unknown_code_is_a_friendly_404_page(client, setup):
    response = client.get("/q/definitely-not-a-code")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "二维码无效" in response.get_data(as_text=True)
    assert client.get("/q/" + "x" * 200).status_code == 404


def test_revoked_code_is_a_friendly_410_page(client, setup):
    orgs, headers = setup
    body = make_code(client, headers, orgs["a1"].id)
    revoked = client.post(f"/api/v1/qrcodes/{body['id']}/revoke", headers=headers)
    assert revoked.status_code == 200
    assert revoked.get_json()["active"] is False
    assert revoked.get_json()["revoked_at"]
    again = client.post(f"/api/v1/qrcodes/{body['id']}/revoke", headers=headers)
    assert again.status_code == 200
    assert again.get_json()["revoked_at"] == revoked.get_json()["revoked_at"]
    response = client.get(f"/q/{body['code']}")
    assert response.status_code == 410
    assert "已停用" in response.get_data(as_text=True)
    landing = client.get(f"/h5/w/new?qr={body['code']}")
    assert landing.status_code == 410


def test_others_cannot_manage_codes(client, setup):
    orgs, headers = setup
    body = make_code(client, headers, orgs["a1"].id)
    sec_b = f.login(client, "sec_b")
    assert client.post(f"/api/v1/qrcodes/{body['id']}/revoke", headers=sec_b).status_code == 404
    assert client.post("/api/v1/qrcodes", json={"purpose": "wish", "target_id": orgs["a1"].id},
                       headers=sec_b).status_code == 404
    member = f.login(client, "member_a")
    assert client.post("/api/v1/qrcodes", json={"purpose": "wish", "target_id": orgs["a1"].id},
                       headers=member).status_code == 403
    assert client.get(f"/api/v1/qrcodes/{body['id']}", headers=member).status_code == 404
    assert client.get(body["png_url"]).status_code == 401
    listed = client.get("/api/v1/qrcodes", headers=sec_b).get_json()
    assert listed == {"items": [], "total": 0}


def test_poster_needs_login_and_shows_what_to_print(client, setup):
    orgs, headers = setup
    body = make_code(client, headers, orgs["a1"].id)
    anonymous = client.application.test_client()
    redirect = anonymous.get(body["poster_url"])
    assert redirect.status_code == 302
    assert "/h5/login" in redirect.headers["Location"]
    login_page = anonymous.get("/h5/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page.get_data(as_text=True)).group(1)
    anonymous.post("/h5/login", data={"username": "sec_a", "password": f.PASSWORD, "csrf_token": token})
    poster = anonymous.get(body["poster_url"])
    assert poster.status_code == 200
    text = poster.get_data(as_text=True)
    for expected in ("东湖街道", "和平社区", "第一网格", "扫码提交微心愿", body["code"], body["url"], "<svg"):
        assert expected in text
    assert "size:A5" in anonymous.get("/static/poster.css").get_data(as_text=True).replace(" ", "")
