"""Subscribe notifications (服务号订阅通知): pages ask with the `wx-open-subscribe` open tag,
the person's "允许" is kept per template, and notifications of a kind with a template go to
WeChat for whoever allowed it.

The open tag needs the JS-SDK configured for the page: `js_config` signs `wx.config` with the
cached `jsapi_ticket` (the one signing piece a share card or `scanQRCode` reuses).

What a page reports (`record`) comes from the browser and is not proof: it can only ever
subscribe the signed-in person themselves, and if they did not really allow a template WeChat
refuses the send with 43101, which drops the subscription — so a false report costs one
refused call and nothing else.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from backend.core.errors import DomainError
from backend.core.permissions import Actor
from backend.core.timeutil import local_zone
from backend.core.urls import public_base_url
from backend.extensions import db, utcnow
from backend.notifications import channels
from backend.wechat.client import ErrorKind, WechatError
from backend.wechat.models import AppKind, WechatIdentity, WechatSubscription
from backend.wechat.service import in_wechat, web_client, web_enabled

#: A one-time template allows one message per tap; more than this many kept is no use.
MAX_REMAINING = 20
#: What the open tag reports for a template the person allowed (WeChat adds variants over time:
#: acceptWithAlert, acceptWithAudio, ...).
ACCEPTED_PREFIX = "accept"
#: JS-SDK interfaces the pages may use once configured.
JS_API_LIST = ["scanQRCode", "updateAppMessageShareData", "updateTimelineShareData"]


class NotWechatUser(DomainError):
    status, code, message = 409, "wechat_not_signed_in", "请在微信中打开本页并登录后再开启提醒"


def _h5_openid(person_id: int) -> str | None:
    return db.session.scalar(sa.select(WechatIdentity.openid).where(
        WechatIdentity.person_id == person_id, WechatIdentity.app_id == current_app.config["WECHAT_APP_ID"],
        WechatIdentity.app_kind == AppKind.h5.value))


# --- the page side -------------------------------------------------------------------------------

def js_config(url: str) -> dict:
    """The `wx.config` for the page at `url` (this site's, without its #fragment)."""
    base = urlsplit(public_base_url())
    page = urlsplit(url)
    if not web_enabled():
        raise DomainError("本系统未开通微信", code="wechat_not_configured", status=404)
    if (page.scheme, page.netloc) != (base.scheme, base.netloc) or page.fragment:
        raise DomainError("只能为本站页面签名", code="wechat_foreign_url", status=422)
    try:
        ticket = web_client().jsapi_ticket()
    except WechatError as exc:
        raise DomainError("微信服务繁忙，请稍后再试", code="wechat_unavailable", status=503) from exc
    nonce, timestamp = secrets.token_hex(8), int(time.time())
    plain = f"jsapi_ticket={ticket}&noncestr={nonce}&timestamp={timestamp}&url={url}"
    return {"appId": current_app.config["WECHAT_APP_ID"], "timestamp": timestamp, "nonceStr": nonce,
            "signature": hashlib.sha1(plain.encode()).hexdigest(), "jsApiList": JS_API_LIST,
            "openTagList": ["wx-open-subscribe"]}


def offer(actor: Actor | None, user_agent: str, kinds: tuple[str, ...]) -> list[str]:
    """The templates a page should ask the person to allow for these kinds of message: none
    outside WeChat, for a visitor or a person without a WeChat sign-in, for kinds without a
    template, and for long-term templates already allowed."""
    templates = current_app.config["WECHAT_TEMPLATES"]
    wanted = list(dict.fromkeys(templates[kind] for kind in kinds if kind in templates))
    if not wanted or actor is None or not web_enabled() or not in_wechat(user_agent) \
            or _h5_openid(actor.person_id) is None:
        return []
    held = set(db.session.scalars(sa.select(WechatSubscription.template_id).where(
        WechatSubscription.person_id == actor.person_id, WechatSubscription.long_term.is_(True))))
    # WeChat asks for at most three templates at once.
    return [t for t in wanted if t not in held][:3]


def record(actor: Actor, details: dict[str, str]) -> list[WechatSubscription]:
    """What the person answered in the open tag's dialog, template id → status: an accepted
    one-time template allows one more message, an accepted long-term one allows them until
    turned off, a refused long-term one is turned off. Templates we do not use are refused
    (422 unknown_template). Returns the person's subscriptions."""
    known = set(current_app.config["WECHAT_TEMPLATES"].values())
    unknown = sorted(set(details) - known)
    if unknown:
        raise DomainError(f"未知的订阅模板：{'、'.join(unknown)}", code="unknown_template", status=422)
    if _h5_openid(actor.person_id) is None:
        raise NotWechatUser()
    long_term = current_app.config["WECHAT_LONG_TERM_TEMPLATES"]
    for template_id, status in details.items():
        if status.startswith(ACCEPTED_PREFIX):
            _allow(actor.person_id, template_id, template_id in long_term)
        elif template_id in long_term:
            _drop(WechatSubscription.person_id == actor.person_id, template_id)
    return mine(actor)


def mine(actor: Actor) -> list[WechatSubscription]:
    """The person's subscriptions."""
    return list(db.session.scalars(sa.select(WechatSubscription).where(
        WechatSubscription.person_id == actor.person_id).order_by(WechatSubscription.template_id)))


def _allow(person_id: int, template_id: str, long_term: bool) -> None:
    row = (WechatSubscription.person_id == person_id) & (WechatSubscription.template_id == template_id)
    more = {"long_term": True} if long_term else {
        "remaining": sa.case((WechatSubscription.remaining < MAX_REMAINING, WechatSubscription.remaining + 1),
                             else_=WechatSubscription.remaining)}
    change = sa.update(WechatSubscription).where(row).values(updated_at=utcnow(), **more) \
        .execution_options(synchronize_session=False)
    if db.session.execute(change).rowcount:
        return
    try:
        with db.session.begin_nested():
            db.session.add(WechatSubscription(person_id=person_id, template_id=template_id, long_term=long_term,
                                              remaining=0 if long_term else 1))
    except IntegrityError:
        # The same tap reported twice at once: the other request made the row; count this one too.
        db.session.execute(change)


def _drop(whose: sa.ColumnElement[bool], template_id: str) -> None:
    db.session.execute(sa.delete(WechatSubscription).where(whose, WechatSubscription.template_id == template_id)
                       .execution_options(synchronize_session=False))


# --- the channel ---------------------------------------------------------------------------------

def route(person_id: int, kind: str) -> str | None:
    """Where a notification of `kind` reaches this person on WeChat: their 服务号 openid, when
    the kind has a template and the person allowed it. A one-time permission is spent here, in
    the notifying transaction, so two messages never count on the same tap."""
    template_id = current_app.config["WECHAT_TEMPLATES"].get(kind)
    if template_id is None or not web_enabled():
        return None
    openid = _h5_openid(person_id)
    if openid is None:
        return None
    row = (WechatSubscription.person_id == person_id) & (WechatSubscription.template_id == template_id)
    if db.session.scalar(sa.select(sa.exists().where(row, WechatSubscription.long_term.is_(True)))):
        return openid
    spent = db.session.execute(sa.update(WechatSubscription).where(row, WechatSubscription.remaining > 0)
                               .values(remaining=WechatSubscription.remaining - 1)
                               .execution_options(synchronize_session=False)).rowcount
    return openid if spent else None


def _value(field: str, message: channels.Message) -> str:
    if field == "time":
        return message.at.astimezone(local_zone()).strftime("%Y年%m月%d日 %H:%M")
    return message.params.get(field, "")[:20]


def send(openid: str, message: channels.Message) -> None:
    """Send one notification as a 服务号 subscribe notification (the delivery job's sender)."""
    cfg = current_app.config
    template_id = cfg["WECHAT_TEMPLATES"].get(message.kind)
    if template_id is None or not web_enabled():
        raise channels.Refused("微信订阅通知未开通或该消息没有模板")
    data = {key: _value(field, message) for key, field in cfg["WECHAT_TEMPLATE_FIELDS"].items()}
    try:
        web_client().send_biz_subscribe(openid, template_id, data, message.url)
    except WechatError as exc:
        if exc.kind == ErrorKind.user_refused:
            # Not (or no longer) allowed: WeChat will refuse every retry, and the next message
            # must not be queued for WeChat either.
            _drop(WechatSubscription.person_id.in_(sa.select(WechatIdentity.person_id).where(
                WechatIdentity.openid == openid)), template_id)
            raise channels.Refused("对方未订阅或已关闭该通知（43101）") from exc
        if exc.retryable or exc.kind == ErrorKind.token_invalid:
            raise channels.Retry(f"微信繁忙：{exc.errcode} {exc.errmsg}"[:200]) from exc
        raise channels.Refused(f"微信拒绝：{exc.errcode} {exc.errmsg}"[:200]) from exc


def install() -> None:
    """Make WeChat a notification channel (called by the composition root)."""
    channels.install("wechat", route, send)
