"""QR codes and posters carry the address the server is reached by when PUBLIC_BASE_URL is not
set: the request's host and port, or what a trusted proxy forwards (never what an untrusted
client claims). Set, PUBLIC_BASE_URL wins; outside a request (jobs) it or its default holds."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from backend.app import create_app
from backend.extensions import db
from backend.qrcodes import service as qr_service
from tests import factories as f
from tests.conftest import TEST_CONFIG
from tests.test_qrcodes import decode, make_code, rasterise_svg


@pytest.fixture
def unset_app(db_url, monkeypatch):
    """The app as `make run` starts it: no PUBLIC_BASE_URL anywhere; behind one trusted proxy."""
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    config = {k: v for k, v in TEST_CONFIG.items() if k != "PUBLIC_BASE_URL"}
    app = create_app({**config, "SQLALCHEMY_DATABASE_URI": db_url, "TRUSTED_PROXY_HOPS": 1,
                      "FORWARDED_ALLOW_IPS": "127.0.0.1"})
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _code(client):
    orgs = f.tree()
    f.person("李红梅", username="sec_a", role="secretary", org=orgs["a"])
    headers = f.login(client, "sec_a")
    return make_code(client, headers, orgs["a1"].id), headers


@pytest.mark.parametrize("base", ["http://192.168.1.20:8000", "http://sanwei.lan:5001"])
def test_codes_and_posters_carry_the_address_the_server_is_reached_by(unset_app, base):
    client = unset_app.test_client()
    made, headers = _code(client)
    shown = client.get(f"/api/v1/qrcodes/{made['id']}", headers=headers, base_url=base).get_json()
    assert shown["url"] == f"{base}/q/{made['code']}"
    png = client.get(f"/api/v1/qrcodes/{made['id']}.png", headers=headers, base_url=base)
    assert decode(Image.open(io.BytesIO(png.data))).text == f"{base}/q/{made['code']}"
    svg = client.get(f"/api/v1/qrcodes/{made['id']}.svg", headers=headers, base_url=base)
    assert decode(rasterise_svg(svg.data)).text == f"{base}/q/{made['code']}"
    poster = client.get(f"/h5/qrcodes/{made['id']}/poster", headers=headers, base_url=base)
    assert f"{base}/q/{made['code']}" in poster.get_data(as_text=True)
    # a job, outside any request, keeps the configured default
    assert qr_service.short_url(qr_service.resolve(made["code"])) == f"http://127.0.0.1:5000/q/{made['code']}"


def test_a_trusted_proxy_names_the_host_an_untrusted_client_does_not(unset_app):
    client = unset_app.test_client()
    made, headers = _code(client)
    forwarded = {**headers, "X-Forwarded-Host": "sanwei.example.cn", "X-Forwarded-Proto": "https"}
    via_proxy = client.get(f"/api/v1/qrcodes/{made['id']}", headers=forwarded,
                           environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_json()
    assert via_proxy["url"] == f"https://sanwei.example.cn/q/{made['code']}"
    direct = client.get(f"/api/v1/qrcodes/{made['id']}", headers=forwarded, base_url="http://10.0.0.7:8000",
                        environ_base={"REMOTE_ADDR": "10.0.0.99"}).get_json()
    assert direct["url"] == f"http://10.0.0.7:8000/q/{made['code']}"


def test_a_set_public_base_url_wins_over_the_request(client):
    made, headers = _code(client)
    shown = client.get(f"/api/v1/qrcodes/{made['id']}", headers=headers, base_url="http://192.168.1.20:8000")
    assert shown.get_json()["url"] == f"http://sanwei.test/q/{made['code']}"
