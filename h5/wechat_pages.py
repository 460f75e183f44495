"""Binding a WeChat to a person: the page a binding QR code opens, and the staff page that
issues one. Rules live in backend.wechat.service."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from backend.auth.current import current_actor
from backend.auth.service import next_path
from backend.core.db import commit
from backend.core.privacy import mask_name
from backend.core.urls import public_base_url
from backend.qrcodes import service as qr_service
from backend.wechat import service, subscriptions
from backend.wechat import web as wechat_web
from h5.views import require_page_actor

bp = Blueprint("wechat_pages", __name__, url_prefix="/h5")


@bp.app_context_processor
def subscribe_offer():
    """`wechat_offer(kinds)` for _wechat_subscribe.html: the templates to ask this person for."""
    return {"wechat_offer": lambda kinds: subscriptions.offer(current_actor(), request.user_agent.string,
                                                               tuple(kinds))}


@bp.app_context_processor
def share_card():
    """For _share_card.html: the site's address (a card's links are absolute) and whether the
    JS-SDK can set the card (inside WeChat, with WeChat configured)."""
    return {"public_base_url": public_base_url,
            "wechat_can_share": lambda: service.web_enabled() and service.in_wechat(request.user_agent.string)}


@bp.get("/bind")
def bind():
    """What binding does, for whom, and the button that starts it (only inside WeChat)."""
    code = request.args.get("code", "")
    binding = service.binding_for(code)
    return render_template("wechat_bind.html", code=code, name=mask_name(binding.person.name),
                           expires_at=binding.expires_at, enabled=service.web_enabled(),
                           in_wechat=service.in_wechat(request.user_agent.string))


@bp.post("/bind")
def bind_start():
    return redirect(wechat_web.start_web_sign_in(url_for("wechat_pages.bound"), request.form.get("code", "")))


@bp.get("/bind/done")
def bound():
    return render_template("wechat_bound.html", actor=require_page_actor())


@bp.post("/people/<int:person_id>/binding-code")
def binding_code(person_id: int):
    """Issue a binding code and show it as a QR code; shown once (only its hash is kept)."""
    code, binding = service.issue_binding_code_by(require_page_actor(), person_id)
    commit()
    url = service.binding_url(code)
    return render_template("wechat_binding_code.html", person=binding.person, url=url, svg=qr_service.url_svg(url),
                           expires_at=binding.expires_at, back=next_path(request.form.get("back"), url_for("h5.home")))
