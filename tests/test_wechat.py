"""WeChat sign-in, on both databases, against the fake WeChat over real HTTP: web authorisation
(state bound to the browser session, single-use codes, snapshot guests, local-only `next`),
the mini-program login, binding codes, the access token and subscribe messages."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
import sqlalchemy as sa

from backend.config import ConfigError, load_config
from backend.extensions import db, utcnow
from backend.people.models import Person
from backend.qrcodes.service import ensure_code
from backend.wechat import client as wechat_client
from backend.wechat import service
from backend.wechat.client import ErrorKind, WechatClient, WechatError
from backend.wechat.models import BindingCode, WechatIdentity
from tests import factories as f
from tests.fake_wechat import H5_APP_ID, MP_APP_ID, MP_SECRET, fake_wechat
from tests.test_csrf_session import csrf_from, h5_login

UA = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                    "Mobile/15E148 MicroMessenger/8.0.50(0x1800323d) NetType/WIFI Language/zh_CN"}
BASE = "http://sanwei.test"


@pytest.fixture
def wechat(app):
    with fake_wechat() as (base_url, fake):
        app.config.update(fake.config(base_url))
        yield fake


@pytest.fixture
def orgs(app):
    orgs = f.tree()
    f.person("李红梅", username="sec_a", role="secretary", org=orgs["a"])
    f.person("张建华", username="leader_a1", role="grid_leader", org=orgs["a1"])
    f.person("网格员", username="member_a1", role="grid_member", org=orgs["a1"])
    f.person("周晓燕", username="vol_a1", role="volunteer", org=orgs["a1"])
    return orgs


def people(name: str) -> Person:
    return db.session.scalar(sa.select(Person).where(Person.name == name))


def identities() -> list[tuple[str, str, str]]:
    db.session.expire_all()
    return [(i.openid, i.person.name, i.linked_by) for i in db.session.scalars(
        sa.select(WechatIdentity).order_by(WechatIdentity.id))]


def to_wechat(client, next_url: str = "/h5/me"):
    """The authorize redirect, as the browser follows it to WeChat: WeChat's answer (a 302 back)."""
    response = client.get(f"/api/v1/auth/wechat/authorize?next={quote(next_url, safe='')}", headers=UA)
    assert response.status_code == 302, response.get_data(as_text=True)
    return requests.get(response.headers["Location"], headers=UA, allow_redirects=False, timeout=10)


def callback_path(wechat_answer) -> str:
    assert wechat_answer.status_code == 302, wechat_answer.text
    location = wechat_answer.headers["Location"]
    assert location.startswith(f"{BASE}/api/v1/auth/wechat/callback?")
    return location.removeprefix(BASE)


def web_sign_in(client, wechat, openid: str, next_url: str = "/h5/me", **user):
    """A whole round trip inside WeChat; returns the callback's response."""
    wechat.sign_in_as(openid, **user)
    return client.get(callback_path(to_wechat(client, next_url)), headers=UA)


def error_of(response) -> tuple[int, str]:
    """(status, stable code) of an error page."""
    found = re.search(r'data-status="(\d+)" data-error-code="(\w+)"', response.get_data(as_text=True))
    return int(found.group(1)), found.group(2)


def me(client, headers=None) -> dict:
    response = client.get("/api/v1/me", headers=headers or {})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# --- web authorisation -------------------------------------------------------------------------

def test_authorize_redirects_to_wechat_with_snsapi_base_and_a_session_bound_state(client, wechat):
    response = client.get("/api/v1/auth/wechat/authorize?next=/h5/tasks", headers=UA)
    assert response.status_code == 302
    url = urlsplit(response.headers["Location"])
    assert url.fragment == "wechat_redirect" and url.path == "/connect/oauth2/authorize"
    query = parse_qs(url.query)
    assert query["appid"] == [H5_APP_ID] and query["scope"] == ["snsapi_base"] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == [f"{BASE}/api/v1/auth/wechat/callback"]
    assert re.fullmatch(r"[A-Za-z0-9]{1,128}", query["state"][0])
    # WeChat documents the order of the parameters
    assert [k for k, _ in (p.split("=", 1) for p in url.query.split("&"))] == [
        "appid", "redirect_uri", "response_type", "scope", "state"]
    with client.session_transaction() as kept:
        assert kept["wechat_auth"]["state"] == query["state"][0]
        assert kept["wechat_auth"]["next"] == "/h5/tasks"


def test_a_residents_first_visit_creates_a_person_with_nothing_but_the_openid(client, wechat):
    response = web_sign_in(client, wechat, "o-resident-1", "/h5/messages")
    assert response.status_code == 302 and response.headers["Location"] == "/h5/messages"
    who = me(client)
    assert who["name"] == service.VISITOR_NAME and who["memberships"] == [] and who["username"] is None
    assert who["phone"] is None and not who["is_admin"]
    assert identities() == [("o-resident-1", service.VISITOR_NAME, "first_visit")]
    assert "请先登录" not in client.get("/h5/messages", headers=UA).get_data(as_text=True)

    # the same WeChat in a new browser is the same person
    other = client.application.test_client()
    assert web_sign_in(other, wechat, "o-resident-1").status_code == 302
    assert me(other)["id"] == who["id"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Person)) == 1
    # ...and the code was exchanged once each time
    assert len(wechat.calls_to("/sns/oauth2/access_token")) == 2


def test_next_is_only_ever_a_local_path(client, wechat):
    for target in ("https://evil.example/", "//evil.example/x", "/\t/evil.example", "/\\evil.example", "javascript:x"):
        response = web_sign_in(client, wechat, "o-next", target)
        assert response.headers["Location"] == "/h5/", target
    assert web_sign_in(client, wechat, "o-next", "/h5/w/mine?tab=1").headers["Location"] == "/h5/w/mine?tab=1"


def test_a_snapshot_user_stays_a_guest_and_is_not_sent_round_again(client, wechat):
    response = web_sign_in(client, wechat, "o-snapshot-virtual", "/h5/orgs", snapshot=True)
    assert response.status_code == 302 and response.headers["Location"] == "/h5/orgs"
    assert client.get("/api/v1/me").status_code == 401
    assert identities() == [] and db.session.scalar(sa.select(sa.func.count()).select_from(Person)) == 0
    # the page needing sign-in now offers the password page instead of WeChat again
    again = client.get("/h5/orgs", headers=UA)
    assert again.status_code == 302 and again.headers["Location"].startswith("/h5/login")


def test_unionid_makes_the_mini_program_and_the_pages_one_person(client, wechat):
    code = wechat.miniprogram_code("o-mp-1", unionid="u-shared-1")
    token = client.post("/api/v1/auth/wechat/miniprogram", json={"code": code}).get_json()["token"]
    mp_person = me(client, {"Authorization": f"Bearer {token}"})["id"]
    web_sign_in(client, wechat, "o-h5-1", unionid="u-shared-1")
    assert me(client)["id"] == mp_person
    assert [(o, by) for o, _, by in identities()] == [("o-mp-1", "first_visit"), ("o-h5-1", "unionid")]


def test_a_reused_callback_is_refused_by_its_state(client, wechat):
    wechat.sign_in_as("o-reuse")
    path = callback_path(to_wechat(client))
    assert client.get(path, headers=UA).status_code == 302
    client.post("/h5/logout", data={"csrf_token": csrf_from(client.get("/h5/me"))})
    again = client.get(path, headers=UA)
    assert error_of(again) == (400, "wechat_state_invalid") and again.status_code == 400
    assert "登录链接已失效" in again.get_data(as_text=True)
    assert again.mimetype == "text/html"
    assert client.get("/api/v1/me").status_code == 401


def test_a_callback_started_in_another_browser_is_refused_before_the_code_is_spent(client, wechat):
    victim = client.application.test_client()
    wechat.sign_in_as("o-attacker")
    path = callback_path(to_wechat(client))   # the attacker's own code and state...
    response = victim.get(path, headers=UA)   # ...sent to someone else's browser
    assert error_of(response) == (400, "wechat_state_invalid")
    assert wechat.calls_to("/sns/oauth2/access_token") == []
    assert victim.get("/api/v1/me").status_code == 401


def test_a_stale_state_and_a_missing_one_are_refused(client, wechat):
    path = callback_path(to_wechat(client))
    with client.session_transaction() as kept:
        kept["wechat_auth"] = {**kept["wechat_auth"], "at": kept["wechat_auth"]["at"] - service.STATE_TTL_SECONDS - 1}
    assert error_of(client.get(path, headers=UA)) == (400, "wechat_state_invalid")
    to_wechat(client)
    assert error_of(client.get("/api/v1/auth/wechat/callback?code=abc", headers=UA)) == (400, "wechat_state_invalid")


def test_a_used_code_an_invalid_one_and_an_expired_one(client, wechat):
    wechat.sign_in_as("o-codes")
    first = callback_path(to_wechat(client))
    client.get(first, headers=UA)
    used_code = parse_qs(urlsplit(first).query)["code"][0]

    wechat.next_code = used_code      # WeChat hands back a code that was already exchanged
    response = client.get(callback_path(to_wechat(client)), headers=UA)
    assert error_of(response) == (400, "wechat_code_used") and "已使用过" in response.get_data(as_text=True)

    wechat.next_code = "not-a-code"
    assert error_of(client.get(callback_path(to_wechat(client)), headers=UA)) == (400, "wechat_code_invalid")

    path = callback_path(to_wechat(client))
    wechat.age_codes(301)
    assert error_of(client.get(path, headers=UA)) == (400, "wechat_code_invalid")


@pytest.mark.parametrize(("failure", "expected"), [
    ({"errcode": -1}, (503, "wechat_unavailable")),
    ({"http_status": 500}, (503, "wechat_unavailable")),
    ({"errcode": 40125}, (502, "wechat_error")),
])
def test_wechat_failures_are_clear_pages(client, wechat, failure, expected):
    wechat.fail_next(1, path="/sns/oauth2/access_token", **failure)
    response = web_sign_in(client, wechat, "o-busy")
    assert response.status_code == expected[0] and error_of(response) == expected
    assert identities() == []


def test_a_wrong_secret_is_ours_to_fix(client, wechat, app):
    app.config["WECHAT_APP_SECRET"] = "wrong"
    response = web_sign_in(client, wechat, "o-secret")
    assert error_of(response) == (502, "wechat_error")
    assert "联系社区工作人员" in response.get_data(as_text=True)


def test_a_deactivated_person_cannot_sign_in_with_wechat(client, wechat):
    web_sign_in(client, wechat, "o-gone")
    db.session.execute(sa.update(Person).values(is_active=False))
    db.session.commit()
    other = client.application.test_client()
    assert error_of(web_sign_in(other, wechat, "o-gone")) == (403, "account_disabled")


# --- pages that need sign-in, inside and outside WeChat ------------------------------------------

def test_inside_wechat_a_page_that_needs_sign_in_goes_through_wechat(client, wechat):
    response = client.get("/h5/orgs?x=1", headers=UA)
    assert response.status_code == 302
    assert response.headers["Location"] == "/api/v1/auth/wechat/authorize?next=/h5/orgs?x%3D1"
    outside = client.get("/h5/orgs")
    assert outside.headers["Location"].startswith("/h5/login")


def test_the_login_page_offers_wechat_only_inside_wechat_and_when_configured(client, app):
    assert "微信一键登录" not in client.get("/h5/login", headers=UA).get_data(as_text=True)
    with fake_wechat() as (base_url, fake):
        app.config.update(fake.config(base_url))
        page = client.get("/h5/login?next=/h5/tasks", headers=UA).get_data(as_text=True)
        assert "微信一键登录" in page and "/api/v1/auth/wechat/authorize?next=/h5/tasks" in page
        assert "微信一键登录" not in client.get("/h5/login").get_data(as_text=True)
        assert 'name="password"' in page   # desks keep the password


def test_without_settings_nothing_wechat_shows_and_nothing_breaks(client, orgs):
    page = client.get("/api/v1/auth/wechat/authorize?next=/h5/", headers=UA)
    assert error_of(page) == (404, "wechat_not_configured") and "未开通微信登录" in page.get_data(as_text=True)
    assert client.get("/h5/orgs", headers=UA).headers["Location"].startswith("/h5/login")
    mp = client.post("/api/v1/auth/wechat/miniprogram", json={"code": "x"})
    assert mp.status_code == 404 and mp.get_json()["error"]["code"] == "wechat_not_configured"
    headers = f.login(client, "sec_a")
    vol = people("周晓燕")
    refused = client.post(f"/api/v1/people/{vol.id}/binding-codes", headers=headers)
    assert refused.status_code == 404 and refused.get_json()["error"]["code"] == "wechat_not_configured"
    h5_login(client)
    assert "微信绑定码" not in client.get(f"/h5/orgs/{orgs['a1'].id}").get_data(as_text=True)


def test_qr_pages_still_work_without_signing_in_inside_wechat(client, wechat, orgs):
    qr = ensure_code("wish", orgs["a1"].id, orgs["a1"])
    db.session.commit()
    landing = client.get(f"/q/{qr.code}", headers=UA)
    page = client.get(landing.headers["Location"], headers=UA)
    assert page.status_code == 200 and "写下您的微心愿" in page.get_data(as_text=True)
    assert wechat.authorized == []


# --- mini-program ------------------------------------------------------------------------------

def test_miniprogram_login_gives_a_bearer_token(client, wechat):
    code = wechat.miniprogram_code("o-mp-resident")
    response = client.post("/api/v1/auth/wechat/miniprogram", json={"code": code})
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"]["name"] == service.VISITOR_NAME and body["token_type"] == "Bearer"
    assert me(client, {"Authorization": f"Bearer {body['token']}"})["id"] == body["user"]["id"]
    again = client.post("/api/v1/auth/wechat/miniprogram", json={"code": code})
    assert again.status_code == 400 and again.get_json()["error"]["code"] == "wechat_code_used"
    second = client.post("/api/v1/auth/wechat/miniprogram", json={"code": wechat.miniprogram_code("o-mp-resident")})
    assert second.get_json()["user"]["id"] == body["user"]["id"]
    assert client.post("/api/v1/auth/wechat/miniprogram", json={}).status_code == 422
    bad = client.post("/api/v1/auth/wechat/miniprogram", json={"code": "made-up"})
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "wechat_code_invalid"
    assert [c["appid"] for c in wechat.calls_to("/sns/jscode2session")] == [MP_APP_ID] * 4


def test_miniprogram_busy_wechat_is_503(client, wechat):
    wechat.fail_next(1, errcode=-1)
    response = client.post("/api/v1/auth/wechat/miniprogram", json={"code": wechat.miniprogram_code("o-mp")})
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "wechat_unavailable"


# --- binding codes -------------------------------------------------------------------------------

def issue(client, headers, person: Person):
    return client.post(f"/api/v1/people/{person.id}/binding-codes", headers=headers)


def test_staff_issue_a_one_time_binding_code(client, wechat, orgs):
    response = issue(client, f.login(client, "sec_a"), people("周晓燕"))
    assert response.status_code == 201
    body = response.get_json()
    assert body["url"] == f"{BASE}/h5/bind?code={body['code']}"
    expires = utcnow() + timedelta(hours=24)
    assert abs((db.session.scalar(sa.select(BindingCode.expires_at)) - expires).total_seconds()) < 60
    assert re.search(r"[+-]\d\d:\d\d$", body["expires_at"])   # with its offset
    # only a hash is stored
    stored = db.session.scalars(sa.select(BindingCode.code_hash)).all()
    assert body["code"] not in stored and len(stored) == 1


@pytest.mark.parametrize(("who", "whom", "status"), [
    ("sec_a", "张建华", 201),        # a secretary outranks the grid leader of their community
    ("leader_a1", "周晓燕", 201),    # a grid leader for a volunteer of their grid
    ("member_a1", "周晓燕", 201),    # grid members are staff too
    ("member_a1", "张建华", 403),    # but cannot take over their grid leader's account
    ("leader_a1", "李红梅", 404),    # nor see the secretary above them
    ("vol_a1", "周晓燕", 403),       # volunteers are not staff, not even for themselves
    ("leader_a1", "张建华", 201),    # staff bind their own WeChat
])
def test_who_may_issue_a_binding_code(client, wechat, orgs, who, whom, status):
    response = issue(client, f.login(client, who), people(whom))
    assert response.status_code == status, response.get_json()


def test_a_binding_code_needs_a_signed_in_staff_member(client, wechat, orgs):
    assert issue(client, {}, people("周晓燕")).status_code == 401
    f.person("别处书记", username="sec_b", role="secretary", org=orgs["b"])
    assert issue(client, f.login(client, "sec_b"), people("周晓燕")).status_code == 404
    assert client.post("/api/v1/people/99999/binding-codes", headers=f.login(client, "sec_a")).status_code == 404


def new_code(client, person: Person, username: str = "sec_a") -> str:
    return issue(client, f.login(client, username), person).get_json()["code"]


def bind_in_wechat(client, wechat, code: str, openid: str, **user):
    """The binding page, its button, the trip to WeChat and back."""
    page = client.get(f"/h5/bind?code={code}", headers=UA)
    assert page.status_code == 200, page.get_data(as_text=True)
    start = client.post("/h5/bind", data={"code": code, "csrf_token": csrf_from(page)}, headers=UA)
    assert start.status_code == 302, start.get_data(as_text=True)
    wechat.sign_in_as(openid, **user)
    answer = requests.get(start.headers["Location"], headers=UA, allow_redirects=False, timeout=10)
    return client.get(callback_path(answer), headers=UA)


def test_binding_links_the_wechat_and_signs_the_volunteer_in(client, wechat, orgs):
    volunteer = people("周晓燕")
    code = new_code(client, volunteer)
    page = client.get(f"/h5/bind?code={code}", headers=UA).get_data(as_text=True)
    assert "周**" in page and "周晓燕" not in page and "绑定本微信" in page
    phone = client.application.test_client()
    response = bind_in_wechat(phone, wechat, code, "o-volunteer")
    assert response.status_code == 302 and response.headers["Location"] == "/h5/bind/done"
    assert "绑定成功" in phone.get("/h5/bind/done", headers=UA).get_data(as_text=True)
    assert me(phone)["id"] == volunteer.id
    assert identities() == [("o-volunteer", "周晓燕", "binding")]
    assert db.session.scalar(sa.select(BindingCode.used_at)) is not None

    # the next visit in a new browser is silent
    later = client.application.test_client()
    assert web_sign_in(later, wechat, "o-volunteer").status_code == 302
    assert me(later)["id"] == volunteer.id
    # the code works once
    used = later.get(f"/h5/bind?code={code}", headers=UA)
    assert error_of(used) == (410, "binding_code_used") and "已使用过" in used.get_data(as_text=True)


def test_bad_and_expired_binding_codes_are_clear_pages(client, wechat, orgs):
    assert error_of(client.get("/h5/bind?code=nonsense", headers=UA)) == (404, "binding_code_not_found")
    assert error_of(client.get("/h5/bind", headers=UA)) == (404, "binding_code_not_found")
    code = new_code(client, people("周晓燕"))
    db.session.execute(sa.update(BindingCode).values(expires_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    page = client.get(f"/h5/bind?code={code}", headers=UA)
    assert error_of(page) == (410, "binding_code_expired") and "已过期" in page.get_data(as_text=True)


def test_a_code_used_while_the_binder_was_at_wechat_is_refused(client, wechat, orgs):
    volunteer = people("周晓燕")
    code = new_code(client, volunteer)
    page = client.get(f"/h5/bind?code={code}", headers=UA)
    start = client.post("/h5/bind", data={"code": code, "csrf_token": csrf_from(page)}, headers=UA)
    # meanwhile someone else binds with the same code in the mini-program
    other = client.post("/api/v1/auth/wechat/miniprogram",
                        json={"code": wechat.miniprogram_code("o-quick"), "binding_code": code})
    assert other.status_code == 200
    wechat.sign_in_as("o-slow")
    answer = requests.get(start.headers["Location"], headers=UA, allow_redirects=False, timeout=10)
    assert error_of(client.get(callback_path(answer), headers=UA)) == (410, "binding_code_used")
    assert [o for o, _, _ in identities()] == ["o-quick"]


def test_a_wechat_bound_to_someone_else_is_refused_and_the_code_kept(client, wechat, orgs):
    bind_in_wechat(client.application.test_client(), wechat, new_code(client, people("周晓燕")), "o-shared")
    code = new_code(client, people("张建华"))
    response = bind_in_wechat(client.application.test_client(), wechat, code, "o-shared")
    assert error_of(response) == (409, "wechat_already_bound")
    assert "已绑定其他人员" in response.get_data(as_text=True)
    assert identities() == [("o-shared", "周晓燕", "binding")]
    assert db.session.scalar(sa.select(BindingCode.used_at).where(BindingCode.person_id == people("张建华").id)) is None


def test_a_first_visit_account_moves_to_the_bound_person(client, wechat, orgs):
    """A volunteer who opened a page before binding was made a bare resident: binding takes their
    WeChat over instead of refusing it."""
    phone = client.application.test_client()
    web_sign_in(phone, wechat, "o-early")
    assert identities() == [("o-early", service.VISITOR_NAME, "first_visit")]
    response = bind_in_wechat(phone, wechat, new_code(client, people("周晓燕")), "o-early")
    assert response.status_code == 302
    assert identities() == [("o-early", "周晓燕", "binding")]
    assert me(phone)["name"] == "周晓燕"


def test_binding_a_new_phone_replaces_the_old_wechat(client, wechat, orgs):
    volunteer = people("周晓燕")
    bind_in_wechat(client.application.test_client(), wechat, new_code(client, volunteer), "o-old-phone")
    bind_in_wechat(client.application.test_client(), wechat, new_code(client, volunteer), "o-new-phone")
    assert identities() == [("o-new-phone", "周晓燕", "binding")]
    lost = client.application.test_client()
    web_sign_in(lost, wechat, "o-old-phone")
    assert me(lost)["name"] == service.VISITOR_NAME    # the old phone is a stranger now


def test_a_snapshot_user_cannot_bind(client, wechat, orgs):
    response = bind_in_wechat(client, wechat, new_code(client, people("周晓燕")), "o-virtual", snapshot=True)
    assert error_of(response) == (400, "wechat_snapshot") and "使用完整服务" in response.get_data(as_text=True)


def test_the_binding_page_outside_wechat_says_to_scan_it_in_wechat(client, wechat, orgs):
    page = client.get(f"/h5/bind?code={new_code(client, people('周晓燕'))}").get_data(as_text=True)
    assert "扫一扫" in page and "绑定本微信" not in page


def test_staff_get_the_binding_qr_on_the_org_page(client, wechat, orgs):
    h5_login(client)
    org_page = client.get(f"/h5/orgs/{orgs['a1'].id}")
    text = org_page.get_data(as_text=True)
    volunteer = people("周晓燕")
    assert f"/h5/people/{volunteer.id}/binding-code" in text
    shown = client.post(f"/h5/people/{volunteer.id}/binding-code",
                        data={"csrf_token": csrf_from(org_page), "back": f"/h5/orgs/{orgs['a1'].id}"})
    assert shown.status_code == 200
    page = shown.get_data(as_text=True)
    assert "<svg" in page and f"{BASE}/h5/bind?code=" in page and "周晓燕 的微信绑定码" in page
    refused = client.post(f"/h5/people/{people('李红梅').id + 1000}/binding-code",
                          data={"csrf_token": csrf_from(org_page)})
    assert refused.status_code == 404


def test_binding_in_the_mini_program(client, wechat, orgs):
    volunteer = people("周晓燕")
    response = client.post("/api/v1/auth/wechat/miniprogram", json={
        "code": wechat.miniprogram_code("o-mp-vol", unionid="u-vol"), "binding_code": new_code(client, volunteer)})
    assert response.status_code == 200 and response.get_json()["user"]["id"] == volunteer.id
    # the pages then know them by unionid, without a second binding
    web_sign_in(client, wechat, "o-h5-vol", unionid="u-vol")
    assert me(client)["id"] == volunteer.id


def test_old_binding_codes_are_purged(client, wechat, orgs):
    new_code(client, people("周晓燕"))
    new_code(client, people("张建华"))
    db.session.execute(sa.update(BindingCode).where(BindingCode.person_id == people("张建华").id)
                       .values(expires_at=utcnow() - timedelta(days=31)))
    db.session.commit()
    assert service.purge_binding_codes() == 1
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BindingCode)) == 1


# --- the access token and subscribe messages -----------------------------------------------------

def mp_client(base_url: str) -> WechatClient:
    return WechatClient(base_url, MP_APP_ID, MP_SECRET)


def test_the_access_token_is_fetched_once_and_refreshed_when_refused(app):
    with fake_wechat() as (base_url, fake):
        client = mp_client(base_url)
        client.send_subscribe("o-1", "tmpl", {"thing1": "敬老院义务理发"}, page="pages/index")
        client.send_subscribe("o-1", "tmpl", {"thing1": "第二条"})
        assert len(fake.calls_to("/cgi-bin/stable_token")) == 1       # cached
        assert fake.sent[0] == {"touser": "o-1", "template_id": "tmpl", "lang": "zh_CN", "page": "pages/index",
                                "data": {"thing1": {"value": "敬老院义务理发"}}}

        fake.expire_tokens()                                            # 42001: a normal fetch renews it
        client.send_subscribe("o-1", "tmpl", {"thing1": "过期后"})
        assert [c["force_refresh"] for c in fake.calls_to("/cgi-bin/stable_token")] == [False, False]

        fake.revoke_tokens()                                            # 40001: only a forced refresh helps
        client.send_subscribe("o-1", "tmpl", {"thing1": "作废后"})
        assert [c["force_refresh"] for c in fake.calls_to("/cgi-bin/stable_token")] == [False, False, False, True]
        assert len(fake.sent) == 4

        # a second process starts with an empty cache and is handed the same token, invalidating nobody's
        current = client.access_token()
        wechat_client._tokens.clear()
        assert mp_client(base_url).access_token() == current
        assert fake.calls_to("/cgi-bin/stable_token")[-1]["force_refresh"] is False


@pytest.mark.parametrize(("failure", "kind", "retryable"), [
    ({"errcode": 43101}, ErrorKind.user_refused, False),
    ({"errcode": -1}, ErrorKind.busy, True),
    ({"http_status": 500}, ErrorKind.busy, True),
    ({"errcode": 47003}, ErrorKind.other, False),
])
def test_wechat_errors_are_typed(app, failure, kind, retryable):
    with fake_wechat() as (base_url, fake):
        client = mp_client(base_url)
        client.access_token()
        fake.fail_next(1, path="/cgi-bin/message/subscribe/send", **failure)
        with pytest.raises(WechatError) as refused:
            client.send_subscribe("o-1", "tmpl", {"thing1": "x"})
        assert refused.value.kind == kind and refused.value.retryable is retryable


def test_an_unreachable_wechat_is_retryable(app):
    with fake_wechat() as (base_url, _fake):
        pass   # the server is gone
    with pytest.raises(WechatError) as refused:
        mp_client(base_url).miniprogram_user("x")
    assert refused.value.retryable and refused.value.errcode is None


# --- settings and the contract -------------------------------------------------------------------

def test_an_app_id_without_its_secret_is_a_config_error(monkeypatch):
    monkeypatch.setenv("WECHAT_APP_ID", "wx123")
    monkeypatch.delenv("WECHAT_APP_SECRET", raising=False)
    with pytest.raises(ConfigError, match="WECHAT_APP_SECRET"):
        load_config()
    monkeypatch.setenv("WECHAT_APP_SECRET", "s")
    monkeypatch.setenv("WECHAT_TEMPLATES", "wish_claimed=T1, activity_reminder=T2")
    cfg = load_config()
    assert cfg["WECHAT_TEMPLATES"] == {"wish_claimed": "T1", "activity_reminder": "T2"}
    assert cfg["WECHAT_API_BASE"] == "https://api.weixin.qq.com"


def test_the_wechat_endpoints_are_documented(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/auth/wechat/authorize", "/api/v1/auth/wechat/callback", "/api/v1/auth/wechat/miniprogram",
                 "/api/v1/people/{person_id}/binding-codes", "/api/v1/me"):
        assert path in paths, path
