"""The browser's half of WeChat web authorisation: what its session cookie keeps between the
trip out to WeChat and the way back (backend.wechat.service holds the rules)."""

from __future__ import annotations

from flask import session

from backend.auth.current import start_session
from backend.wechat import service

#: The started authorisation: its state, where to go afterwards, a binding code.
PENDING = "wechat_auth"
#: WeChat said this browser is a snapshot guest: do not send it round again.
GUEST = "wechat_guest"


def start_web_sign_in(target: str | None, binding_code: str | None = None) -> str:
    """Remember a new authorisation in this browser's session; returns WeChat's authorize URL."""
    pending, url = service.begin_web_sign_in(target, binding_code)
    session[PENDING] = pending
    return url


def finish_web_sign_in(code: str, state: str) -> str:
    """Sign this browser in with what WeChat sent back; returns where to go. The kept state is
    dropped first, so a callback URL works once whatever happens."""
    person, target = service.finish_web_sign_in(session.pop(PENDING, None), code, state)
    if person is None:
        session[GUEST] = True
    else:
        start_session(person)
    return target


def signs_in_silently(user_agent: str) -> bool:
    """Whether this browser's page that needs sign-in goes through WeChat."""
    return service.signs_in_silently(user_agent, bool(session.get(GUEST)))
