"""Every `next` (the login page, WeChat sign-in, the binding sheet's way back) is a path on
this site or the page's local fallback — never another origin, never a 500.

The values are written as an attacker puts them in a URL (percent-encoded); browsers drop tabs
and newlines and read a backslash as a slash, so "/<tab>/evil.example" is "//evil.example".
"""

from __future__ import annotations

from urllib.parse import unquote

import pytest
import requests

from tests import factories as f
from tests.test_csrf_session import csrf_from, h5_login
from tests.test_wechat import UA, callback_path, wechat  # noqa: F401  (the fake WeChat fixture)

HOSTILE = [
    "/%09/evil.example",                 # tab
    "/%0A/x",                            # newline: a header would break
    "/%0D%0A/evil.example",
    "%0A//evil.example",
    "/%7F/evil.example",
    "//evil.example",
    "%2F%2Fevil.example",                # the same, encoded
    "///evil.example",
    "/%5Cevil.example",                  # backslash
    "%5C%5Cevil.example",
    "/%5C/evil.example",                 # "/\" is "//" to a browser
    "\\/evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt%3Aalert(1)",
    "%20javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "https://evil.example/h5/",
    "http:%2F%2Fevil.example",
    "https:evil.example",
    "evil.example/h5/",
    "%E3%80%80//evil.example",           # an ideographic space first
    "/h5/" + "a" * 5000,                 # very long: a Location header no proxy passes
]
HOME = "/h5/"


def _is_local(location: str) -> bool:
    return location.startswith("/") and not location.startswith("//") and "\\" not in location


@pytest.fixture
def staff(app):
    orgs = f.tree()
    f.person("李红梅", username="sec_a", role="secretary", org=orgs["a"])
    return orgs


@pytest.mark.parametrize("raw", HOSTILE)
def test_the_login_page_falls_back_home(client, staff, raw):
    form = client.get(f"/h5/login?next={raw}")
    assert form.status_code == 200 and unquote(raw) not in form.get_data(as_text=True)
    signed_in = h5_login(client, next_url=unquote(raw))
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == HOME
    again = client.get(f"/h5/login?next={raw}")     # already signed in: straight on
    assert again.status_code == 302 and again.headers["Location"] == HOME


@pytest.mark.parametrize("raw", HOSTILE)
def test_wechat_sign_in_comes_back_home(client, wechat, raw):  # noqa: F811
    wechat.sign_in_as("o-hostile")
    started = client.get(f"/api/v1/auth/wechat/authorize?next={raw}", headers=UA)
    assert started.status_code == 302
    answer = requests.get(started.headers["Location"], headers=UA, allow_redirects=False, timeout=10)
    back = client.get(callback_path(answer), headers=UA)
    assert back.status_code == 302 and back.headers["Location"] == HOME


@pytest.mark.parametrize("raw", HOSTILE)
def test_the_binding_sheet_links_back_home(client, staff, wechat, raw):  # noqa: F811
    h5_login(client)
    person = f.person("周晓燕", role="volunteer", org=staff["a1"])
    page = client.post(f"/h5/people/{person.id}/binding-code",
                       data={"back": unquote(raw), "csrf_token": csrf_from(client.get("/h5/me"))})
    assert page.status_code == 200
    assert f'<a href="{HOME}" class="weui-btn weui-btn_default">返回</a>' in page.get_data(as_text=True)


@pytest.mark.parametrize("target", ["/h5/orgs", "/h5/w/mine?tab=1", "/h5/p/3?qr=AB12#top", "/h5/心愿"])
def test_paths_on_this_site_are_kept(client, staff, target):
    response = h5_login(client, next_url=target)
    assert response.status_code == 302 and _is_local(response.headers["Location"])
    assert unquote(response.headers["Location"]) == target


def test_a_nul_in_next_is_refused_at_the_edge(client, staff):
    """A NUL byte is refused in any query string before a page sees it (400 invalid_character,
    a Chinese page): never a redirect, never a 500."""
    refused = client.get("/h5/login?next=/%00/evil.example")
    assert refused.status_code == 400 and "evil.example" not in refused.headers.get("Location", "")
