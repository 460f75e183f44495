"""A fake WeChat on 127.0.0.1: real HTTP, written from WeChat's documentation, for the parts
Sanwei uses.

- `GET /connect/oauth2/authorize` — the page WeChat shows inside its browser. snsapi_base asks
  nothing, so it redirects straight back to `redirect_uri` with a fresh code and the `state`,
  as WeChat does; the code stands for the user chosen with `sign_in_as` (outside WeChat's
  browser it shows WeChat's "请在微信客户端打开链接" instead).
- `GET /sns/oauth2/access_token` — a web code → openid (+ unionid, is_snapshotuser).
- `GET /sns/jscode2session` — a mini-program code (from `miniprogram_code`) → openid.
  Codes of both kinds work once (40163 after) and for five minutes (40029 after).
- `POST /cgi-bin/stable_token` — the app's access token: the same one until it expires,
  a new one on force_refresh (the old one stays valid five more minutes, as documented).
- `POST /cgi-bin/message/subscribe/send` — records what was sent (mini-program).
- `GET /cgi-bin/ticket/getticket?type=jsapi` — the JS-SDK ticket (needs a live access token).
- `POST /cgi-bin/message/subscribe/bizsend` — a 服务号 subscribe notification: refused with
  43101 unless the user allowed the template (each one-time "允许" allows one message; a
  long-term one allows until `unsubscribe`), `thing` values over 20 characters refused with
  47003, as WeChat does; records what was sent.
- `GET /open/js/jweixin.js` — a stand-in for WeChat's JS-SDK inside the browser: `wx.config`
  is checked against the ticket (signature, appId, the page's URL), `<wx-open-subscribe>`
  renders its template and, when tapped, records the current user's "允许" and fires `success`
  with `subscribeDetails` as WeChat does, and `updateAppMessageShareData` /
  `updateTimelineShareData` record the share card (refused before `wx.config` succeeded, or
  when the config did not list them, as WeChat does). The real SDK talks to the WeChat app, not over HTTP;
  the stand-in's two calls go to the page's own origin under `/__wechat_jssdk/` (the pages'
  Content-Security-Policy allows no other), where the browser test answers them with
  `jssdk_call` (`page.route`).
- Error injection: `fail_next(n, errcode=...)` or `fail_next(n, http_status=500)`, optionally for
  one path only.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from werkzeug.wrappers import Request, Response

from tests.live import serve_wsgi

H5_APP_ID, H5_SECRET = "wxfakeh5app000001", "fake-h5-secret"
MP_APP_ID, MP_SECRET = "wxfakeminiprog001", "fake-mp-secret"
CODE_SECONDS = 300
TOKEN_SECONDS = 7200
#: A replaced access token keeps working this long after a forced refresh.
TOKEN_GRACE_SECONDS = 300
#: What the user's browser reaches (not the server API): no error injection there.
BROWSER_PATHS = {"/connect/oauth2/authorize", "/open/js/jweixin.js"}
STATE_RE = re.compile(r"^[A-Za-z0-9]{1,128}$")


@dataclass
class FakeUser:
    openid: str
    unionid: str | None = None
    is_snapshotuser: bool = False


@dataclass
class _Code:
    app_id: str
    user: FakeUser
    issued: float
    used: bool = False


@dataclass
class _Token:
    value: str
    expires: float


class FakeWechat:
    def __init__(self):
        self.lock = threading.Lock()
        #: Who is "using WeChat" when the browser reaches the authorize page.
        self.user = FakeUser("o-visitor-0001")
        #: Hand back this code (instead of a fresh one) on the next authorize.
        self.next_code: str | None = None
        self.codes: dict[str, _Code] = {}
        self.tokens: dict[str, list[_Token]] = {}
        self.revoked: set[str] = set()
        #: (path or None for any, errcode or None, http status or None), consumed in order.
        self.failures: list[tuple[str | None, int | None, int | None]] = []
        #: Every request: (path, query or JSON body).
        self.calls: list[tuple[str, dict]] = []
        self.authorized: list[dict] = []
        self.sent: list[dict] = []
        #: 服务号 subscribe notifications delivered: what bizsend accepted.
        self.biz_sent: list[dict] = []
        #: (openid, template id) → one-time messages allowed, or None for a long-term subscription.
        self.subscriptions: dict[tuple[str, str], int | None] = {}
        self.long_term_templates: set[str] = set()
        self.tickets: dict[str, str] = {}
        #: Every wx.config the JS-SDK stand-in checked: (config, page URL, verdict).
        self.configs: list[tuple[dict, str, bool]] = []
        #: Every wx.scanQRCode call, and the address the next scan "finds" (None: the user cancels).
        self.scans: list[dict] = []
        self.scan_result: str | None = None
        #: Share cards the pages set: (interface, its data, page URL).
        self.shares: list[tuple[str, dict, str]] = []
        self.apps = {H5_APP_ID: H5_SECRET, MP_APP_ID: MP_SECRET}

    # --- what a test controls ---------------------------------------------------------------

    def sign_in_as(self, openid: str, unionid: str | None = None, snapshot: bool = False) -> None:
        """The WeChat user whose browser reaches the authorize page next."""
        self.user = FakeUser(openid, unionid, snapshot)

    def miniprogram_code(self, openid: str, unionid: str | None = None) -> str:
        """What wx.login() would give the mini-program of this user."""
        return self._issue(MP_APP_ID, FakeUser(openid, unionid))

    def fail_next(self, n: int = 1, *, errcode: int | None = None, http_status: int | None = None,
                  path: str | None = None) -> None:
        self.failures += [(path, errcode, http_status)] * n

    def expire_tokens(self) -> None:
        """Every access token runs out now (42001), as after two hours."""
        for tokens in self.tokens.values():
            for token in tokens:
                token.expires = time.monotonic() - 1

    def revoke_tokens(self) -> None:
        """Tokens refused (40001) while stable_token's normal mode still returns them, as after a
        secret reset: only force_refresh helps."""
        self.revoked |= {token.value for tokens in self.tokens.values() for token in tokens}

    def subscribe(self, openid: str, template_id: str) -> None:
        """The user tapped 允许 for this template (what the open tag's dialog records)."""
        if template_id in self.long_term_templates:
            self.subscriptions[(openid, template_id)] = None
        else:
            self.subscriptions[(openid, template_id)] = (self.subscriptions.get((openid, template_id)) or 0) + 1

    def unsubscribe(self, openid: str, template_id: str) -> None:
        """The user turned the template off in WeChat's settings."""
        self.subscriptions.pop((openid, template_id), None)

    def age_codes(self, seconds: float) -> None:
        for code in self.codes.values():
            code.issued -= seconds

    def calls_to(self, path: str) -> list[dict]:
        return [params for p, params in self.calls if p == path]

    def config(self, base_url: str) -> dict:
        """Settings that point Sanwei at this fake, both apps configured."""
        return {"WECHAT_APP_ID": H5_APP_ID, "WECHAT_APP_SECRET": H5_SECRET, "WECHAT_MP_APP_ID": MP_APP_ID,
                "WECHAT_MP_SECRET": MP_SECRET, "WECHAT_API_BASE": base_url, "WECHAT_OPEN_BASE": base_url,
                "WECHAT_JSSDK_URL": f"{base_url}/open/js/jweixin.js"}

    # --- the server -------------------------------------------------------------------------

    def _issue(self, app_id: str, user: FakeUser) -> str:
        code = secrets.token_hex(16)
        self.codes[code] = _Code(app_id, user, time.monotonic())
        return code

    def _injected(self, path: str) -> Response | None:
        for i, (only, errcode, status) in enumerate(self.failures):
            if only is None or only == path:
                del self.failures[i]
                if status is not None:
                    return Response("<html>502 Bad Gateway</html>", status=status)
                return _json({"errcode": errcode, "errmsg": f"injected error {errcode}"})
        return None

    def __call__(self, environ, start_response):
        request = Request(environ)
        path = request.path
        params = dict(request.args)
        if request.method == "POST":
            params.update(request.get_json(silent=True) or {})
        with self.lock:
            self.calls.append((path, params))
            response = self._injected(path) if path not in BROWSER_PATHS else None
            if response is None:
                response = self._route(path, request, params)
        return response(environ, start_response)

    def _route(self, path: str, request: Request, params: dict) -> Response:
        routes = {
            "/connect/oauth2/authorize": self._authorize,
            "/sns/oauth2/access_token": self._oauth_access_token,
            "/sns/jscode2session": self._jscode2session,
            "/cgi-bin/stable_token": self._stable_token,
            "/cgi-bin/message/subscribe/send": self._subscribe_send,
            "/cgi-bin/message/subscribe/bizsend": self._biz_send,
            "/cgi-bin/ticket/getticket": self._getticket,
            "/open/js/jweixin.js": self._jssdk,
        }
        handler = routes.get(path)
        if handler is None:
            return Response("not found", status=404)
        return handler(request, params)

    def _authorize(self, request: Request, params: dict) -> Response:
        if "MicroMessenger" not in request.headers.get("User-Agent", ""):
            return Response("<html><body>请在微信客户端打开链接</body></html>", mimetype="text/html")
        redirect_uri, state = params.get("redirect_uri", ""), params.get("state", "")
        if params.get("appid") != H5_APP_ID or params.get("response_type") != "code" \
                or params.get("scope") not in ("snsapi_base", "snsapi_userinfo") \
                or urlsplit(redirect_uri).scheme not in ("http", "https") or (state and not STATE_RE.match(state)):
            return Response("<html><body>参数错误</body></html>", status=400, mimetype="text/html")
        self.authorized.append(params)
        code = self.next_code or self._issue(H5_APP_ID, self.user)
        self.next_code = None
        separator = "&" if "?" in redirect_uri else "?"
        back = f"{redirect_uri}{separator}{urlencode({'code': code, 'state': state})}"
        return Response(status=302, headers={"Location": back})

    def _app_error(self, params: dict) -> Response | None:
        if params.get("appid") not in self.apps:
            return _json({"errcode": 40013, "errmsg": "invalid appid"})
        if self.apps[params["appid"]] != params.get("secret"):
            return _json({"errcode": 40125, "errmsg": "invalid appsecret"})
        return None

    def _take_code(self, app_id: str, value: str) -> _Code | Response:
        code = self.codes.get(value)
        if code is None or code.app_id != app_id or time.monotonic() - code.issued > CODE_SECONDS:
            return _json({"errcode": 40029, "errmsg": "invalid code"})
        if code.used:
            return _json({"errcode": 40163, "errmsg": "code been used"})
        code.used = True
        return code

    def _oauth_access_token(self, request: Request, params: dict) -> Response:
        refused = self._app_error(params)
        if refused is not None or params.get("grant_type") != "authorization_code":
            return refused or _json({"errcode": 40002, "errmsg": "invalid grant_type"})
        code = self._take_code(params["appid"], params.get("code", ""))
        if isinstance(code, Response):
            return code
        body = {"access_token": "web-" + secrets.token_hex(8), "expires_in": 7200,
                "refresh_token": "refresh-" + secrets.token_hex(8), "openid": code.user.openid,
                "scope": "snsapi_base"}
        if code.user.unionid:
            body["unionid"] = code.user.unionid
        if code.user.is_snapshotuser:
            body["is_snapshotuser"] = 1
        return _json(body)

    def _jscode2session(self, request: Request, params: dict) -> Response:
        refused = self._app_error(params)
        if refused is not None:
            return refused
        code = self._take_code(params["appid"], params.get("js_code", ""))
        if isinstance(code, Response):
            return code
        body = {"openid": code.user.openid, "session_key": secrets.token_urlsafe(16)}
        if code.user.unionid:
            body["unionid"] = code.user.unionid
        return _json(body)

    def _stable_token(self, request: Request, params: dict) -> Response:
        refused = self._app_error(params)
        if refused is not None or params.get("grant_type") != "client_credential":
            return refused or _json({"errcode": 40002, "errmsg": "invalid grant_type"})
        now = time.monotonic()
        tokens = self.tokens.setdefault(params["appid"], [])
        current = tokens[-1] if tokens else None
        if params.get("force_refresh") or current is None or current.expires <= now:
            if current is not None and params.get("force_refresh"):
                current.expires = min(current.expires, now + TOKEN_GRACE_SECONDS)
            current = _Token("token-" + secrets.token_hex(12), now + TOKEN_SECONDS)
            tokens.append(current)
        return _json({"access_token": current.value, "expires_in": int(current.expires - now)})

    def _token_error(self, value: str) -> Response | None:
        now = time.monotonic()
        for tokens in self.tokens.values():
            for token in tokens:
                if token.value == value and value not in self.revoked:
                    return None if token.expires > now else _json({"errcode": 42001, "errmsg": "access_token expired"})
        return _json({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"})

    def _subscribe_send(self, request: Request, params: dict) -> Response:
        refused = self._token_error(request.args.get("access_token", ""))
        if refused is not None:
            return refused
        self.sent.append({k: v for k, v in params.items() if k != "access_token"})
        return _json({"errcode": 0, "errmsg": "ok"})

    def _getticket(self, request: Request, params: dict) -> Response:
        refused = self._token_error(request.args.get("access_token", ""))
        if refused is not None or params.get("type") != "jsapi":
            return refused or _json({"errcode": 40097, "errmsg": "invalid args"})
        app_id = next(a for a, tokens in self.tokens.items()
                      if any(t.value == request.args["access_token"] for t in tokens))
        ticket = self.tickets.setdefault(app_id, "ticket-" + secrets.token_hex(12))
        return _json({"errcode": 0, "errmsg": "ok", "ticket": ticket, "expires_in": 7200})

    def _biz_send(self, request: Request, params: dict) -> Response:
        refused = self._token_error(request.args.get("access_token", ""))
        if refused is not None:
            return refused
        key = (params.get("touser", ""), params.get("template_id", ""))
        if key not in self.subscriptions:
            return _json({"errcode": 43101, "errmsg": "user refuse to accept the msg"})
        data = params.get("data") or {}
        if any(name.startswith("thing") and len(str(item.get("value", ""))) > 20 for name, item in data.items()):
            return _json({"errcode": 47003, "errmsg": "argument invalid! data.thing.value exceeds limit"})
        if self.subscriptions[key] is not None:
            self.subscriptions[key] -= 1
            if self.subscriptions[key] == 0:
                del self.subscriptions[key]
        self.biz_sent.append({k: v for k, v in params.items() if k != "access_token"})
        return _json({"errcode": 0, "errmsg": "ok"})

    def signature(self, ticket: str, nonce: str, timestamp: str, url: str) -> str:
        plain = f"jsapi_ticket={ticket}&noncestr={nonce}&timestamp={timestamp}&url={url}"
        return hashlib.sha1(plain.encode()).hexdigest()

    def _jssdk(self, request: Request, params: dict) -> Response:
        return Response(JSSDK, mimetype="application/javascript")

    def jssdk_call(self, call: str, body: dict) -> dict:
        """What the JS-SDK stand-in asks: `verify` a wx.config for a page URL, `scan` a QR code
        (wx.scanQRCode: WeChat opens what it read, `scan_result`), `share` (a card set), or
        `subscribe` the current user to templates (the tap on the open tag)."""
        with self.lock:
            if call == "share":
                self.shares.append((body.get("api", ""), body.get("data") or {}, body.get("url", "")))
                return {"ok": True}
            if call == "verify":
                config, url = body.get("config") or {}, body.get("url", "")
                ticket = self.tickets.get(config.get("appId", ""))
                good = ticket is not None and "wx-open-subscribe" in (config.get("openTagList") or []) and \
                    config.get("signature") == self.signature(ticket, str(config.get("nonceStr")),
                                                              str(config.get("timestamp")), url)
                self.configs.append((config, url, good))
                return {"ok": good}
            if call == "scan":
                self.scans.append(body)
                return {"url": self.scan_result}
            details = {}
            for template_id in body.get("templates", []):
                self.subscribe(self.user.openid, template_id)
                details[template_id] = json.dumps({"status": "accept"})
            return {"subscribeDetails": json.dumps(details)}


#: The JS-SDK stand-in; its calls go to the page's own origin (see `jssdk_call`).
JSSDK = """
(function () {
  var readyFns = [], errorFns = [], state = null, apis = [];
  function post(call, body) {
    return fetch("/__wechat_jssdk/" + call, { method: "POST", body: JSON.stringify(body) })
      .then(function (r) { return r.json(); });
  }
  window.wx = {
    config: function (config) {
      apis = config.jsApiList || [];
      post("verify", { config: config, url: location.href.split("#")[0] }).then(function (r) {
        state = r.ok ? "ready" : "error";
        var waiting = r.ok ? readyFns : errorFns;
        waiting.forEach(function (fn) { fn(r.ok ? undefined : { errMsg: "config:invalid signature" }); });
      });
    },
    ready: function (fn) { if (state === "ready") fn(); else readyFns.push(fn); },
    scanQRCode: function (opts) {
      post("scan", { needResult: opts.needResult, scanType: opts.scanType }).then(function (r) {
        if (r.url) location.href = r.url;
        else if (opts.fail) opts.fail({ errMsg: "scanQRCode:cancel" });
      });
    },
    error: function (fn) { if (state === "error") fn({ errMsg: "config:invalid signature" }); else errorFns.push(fn); }
  };
  ["updateAppMessageShareData", "updateTimelineShareData"].forEach(function (api) {
    window.wx[api] = function (data) {
      if (state !== "ready" || apis.indexOf(api) < 0) {
        if (data.fail) data.fail({ errMsg: api + ":permission denied" });
        return;
      }
      var card = {};
      Object.keys(data).forEach(function (k) { if (typeof data[k] !== "function") card[k] = data[k]; });
      post("share", { api: api, data: card, url: location.href.split("#")[0] }).then(function () {
        window.wx.sharedCards = (window.wx.sharedCards || 0) + 1;   // for tests to wait on
        if (data.success) data.success({ errMsg: api + ":ok" });
      });
    };
  });
  customElements.define("wx-open-subscribe", class extends HTMLElement {
    connectedCallback() {
      var self = this, tpl = this.querySelector('script[type="text/wxtag-template"]');
      var root = this.attachShadow({ mode: "open" });
      root.innerHTML = tpl ? tpl.textContent : "";
      root.addEventListener("click", function () {
        if (state !== "ready") return self.dispatchEvent(new CustomEvent("error", { detail: { errCode: -1 } }));
        post("subscribe", { templates: self.getAttribute("template").split(",") }).then(function (r) {
          self.dispatchEvent(new CustomEvent("success", { detail: { errMsg: "subscribe:ok",
            subscribeDetails: r.subscribeDetails } }));
        });
      });
    }
  });
})();
"""


def _json(body: dict) -> Response:
    # WeChat answers errors with HTTP 200 too.
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/json")


@contextmanager
def fake_wechat() -> Iterator[tuple[str, FakeWechat]]:
    """(base URL, the fake) for the duration of the block."""
    fake = FakeWechat()
    with serve_wsgi(fake) as base_url:
        yield base_url, fake
