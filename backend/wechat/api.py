from __future__ import annotations

from flask import g, redirect
from flask_smorest import Blueprint

from backend.api import HTML_ERROR
from backend.auth import service as auth_service
from backend.auth.current import require_actor
from backend.auth.schemas import TokenSchema
from backend.core.db import begin_write, commit
from backend.core.errors import DomainError, page_error
from backend.people.actors import load_actor
from backend.wechat import service, subscriptions, web
from backend.wechat.schemas import (
    AuthorizeArgs,
    BindingCodeSchema,
    CallbackArgs,
    JsConfigArgs,
    JsConfigSchema,
    MiniProgramLoginSchema,
    SubscriptionReportSchema,
    SubscriptionSchema,
)

#: The two steps a browser inside WeChat is walked through: refusals are pages, not JSON.
web_blp = Blueprint("wechat_web", __name__, url_prefix="/api/v1/auth/wechat",
                    description="微信网页授权登录（浏览器跳转；出错时返回中文页面）")
web_blp.errorhandler(DomainError)(page_error)

blp = Blueprint("wechat", __name__, url_prefix="/api/v1", description="微信登录与绑定")


@web_blp.get("/authorize")
@web_blp.doc(responses={"default": HTML_ERROR})
@web_blp.arguments(AuthorizeArgs, location="query")
@web_blp.alt_response(302, description="to WeChat's authorize page (scope snsapi_base, state kept in the session)")
@web_blp.alt_response(404, description="WeChat sign-in is not configured (wechat_not_configured)")
def authorize(args):
    """Sign in with WeChat: go to WeChat, which comes back to the callback."""
    response = redirect(web.start_web_sign_in(args["next"]))
    response.headers["Cache-Control"] = "no-store"
    return response


@web_blp.get("/callback")
@web_blp.doc(responses={"default": HTML_ERROR})
@web_blp.arguments(CallbackArgs, location="query")
@web_blp.alt_response(302, description="signed in (a snapshot user stays a guest): to `next`")
@web_blp.alt_response(400, description="wechat_state_invalid, wechat_code_invalid, wechat_code_used, wechat_snapshot")
@web_blp.alt_response(409, description="wechat_already_bound: this WeChat is another person's")
@web_blp.alt_response(410, description="binding_code_used, binding_code_expired")
@web_blp.alt_response(503, description="wechat_unavailable: WeChat is busy")
def callback(args):
    """WeChat's redirect back: the code is exchanged once for the openid and the person signed in."""
    begin_write()
    target = web.finish_web_sign_in(args["code"], args["state"])
    commit()
    response = redirect(target)
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.post("/auth/wechat/miniprogram")
@blp.arguments(MiniProgramLoginSchema)
@blp.response(200, TokenSchema)
@blp.alt_response(400, description="wechat_code_invalid, wechat_code_used")
@blp.alt_response(404, description="wechat_not_configured")
@blp.alt_response(503, description="wechat_unavailable")
def miniprogram(args):
    """Mini-program sign-in: the wx.login code → a bearer token (a new resident on first visit)."""
    person = service.miniprogram_sign_in(args["code"], args.get("binding_code"))
    secret, token = auth_service.issue_token(person, "bearer")
    commit()
    g.actor = load_actor(person.id)
    return {"token": secret, "expires_at": token.expires_at, "user": g.actor.person}


@blp.post("/people/<int:person_id>/binding-codes")
@blp.response(201, BindingCodeSchema)
@blp.alt_response(404, description="not_found, or wechat_not_configured")
def issue_binding_code(person_id):
    """A one-time code (24 h) that links the WeChat which opens `url` to this person."""
    code, binding = service.issue_binding_code_by(require_actor(), person_id)
    commit()
    return {"code": code, "url": service.binding_url(code), "expires_at": binding.expires_at}


@blp.get("/wechat/js-config")
@blp.arguments(JsConfigArgs, location="query")
@blp.response(200, JsConfigSchema)
@blp.alt_response(404, description="wechat_not_configured")
@blp.alt_response(422, description="wechat_foreign_url: not a page of this site")
@blp.alt_response(503, description="wechat_unavailable")
def js_config(args):
    """`wx.config` for one of this site's pages, signed with the cached jsapi_ticket."""
    return subscriptions.js_config(args["url"])


@blp.get("/me/wechat-subscriptions")
@blp.response(200, SubscriptionSchema(many=True))
def my_subscriptions():
    """The subscribe-notification templates the signed-in person allowed."""
    return subscriptions.mine(require_actor())


@blp.post("/me/wechat-subscriptions")
@blp.arguments(SubscriptionReportSchema)
@blp.response(200, SubscriptionSchema(many=True))
@blp.alt_response(409, description="wechat_not_signed_in: the person has no WeChat sign-in")
@blp.alt_response(422, description="unknown_template")
def report_subscriptions(args):
    """What the person answered in the `wx-open-subscribe` dialog; returns their subscriptions."""
    rows = subscriptions.record(require_actor(), args["details"])
    commit()
    return rows
