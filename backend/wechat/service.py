"""Signing in with WeChat, and binding a known person's WeChat with a one-time code.

Web authorisation (pages inside WeChat) uses `snsapi_base`: WeChat tells us the openid and
nothing else, without asking the user. The `state` sent to WeChat is kept, with where to go
afterwards, in the browser's own session (the caller stores what `begin_web_sign_in` returns
and hands it back to `finish_web_sign_in`), so a callback started in another browser — a
forged sign-in — is refused before the code is spent.

An openid that nobody has seen before becomes a resident with no other data. A snapshot user
(a page opened from 朋友圈 in snapshot mode, is_snapshotuser=1) has a virtual openid and stays
a guest. Staff and volunteers are known people: they bind their WeChat once with a binding
code issued by staff over them, and from then on are signed in silently.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import current_app, url_for
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from backend.auth.service import next_path
from backend.core.errors import Conflict, DomainError, Forbidden, Gone, NotFound, Unavailable
from backend.core.permissions import Actor, authorize
from backend.core.urls import public_base_url
from backend.extensions import db, utcnow
from backend.notifications.models import Notification
from backend.people.models import Person
from backend.people.service import create_person
from backend.services.models import ServiceBooking
from backend.wechat.client import ErrorKind, WechatClient, WechatError, WechatUser
from backend.wechat.models import AppKind, BindingCode, LinkedBy, WechatIdentity, WechatSubscription
from backend.wishes.models import Wish

#: How long a started web authorisation may take to come back (WeChat's code lives 5 minutes).
STATE_TTL_SECONDS = 600
#: How long a binding code works.
BINDING_CODE_HOURS = 24
#: The name of a resident known only by their WeChat until they tell us more.
VISITOR_NAME = "微信用户"


class WechatOff(NotFound):
    code, message = "wechat_not_configured", "本系统未开通微信登录"


class StateInvalid(DomainError):
    status, code, message = 400, "wechat_state_invalid", "登录链接已失效，请返回上一页重新打开"


# --- settings and predicates -------------------------------------------------------------------

def web_enabled() -> bool:
    """Whether sign-in inside WeChat (the 公众号's web authorisation) is configured."""
    cfg = current_app.config
    return bool(cfg["WECHAT_APP_ID"] and cfg["WECHAT_APP_SECRET"])


def miniprogram_enabled() -> bool:
    """Whether the mini-program's login is configured."""
    cfg = current_app.config
    return bool(cfg["WECHAT_MP_APP_ID"] and cfg["WECHAT_MP_SECRET"])


def in_wechat(user_agent: str) -> bool:
    """Whether the page is open in WeChat's browser (where web authorisation works)."""
    return "MicroMessenger" in (user_agent or "")


def signs_in_silently(user_agent: str, is_guest: bool) -> bool:
    """Whether a page that needs sign-in goes through WeChat instead of the password page: in
    WeChat, when configured, and not for a snapshot guest (WeChat would send them back as a
    guest again, round and round)."""
    return web_enabled() and in_wechat(user_agent) and not is_guest


def web_client() -> WechatClient:
    """The client of the 公众号 (sign-in inside WeChat, JS-SDK, subscribe notifications)."""
    cfg = current_app.config
    return WechatClient(cfg["WECHAT_API_BASE"], cfg["WECHAT_APP_ID"], cfg["WECHAT_APP_SECRET"])


def _miniprogram_client() -> WechatClient:
    cfg = current_app.config
    return WechatClient(cfg["WECHAT_API_BASE"], cfg["WECHAT_MP_APP_ID"], cfg["WECHAT_MP_SECRET"])


def _ask(call: Callable[[], WechatUser]) -> WechatUser:
    """Run a code exchange; WeChat's refusal becomes the answer the person sees."""
    try:
        return call()
    except WechatError as exc:
        if exc.kind == ErrorKind.invalid_code:
            raise DomainError("微信登录凭证无效或已过期，请返回上一页重新打开", code="wechat_code_invalid",
                              status=400) from exc
        if exc.kind == ErrorKind.code_used:
            raise DomainError("该登录链接已使用过，请返回上一页重新打开", code="wechat_code_used",
                              status=400) from exc
        if exc.retryable:
            raise Unavailable("微信服务繁忙，请稍后再试", code="wechat_unavailable") from exc
        # A wrong appid or secret: ours to fix, not the person's.
        current_app.logger.error("WeChat refused a code exchange: %s %s", exc.errcode, exc.errmsg)
        raise DomainError("微信登录暂时不可用，请稍后再试或联系社区工作人员", code="wechat_error",
                          status=502) from exc


# --- web authorisation (pages inside WeChat) -----------------------------------------------------

def begin_web_sign_in(target: str | None, binding_code: str | None = None) -> tuple[dict, str]:
    """Start web authorisation: (what the browser session keeps, WeChat's authorize URL).

    With `binding_code` the sign-in also binds this WeChat to the code's person; the code is
    checked now, so a bad one is said before the trip to WeChat."""
    if not web_enabled():
        raise WechatOff()
    if binding_code is not None:
        binding_for(binding_code)
    # WeChat allows [A-Za-z0-9] up to 128 characters.
    state = secrets.token_hex(16)
    pending = {"state": state, "next": next_path(target), "at": int(time.time())}
    if binding_code is not None:
        pending["bind"] = binding_code
    cfg = current_app.config
    query = urlencode([   # WeChat wants these in this order
        ("appid", cfg["WECHAT_APP_ID"]),
        ("redirect_uri", public_base_url() + url_for("wechat_web.callback")),
        ("response_type", "code"), ("scope", "snsapi_base"), ("state", state)])
    return pending, f"{cfg['WECHAT_OPEN_BASE']}/connect/oauth2/authorize?{query}#wechat_redirect"


def finish_web_sign_in(pending: dict | None, code: str, state: str) -> tuple[Person | None, str]:
    """WeChat came back: check the state against what this browser kept, exchange the code
    (once) for the openid and sign the person in. Returns (the person, or None for a snapshot
    guest; where to go)."""
    if not web_enabled():
        raise WechatOff()
    kept = str((pending or {}).get("state", ""))
    fresh = time.time() - (pending or {}).get("at", 0) <= STATE_TTL_SECONDS
    if not state or not kept or not hmac.compare_digest(kept, state) or not fresh:
        raise StateInvalid()
    if not code:
        raise DomainError("微信没有返回登录凭证，请返回上一页重新打开", code="wechat_code_invalid", status=400)
    user = _ask(lambda: web_client().oauth_user(code))
    person = _sign_in(AppKind.h5, current_app.config["WECHAT_APP_ID"], user, pending.get("bind"))
    return person, next_path(pending.get("next"))


# --- mini-program -------------------------------------------------------------------------------

def miniprogram_sign_in(js_code: str, binding_code: str | None = None) -> Person:
    """The mini-program's wx.login code → the person (created on first visit, or bound with
    `binding_code`)."""
    if not miniprogram_enabled():
        raise WechatOff()
    user = _ask(lambda: _miniprogram_client().miniprogram_user(js_code))
    return _sign_in(AppKind.miniprogram, current_app.config["WECHAT_MP_APP_ID"], user, binding_code)


# --- who an openid is ----------------------------------------------------------------------------

def _sign_in(kind: AppKind, app_id: str, user: WechatUser, binding_code: str | None) -> Person | None:
    if user.is_snapshotuser:
        if binding_code is not None:
            raise DomainError("请先点击页面下方的“使用完整服务”，再绑定微信", code="wechat_snapshot", status=400)
        return None
    person = _known_or_new(kind, app_id, user) if binding_code is None else _bind(kind, app_id, user, binding_code)
    if not person.is_active:
        raise Forbidden("该账号已停用，请联系社区工作人员", code="account_disabled")
    return person


def _identity(app_id: str, openid: str) -> WechatIdentity | None:
    return db.session.scalar(sa.select(WechatIdentity).where(
        WechatIdentity.app_id == app_id, WechatIdentity.openid == openid))


def _known_or_new(kind: AppKind, app_id: str, user: WechatUser) -> Person:
    """The person this openid signs in as; the same user of the other app (unionid) is the same
    person; anyone else is a new resident."""
    identity = _identity(app_id, user.openid)
    if identity is not None:
        if user.unionid and identity.unionid != user.unionid:
            identity.unionid = user.unionid
        return identity.person
    twin = db.session.scalar(sa.select(WechatIdentity).where(WechatIdentity.unionid == user.unionid)
                             .order_by(WechatIdentity.id).limit(1)) if user.unionid else None
    try:
        with db.session.begin_nested():
            person = twin.person if twin is not None else create_person(name=VISITOR_NAME)
            db.session.add(WechatIdentity(person_id=person.id, app_kind=kind.value, app_id=app_id,
                                          openid=user.openid, unionid=user.unionid,
                                          linked_by=(LinkedBy.unionid if twin else LinkedBy.first_visit).value))
            db.session.flush()
    except IntegrityError:
        # The same first visit in two tabs at once: the other request made the person.
        identity = _identity(app_id, user.openid)
        if identity is None:
            raise
        return identity.person
    return person


def _is_bare(identity: WechatIdentity) -> bool:
    """A resident made on a first visit who has nothing but the WeChat account: the same human
    before they bound their WeChat to their real record."""
    person = identity.person
    return identity.linked_by != LinkedBy.binding.value and person.username is None and not person.memberships


def _bind(kind: AppKind, app_id: str, user: WechatUser, code: str) -> Person:
    """Link this WeChat account to the binding code's person, using the code up."""
    binding = binding_for(code)
    same_user = (WechatIdentity.app_id == app_id) & (WechatIdentity.openid == user.openid)
    if user.unionid:
        same_user |= WechatIdentity.unionid == user.unionid
    holders = db.session.scalars(sa.select(WechatIdentity).where(same_user)).all()
    others = [i for i in holders if i.person_id != binding.person_id]
    if any(not _is_bare(i) for i in others):
        raise Conflict("该微信已绑定其他人员，如需更换请联系社区工作人员", code="wechat_already_bound")
    used = db.session.execute(sa.update(BindingCode).where(
        BindingCode.id == binding.id, BindingCode.used_at.is_(None), BindingCode.expires_at > utcnow(),
    ).values(used_at=utcnow())).rowcount
    if used != 1:   # someone else used it since binding_for looked
        raise Gone("该绑定码已使用过，如需重新绑定请联系工作人员重新生成", code="binding_code_used")
    # One WeChat per person and app: binding a new phone's account replaces the old one.
    db.session.execute(sa.delete(WechatIdentity).where(
        WechatIdentity.person_id == binding.person_id, WechatIdentity.app_id == app_id,
        WechatIdentity.openid != user.openid))
    bare = {identity.person_id for identity in others}
    for identity in others:
        identity.person_id = binding.person_id
    mine = next((i for i in holders if i.app_id == app_id and i.openid == user.openid), None)
    if mine is None:
        mine = WechatIdentity(app_kind=kind.value, app_id=app_id, openid=user.openid)
        db.session.add(mine)
    mine.person_id, mine.linked_by = binding.person_id, LinkedBy.binding.value
    mine.unionid = user.unionid or mine.unionid
    db.session.flush()
    for identity in others:
        db.session.expire(identity, ["person"])
    for person_id in sorted(bare):
        _merge_bare_resident(person_id, binding.person_id)
    return binding.person


def _merge_bare_resident(bare_id: int, person_id: int) -> None:
    """A bare first-visit resident whose WeChat has just moved to `person_id` was that same human:
    what they left before binding moves too — their wishes (我的心愿), service bookings (我的预约),
    inbox and subscribe-message consents — by bulk UPDATEs, whatever the history's length.

    The empty record is then deleted rather than deactivated: it has nothing left (no name, no
    role, no WeChat), keeping it would keep a personal record without a purpose (PIPL), and a
    deactivated one would greet the resident's other browsers with 该账号已停用; deleted, its
    sessions go with it (ON DELETE CASCADE) and inside WeChat the next page signs them in
    silently as the bound person. One still linked to another WeChat account is kept."""
    for column in (Wish.submitted_by_id, ServiceBooking.booked_by_id, Notification.person_id):
        db.session.execute(sa.update(column.class_).where(column == bare_id).values({column: person_id})
                           .execution_options(synchronize_session=False))
    # One subscription per person and template: the same template adds up (one-time messages
    # allowed on both records; long-term if either was), any other moves across.
    ws, theirs = WechatSubscription, aliased(WechatSubscription)

    def their(column):
        return (sa.select(column).where(theirs.person_id == bare_id, theirs.template_id == ws.template_id)
                .scalar_subquery())

    same_template = sa.exists().where(theirs.person_id == bare_id, theirs.template_id == ws.template_id)
    db.session.execute(sa.update(ws).where(ws.person_id == person_id, same_template).values(
        remaining=ws.remaining + their(theirs.remaining), long_term=sa.or_(ws.long_term, their(theirs.long_term)),
        updated_at=sa.case((their(theirs.updated_at) > ws.updated_at, their(theirs.updated_at)),
                           else_=ws.updated_at),
    ).execution_options(synchronize_session=False))
    kept = sa.select(theirs.template_id).where(theirs.person_id == person_id)
    db.session.execute(sa.delete(ws).where(ws.person_id == bare_id, ws.template_id.in_(kept))
                       .execution_options(synchronize_session=False))
    db.session.execute(sa.update(ws).where(ws.person_id == bare_id).values(person_id=person_id)
                       .execution_options(synchronize_session=False))
    person = db.session.get(Person, bare_id)
    if person is not None and db.session.scalar(sa.select(WechatIdentity.id).where(
            WechatIdentity.person_id == bare_id).limit(1)) is None:
        db.session.delete(person)
        db.session.flush()


# --- binding codes -------------------------------------------------------------------------------

def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def binding_for(code: str | None) -> BindingCode:
    """The live binding code `code`: 404 `binding_code_not_found`, 410 `binding_code_used` or
    `binding_code_expired` otherwise."""
    binding = db.session.scalar(sa.select(BindingCode).where(BindingCode.code_hash == _digest(code))) if code else None
    if binding is None:
        raise NotFound("绑定码无效，请确认扫描的是工作人员给您的绑定二维码", code="binding_code_not_found")
    if binding.used_at is not None:
        raise Gone("该绑定码已使用过，如需重新绑定请联系工作人员重新生成", code="binding_code_used")
    if binding.expires_at <= utcnow():
        raise Gone(f"该绑定码已过期（有效期 {BINDING_CODE_HOURS} 小时），请联系工作人员重新生成",
                   code="binding_code_expired")
    return binding


def binding_url(code: str) -> str:
    """The page that binds the WeChat which opens it (what the binding QR code encodes)."""
    return public_base_url() + url_for("wechat_pages.bind", code=code)


def issue_binding_code_by(actor: Actor, person_id: int) -> tuple[str, BindingCode]:
    """Staff over a person issue a one-time binding code for them; returns (the code, shown
    once and stored only as a hash; its row)."""
    if not (web_enabled() or miniprogram_enabled()):
        raise WechatOff()
    person = db.session.get(Person, person_id)
    authorize(actor, "person.wechat.bind", person)
    code = secrets.token_urlsafe(18)
    binding = BindingCode(code_hash=_digest(code), person_id=person.id, created_by_id=actor.person_id,
                          expires_at=utcnow() + timedelta(hours=BINDING_CODE_HOURS))
    db.session.add(binding)
    db.session.flush()
    return code, binding


def purge_binding_codes(older_than: timedelta = timedelta(days=30)) -> int:
    """Delete binding codes expired more than `older_than` ago; returns how many."""
    return db.session.execute(sa.delete(BindingCode).where(BindingCode.expires_at < utcnow() - older_than)).rowcount
