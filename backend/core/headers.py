"""Security headers on every response.

HTML pages carry a Content-Security-Policy: scripts only from this site (and WeChat's JS-SDK)
or inline with this response's nonce, so an injected <script> or onclick="…" does not run;
pages hold no inline event handlers (h5/static/app.js wires data-confirm, data-print and
data-select instead). Served over HTTPS, every response carries Strict-Transport-Security.
Files someone uploaded are sandboxed where the viewer can still show them.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import Response, current_app, g

HSTS = "max-age=31536000"
#: A file served as itself (an uploaded photo or PDF): no script in it may run.
FILE_POLICY = "sandbox"


def csp_nonce() -> str:
    """The nonce of this response's inline scripts (templates: nonce="{{ csp_nonce() }}")."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def page_policy(nonce: str | None) -> str:
    """The Content-Security-Policy of an HTML page. Styles may be inline: bar widths are
    style attributes, and a style cannot run code."""
    config = current_app.config
    scripts = " ".join(filter(None, ["'self'", f"'nonce-{nonce}'" if nonce else "",
                                     _origin(config["WECHAT_JSSDK_URL"])]))
    # A form may lead to WeChat's authorisation page (binding a WeChat account).
    forms = " ".join(filter(None, ["'self'", _origin(config["WECHAT_OPEN_BASE"])]))
    return (f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            f"frame-ancestors 'none'; form-action {forms}")


def security_headers(response: Response) -> Response:
    """after_request: the headers every response carries."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    nonce = g.pop("csp_nonce", None)
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", page_policy(nonce))
    if current_app.config["PUBLIC_BASE_URL"].startswith("https://"):
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def sandbox_file(response: Response, content_type: str, user_agent: str) -> Response:
    """Serve an uploaded file sandboxed, unless it is a PDF and the viewer would then refuse to
    show it: Chromium's viewer (Chrome, Android WebView, WeChat) and Safari's never render a
    sandboxed page, Firefox's does. A PDF under nosniff is never read as a page of ours."""
    if content_type != "application/pdf" or "Firefox/" in user_agent:
        response.headers["Content-Security-Policy"] = FILE_POLICY
    return response
