"""The one HTTP client for WeChat's server API: web authorisation codes, mini-program login
codes, the access token, the JS-SDK ticket and subscribe messages.

Everything goes through `requests` with timeouts to a configurable base URL (the real
api.weixin.qq.com in production, a fake on loopback in tests). WeChat answers errors with
HTTP 200 and `{"errcode", "errmsg"}`; they become `WechatError`, classified so that callers
can tell a bad code from a used one from a busy server.

The access token belongs to the app, not to a process: several gunicorn workers and the
scheduler each keep a copy. It is fetched with `stable_token`, whose normal mode hands every
caller the same live token instead of invalidating the previous one (the old `token`
endpoint did, so two processes kept knocking each other's token out). Only when WeChat
says a token is invalid (40001/40014) or expired (42001) and a normal fetch returns that same
token again is a forced refresh asked for; those are limited per day.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

#: Connect and read timeouts in seconds: a sign-in waits on this, so fail fast.
TIMEOUT = (3.05, 10)
#: Refetch a cached access token this long before WeChat says it expires.
TOKEN_MARGIN_SECONDS = 300


class ErrorKind(enum.StrEnum):
    invalid_code = "invalid_code"
    code_used = "code_used"
    user_refused = "user_refused"
    token_invalid = "token_invalid"
    busy = "busy"
    other = "other"


#: WeChat errcode → what it means to us.
ERRCODES = {
    40029: ErrorKind.invalid_code,     # invalid code (wrong, expired, or for another app)
    40163: ErrorKind.code_used,        # code been used
    43101: ErrorKind.user_refused,     # user refuse to accept the msg (no subscription)
    40001: ErrorKind.token_invalid,    # invalid credential (access token revoked or wrong)
    40014: ErrorKind.token_invalid,    # invalid access_token
    42001: ErrorKind.token_invalid,    # access_token expired
    -1: ErrorKind.busy,                # system error, try again
    45009: ErrorKind.busy,             # daily API quota reached
    45011: ErrorKind.busy,             # API minute quota reached
}


class WechatError(Exception):
    """WeChat refused or could not be reached. `errcode` is None for HTTP and network failures."""

    def __init__(self, errcode: int | None, errmsg: str):
        super().__init__(f"WeChat error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.kind = ErrorKind.busy if errcode is None else ERRCODES.get(errcode, ErrorKind.other)

    @property
    def retryable(self) -> bool:
        """Whether the same call may succeed later (a busy or unreachable server)."""
        return self.kind == ErrorKind.busy


@dataclass(frozen=True)
class WechatUser:
    """Who a code belongs to. A snapshot user (朋友圈快照页) has a virtual openid."""

    openid: str
    unionid: str | None = None
    is_snapshotuser: bool = False


#: One connection pool for the process.
_http = requests.Session()
#: (api base, appid, what) → (access token or JS-SDK ticket, monotonic time it should be replaced).
_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
#: Re-entrant: fetching the JS-SDK ticket needs the access token, fetched under the same lock.
_tokens_lock = threading.RLock()


class WechatClient:
    """One WeChat app (the 公众号 or the mini-program): its appid and secret."""

    def __init__(self, api_base: str, app_id: str, secret: str, http: requests.Session = _http):
        self.api_base, self.app_id, self.secret, self.http = api_base.rstrip("/"), app_id, secret, http

    def _call(self, method: str, path: str, **kwargs) -> dict:
        try:
            response = self.http.request(method, f"{self.api_base}/{path}", timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise WechatError(None, f"unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise WechatError(None, f"HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise WechatError(None, "not JSON") from None
        if not isinstance(body, dict):
            raise WechatError(None, "not a JSON object")
        if body.get("errcode"):
            raise WechatError(int(body["errcode"]), str(body.get("errmsg", "")))
        return body

    def oauth_user(self, code: str) -> WechatUser:
        """Web authorisation (snsapi_base): the openid a one-time code stands for."""
        body = self._call("GET", "sns/oauth2/access_token", params={
            "appid": self.app_id, "secret": self.secret, "code": code, "grant_type": "authorization_code"})
        return _user(body)

    def miniprogram_user(self, js_code: str) -> WechatUser:
        """Mini-program login (jscode2session): the openid a wx.login code stands for."""
        body = self._call("GET", "sns/jscode2session", params={
            "appid": self.app_id, "secret": self.secret, "js_code": js_code, "grant_type": "authorization_code"})
        return _user(body)

    def access_token(self, stale: str | None = None) -> str:
        """The app's access token, cached; `stale` is one WeChat just refused."""
        def fetch() -> dict:
            body = self._stable_token(force=False)
            if body["access_token"] == stale:
                # WeChat still hands out the token it refuses: only a forced refresh replaces it.
                body = self._stable_token(force=True)
            return body
        return _cached((self.api_base, self.app_id, "access_token"), "access_token", fetch, stale)

    def _stable_token(self, force: bool) -> dict:
        return self._call("POST", "cgi-bin/stable_token", json={
            "grant_type": "client_credential", "appid": self.app_id, "secret": self.secret, "force_refresh": force})

    def _with_token(self, method: str, path: str, **kwargs) -> dict:
        """A call that carries the access token, repeated once with a fresh token if WeChat says
        the cached one is invalid or expired."""
        params = kwargs.pop("params", {})
        token = self.access_token()
        try:
            return self._call(method, path, params={**params, "access_token": token}, **kwargs)
        except WechatError as exc:
            if exc.kind != ErrorKind.token_invalid:
                raise
        return self._call(method, path, params={**params, "access_token": self.access_token(stale=token)}, **kwargs)

    def jsapi_ticket(self) -> str:
        """The JS-SDK ticket that signs wx.config, cached like the access token (WeChat limits
        how often it may be fetched, and every page inside WeChat needs it)."""
        return _cached((self.api_base, self.app_id, "jsapi_ticket"), "ticket",
                       lambda: self._with_token("GET", "cgi-bin/ticket/getticket", params={"type": "jsapi"}))

    def send_subscribe(self, openid: str, template_id: str, data: dict[str, str], page: str | None = None) -> None:
        """A mini-program subscribe message (订阅消息) to `openid`; `data` maps template keys to
        values, `page` is a mini-program path."""
        self._with_token("POST", "cgi-bin/message/subscribe/send", json=_subscribe_payload(openid, template_id, data)
                         | ({"page": page} if page else {}))

    def send_biz_subscribe(self, openid: str, template_id: str, data: dict[str, str], url: str | None = None) -> None:
        """A 服务号 subscribe notification (订阅通知) to `openid`; `url` is the web page it opens."""
        self._with_token("POST", "cgi-bin/message/subscribe/bizsend", json=_subscribe_payload(openid, template_id, data)
                         | ({"page": url} if url else {}))


def _subscribe_payload(openid: str, template_id: str, data: dict[str, str]) -> dict:
    return {"touser": openid, "template_id": template_id, "lang": "zh_CN",
            "data": {key: {"value": value} for key, value in data.items()}}


def _cached(key: tuple[str, str, str], field: str, fetch: Callable[[], dict], stale: str | None = None) -> str:
    """A credential WeChat hands out for `expires_in` seconds, kept until shortly before then
    (or until the caller reports it `stale`). One lock: two threads never both fetch."""
    with _tokens_lock:
        cached = _tokens.get(key)
        if cached and cached[0] != stale and cached[1] > time.monotonic():
            return cached[0]
        body = fetch()
        expires_in = int(body.get("expires_in", 7200))
        _tokens[key] = (body[field], time.monotonic() + max(expires_in - TOKEN_MARGIN_SECONDS, 0))
        return body[field]


def _user(body: dict) -> WechatUser:
    if not body.get("openid"):
        raise WechatError(None, "no openid in the answer")
    return WechatUser(openid=str(body["openid"]), unionid=body.get("unionid") or None,
                      is_snapshotuser=body.get("is_snapshotuser") == 1)
