"""H5 session cookie: CSRF on writes, logout that revokes, safe redirects."""

from __future__ import annotations

import re

import pytest

from tests import factories as f


def csrf_from(response) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True)).group(1)


def h5_login(client, username="sec_a", password=f.PASSWORD, next_url=None):
    token = csrf_from(client.get("/h5/login"))
    data = {"username": username, "password": password, "csrf_token": token}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/h5/login", data=data)


@pytest.fixture
def orgs(app):
    orgs = f.tree()
    f.person("李红梅", username="sec_a", role="secretary", org=orgs["a"])
    return orgs


def test_login_form_needs_its_csrf_token(client, orgs):
    client.get("/h5/login")
    response = client.post("/h5/login", data={"username": "sec_a", "password": f.PASSWORD})
    assert response.status_code == 400
    assert "页面已过期" in response.get_data(as_text=True)
    response = client.post("/h5/login", data={"username": "sec_a", "password": f.PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 400


def test_login_then_role_home(client, orgs):
    response = h5_login(client)
    assert response.status_code == 302
    home = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "您好，李红梅" in home and "组织与成员" in home and "二维码管理" in home


def test_wrong_password_page_keeps_username(client, orgs):
    response = h5_login(client, password="wrong-password")
    assert response.status_code == 401
    text = response.get_data(as_text=True)
    assert "用户名或密码错误" in text and 'value="sec_a"' in text


def test_cookie_api_writes_need_the_csrf_header(client, orgs):
    h5_login(client)
    body = {"purpose": "wish", "target_id": orgs["a1"].id}
    refused = client.post("/api/v1/qrcodes", json=body)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "csrf_failed"
    token = csrf_from(client.get("/h5/me"))
    assert client.post("/api/v1/qrcodes", json=body, headers={"X-CSRF-Token": token}).status_code == 201
    assert client.get("/api/v1/me").status_code == 200  # reads need no token


def test_bearer_writes_need_no_csrf(client, orgs):
    headers = f.login(client, "sec_a")
    assert client.post("/api/v1/qrcodes", json={"purpose": "wish", "target_id": orgs["a1"].id},
                       headers=headers).status_code == 201


def test_logout_revokes_the_session_even_if_the_cookie_is_replayed(app, client, orgs):
    h5_login(client)
    cookie = client.get_cookie("sanwei_session").value
    assert client.get("/api/v1/me").status_code == 200
    token = csrf_from(client.get("/h5/me"))
    assert client.post("/h5/logout", data={"csrf_token": token}).status_code == 302
    replay = app.test_client()
    replay.set_cookie("sanwei_session", cookie)
    assert replay.get("/api/v1/me").status_code == 401
    assert "/h5/login" in replay.get("/h5/orgs").headers["Location"]


@pytest.mark.parametrize(("next_url", "expected"), [
    ("/h5/orgs", "/h5/orgs"),
    ("//evil.example/x", "/h5/"),
    ("https://evil.example/", "/h5/"),
    ("/\\evil.example", "/h5/"),
])
def test_next_redirects_stay_on_site(client, orgs, next_url, expected):
    response = h5_login(client, next_url=next_url)
    assert response.headers["Location"] == expected


def test_session_cookie_flags(client, orgs):
    response = h5_login(client)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_bad_form_value_shows_a_chinese_error_page(client, orgs):
    h5_login(client)
    token = csrf_from(client.get("/h5/qrcodes"))
    response = client.post("/h5/qrcodes", data={"purpose": "wish", "target_id": "abc", "csrf_token": token})
    assert response.status_code == 422
    assert "请选择网格" in response.get_data(as_text=True)
