"""The address people reach the site by, for what leaves the screen: printed QR codes and
posters, binding slips, the WeChat sign-in's way back.

PUBLIC_BASE_URL, when set, is that address. Without it a default of http://127.0.0.1:5000
would be printed into every code whatever the server is really reached by, so inside a
request the request's own address is used: its Host (or, from a trusted proxy only, the
forwarded host and scheme, backend/core/proxies.py). Jobs and commands, outside any request,
keep PUBLIC_BASE_URL or its default.
"""

from __future__ import annotations

from flask import current_app, has_request_context, request


def public_base_url() -> str:
    """Scheme, host and port (no trailing slash) of the site as people reach it."""
    if has_request_context() and not current_app.config["PUBLIC_BASE_URL_SET"]:
        return request.host_url.rstrip("/")
    return current_app.config["PUBLIC_BASE_URL"]
