"""Who is making this request: a bearer token (API clients) or the H5 session cookie.

Cookie-authenticated writes must carry the CSRF token (header X-CSRF-Token or form field
csrf_token); bearer requests cannot be forged cross-site and need none.
"""

from __future__ import annotations

import hmac
import secrets
from functools import wraps

from flask import g, request, session

from backend.auth import service as auth_service
from backend.core.errors import DomainError, Unauthorized
from backend.core.permissions import Actor

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class CsrfFailed(DomainError):
    status, code, message = 400, "csrf_failed", "页面已过期，请刷新后重试"


def _resolve() -> None:
    g.actor = None
    g.auth_token = None
    g.auth_via = None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        found = auth_service.find_token(secret.strip(), "bearer") if scheme.lower() == "bearer" else None
        if found is None:
            raise Unauthorized("登录已失效，请重新登录", code="invalid_token")
        g.auth_via = "bearer"
    elif session.get("sid"):
        found = auth_service.find_token(session["sid"], "session")
        if found is None:
            session.pop("sid", None)
            return
        g.auth_via = "session"
    else:
        return
    # The token's id (what logout revokes) and who holds it.
    g.auth_token, g.actor = found


def current_actor() -> Actor | None:
    if "actor" not in g:
        _resolve()
    return g.actor


def require_actor() -> Actor:
    actor = current_actor()
    if actor is None:
        raise Unauthorized()
    return actor


def login_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        require_actor()
        return view(*args, **kwargs)
    return wrapper


def start_session(person) -> None:
    """Sign the browser in as `person`. The session starts afresh, so nothing of the anonymous
    one (an attacker may have planted its cookie) carries over; the caller commits."""
    secret, _ = auth_service.issue_token(person, "session")
    session.clear()
    session["sid"] = secret


def csrf_token() -> str:
    """The session's CSRF token, created on first use (also for anonymous visitors)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def check_csrf() -> None:
    """before_request: H5 form posts always, API writes when authenticated by cookie. A path
    no route takes is left to answer its 404 (or 405)."""
    if request.method in SAFE_METHODS or request.routing_exception is not None:
        return
    is_api = request.path.startswith("/api/")
    if is_api:
        current_actor()
        if g.auth_via != "session":
            return
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent, expected):
        raise CsrfFailed()


def client_ip() -> str:
    """The client's address: behind a trusted proxy, the one it put in X-Forwarded-For
    (backend/core/proxies.py); otherwise whoever opened the connection."""
    return request.remote_addr or "unknown"
