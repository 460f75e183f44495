"""Micro-wish pages: the resident's form and receipt, the task board, the community's public page."""

from __future__ import annotations

import secrets
from datetime import datetime

from flask import Blueprint, current_app, redirect, render_template, request, send_file, url_for
from marshmallow import ValidationError

from backend.auth.current import client_ip, current_actor
from backend.core.db import commit
from backend.core.errors import DomainError, NotFound
from backend.core.headers import sandbox_file
from backend.core.input import db_int
from backend.core.periods import period
from backend.core.permissions import can
from backend.core.submissions import TokenReused
from backend.core.uploads import accepts_upload
from backend.extensions import db, utcnow
from backend.orgs.models import Org
from backend.orgs.service import lineage, public_community
from backend.services import service as services
from backend.wishes import service
from backend.wishes.models import STATUS_LABELS, URGENCY_LABELS, WishChannel, WishStatus
from backend.wishes.schemas import WishCreateSchema, present
from h5.views import act_and_return, require_page_actor

bp = Blueprint("wish_pages", __name__, url_prefix="/h5")

FORM_FIELDS = ("title", "content", "category", "urgency", "contact_name", "contact_phone", "location")
#: What an empty required field says on the form (the API's 此项必填 is for programs).
MISSING = {"title": ["请填写标题，如：楼道灯坏了"], "content": ["请写下需要什么帮助"]}
#: Said beside the photo picker when the form comes back: the browser cannot keep chosen files.
PICK_AGAIN = "请重新选择照片"


# --- resident: submit -----------------------------------------------------------------------

def _form_target() -> tuple[Org, str, dict]:
    """The grid the form submits to: from a wish QR code, or (staff) a grid id."""
    code = request.values.get("qr")
    if code:
        return service.grid_of_code(code), WishChannel.qr.value, {"qr": code}
    grid = service.proxy_grid(require_page_actor(), request.values.get("grid", type=db_int) or 0)
    return grid, WishChannel.staff_proxy.value, {"grid": grid.id}


def _render_form(grid, target, values, errors, status=200, headers=None):
    return render_template("wish_form.html", tab=None, grid=grid, lineage=lineage(grid), target=target,
                           values=values, errors=errors, categories=current_app.config["WISH_CATEGORIES"],
                           urgencies=URGENCY_LABELS, proxy="grid" in target,
                           max_photos=current_app.config["WISH_MAX_PHOTOS"],
                           photo_mb=current_app.config["WISH_PHOTO_MAX_BYTES"] // (1024 * 1024)), \
        status, headers or {}


@bp.get("/w/new")
def new():
    grid, _, target = _form_target()
    return _render_form(grid, target, {"urgency": "1", "submit_token": secrets.token_urlsafe(24)}, {})


@bp.post("/w/new")
@accepts_upload("WISH_PHOTOS_MAX_BYTES")
def create():
    grid, channel, target = _form_target()
    values = {k: request.form.get(k, "").strip() for k in (*FORM_FIELDS, "submit_token")}
    values["consent"] = request.form.get("consent") == "on"
    data = {k: v for k, v in values.items() if v not in ("", None)}
    data["consent"] = values["consent"]
    data |= {"qr": target["qr"]} if "qr" in target else {"grid_id": grid.id}
    uploads = [u for u in request.files.getlist("photos") if u.filename]
    # Every error at once: the schema's, the service's own checks (category, consent) and the photos'.
    errors = service.form_problems(category=values["category"] or None, consent=values["consent"])
    try:
        args = WishCreateSchema().load(data)
    except ValidationError as exc:
        # The service's own words (请选择类别) say more than the schema's 此项必填.
        errors = {**{k: MISSING[k] if k in MISSING and not values[k] else v for k, v in exc.messages.items()},
                  **errors}
    try:
        photos = service.receive_photos(uploads)
    except DomainError as exc:
        errors = {**errors, **(exc.fields or {})}
    if errors:
        return _form_refused(grid, target, values, errors, uploads, 422)
    try:
        result = service.submit(grid=grid, consent=args["consent"], actor=current_actor(), channel=channel,
                                qr=target.get("qr"), client=client_ip(), photos=photos,
                                **{k: args.get(k) for k in (*FORM_FIELDS, "submit_token")})
    except DomainError as exc:
        db.session.rollback()
        if isinstance(exc, TokenReused):
            values["submit_token"] = secrets.token_urlsafe(24)
        return _form_refused(grid, target, values, exc.fields or {"_": [exc.message]}, uploads, exc.status,
                             exc.headers)
    commit()
    return redirect(url_for("wish_pages.receipt", receipt=result.receipt, new=1 if result.created else None))


def _form_refused(grid, target, values, errors, uploads, status, headers=None):
    """The form again with its errors; chosen photos must be chosen again (a page cannot keep them)."""
    if uploads and "photos" not in errors:
        errors = {**errors, "photos": [PICK_AGAIN]}
    return _render_form(grid, target, values, errors, status, headers)


@bp.get("/privacy")
def privacy():
    return render_template("privacy.html", tab=None, version=current_app.config["PRIVACY_NOTICE_VERSION"],
                           retention_days=current_app.config["WISH_CONTACT_RETENTION_DAYS"])


# --- resident: follow, confirm, reopen, cancel ------------------------------------------------

def _receipt_actions(**key) -> dict[str, str]:
    """Where the receipt page's buttons post: by the receipt, or (signed in) by the wish's id."""
    prefix = "wish_pages.my_wish_" if "wish_id" in key else "wish_pages."
    return {action: url_for(prefix + action, **key) for action in ("confirm", "reopen", "cancel")}


@bp.get("/w/r/<receipt>")
def receipt(receipt: str):
    wish = service.get_by_receipt(receipt)
    return render_template("wish_receipt.html", tab=None, wish=wish,
                           view=present(wish, current_actor(), receipt_holder=True),
                           receipt=receipt, actions=_receipt_actions(receipt=receipt),
                           is_new=bool(request.args.get("new")))


def _receipt_post(receipt: str, act, done: str):
    wish = service.get_by_receipt(receipt)
    return act_and_return(lambda: act(wish), done, url_for("wish_pages.receipt", receipt=receipt))


@bp.post("/w/r/<receipt>/confirm")
def confirm(receipt: str):
    rating = request.form.get("rating", type=db_int)
    comment = request.form.get("comment", "").strip()[:300] or None
    return _receipt_post(receipt, lambda wish: service.confirm(wish, rating, comment), "感谢您的评价！")


@bp.post("/w/r/<receipt>/reopen")
def reopen(receipt: str):
    note = request.form.get("note", "").strip()[:300]
    return _receipt_post(receipt, lambda wish: service.reopen(wish, note), "已告诉认领人，请耐心等待")


@bp.post("/w/r/<receipt>/cancel")
def cancel(receipt: str):
    return _receipt_post(receipt, service.cancel, "心愿已撤回")


@bp.get("/w/mine")
def mine():
    """我的心愿: receipts kept on this phone; signed in, also the person's own wishes and service
    bookings from the server (app.js leaves out the phone's copies of those)."""
    actor = current_actor()
    states = {"next_step": service.next_step, "awaits_you": service.awaits_submitter}
    if actor is None:
        return render_template("wish_mine.html", tab="wishes", actor=None, **states)
    return render_template("wish_mine.html", tab="wishes", actor=actor, wishes=service.my_wishes(actor),
                           bookings=services.my_service_bookings(actor), booking_state=services.state_label,
                           **states)


# --- the submitter, signed in: the same receipt page by the wish's id ------------------------

@bp.get("/me/wishes/<int:wish_id>")
def my_wish(wish_id: int):
    actor = require_page_actor()
    wish = service.my_wish(actor, wish_id)
    return render_template("wish_receipt.html", tab=None, wish=wish, view=present(wish, actor, receipt_holder=True),
                           receipt=None, actions=_receipt_actions(wish_id=wish.id), is_new=False)


def _my_wish_post(wish_id: int, act, done: str):
    actor = require_page_actor()
    service.my_wish(actor, wish_id)  # someone else's wish is a 404 page, not a flash
    return act_and_return(lambda: act(actor), done, url_for("wish_pages.my_wish", wish_id=wish_id))


@bp.post("/me/wishes/<int:wish_id>/confirm")
def my_wish_confirm(wish_id: int):
    rating = request.form.get("rating", type=db_int)
    comment = request.form.get("comment", "").strip()[:300] or None
    return _my_wish_post(wish_id, lambda actor: service.confirm_mine(actor, wish_id, rating, comment), "感谢您的评价！")


@bp.post("/me/wishes/<int:wish_id>/reopen")
def my_wish_reopen(wish_id: int):
    note = request.form.get("note", "").strip()[:300]
    return _my_wish_post(wish_id, lambda actor: service.reopen_mine(actor, wish_id, note), "已告诉认领人，请耐心等待")


@bp.post("/me/wishes/<int:wish_id>/cancel")
def my_wish_cancel(wish_id: int):
    return _my_wish_post(wish_id, lambda actor: service.cancel_mine(actor, wish_id), "心愿已撤回")


# --- task board -------------------------------------------------------------------------------

def time_left(wish, now: datetime) -> tuple[str, bool]:
    """("剩 2 天 3 小时", False) or ("已超期 5 小时", True), of a wish or a task board row."""
    seconds = (wish.due_at - now).total_seconds()
    hours = int(abs(seconds) // 3600)
    text = f"{hours // 24} 天 {hours % 24} 小时" if hours >= 24 else f"{hours} 小时"
    return (f"剩 {text}", False) if seconds >= 0 else (f"已超期 {text}", True)


#: Wishes on a page of the task board: a phone draws them at once and shows where the list
#: goes on; the rest are a tap away, page by page.
TASKS_PER_PAGE = 30
#: A page further on is read as this one, so no offset is built that the database cannot hold.
LAST_PAGE = 10_000


@bp.get("/tasks")
def tasks():
    actor = require_page_actor()
    tab = request.args.get("tab") if request.args.get("tab") in ("mine", "rejected") else "open"
    page = min(max(request.args.get("page", 1, type=int), 1), LAST_PAGE)
    street = can(actor, "wishes.rejections")
    if tab == "rejected":
        board = service.rejections_for(actor)
    elif tab == "mine":
        board = service.board(actor, statuses=(WishStatus.claimed.value, WishStatus.fulfilled.value), mine=True)
    else:
        board = service.board(actor, statuses=(WishStatus.open.value, WishStatus.pending_review.value))
    # One more than a page says whether another follows, without counting the board.
    rows = service.task_rows(board, TASKS_PER_PAGE + 1, (page - 1) * TASKS_PER_PAGE)
    wishes = rows[:TASKS_PER_PAGE]
    now = utcnow()
    board_url = url_for("wish_pages.tasks")
    pages = {n: url_for("wish_pages.tasks", tab=None if tab == "open" else tab, page=None if n == 1 else n)
             for n in (1, page - 1, page + 1) if n >= 1}
    # A task's page is the board's address and the wish's id (the route below): built once for
    # the page: url_for per row cost a third of a millisecond on a board of 100.
    return render_template("tasks.html", tab="tasks", board_tab=tab, wishes=wishes, street=street,
                           status_labels=STATUS_LABELS, left={w.id: time_left(w, now) for w in wishes},
                           board_url=board_url, page=page, pages=pages, more=len(rows) > TASKS_PER_PAGE)


@bp.get("/tasks/<int:wish_id>")
def task(wish_id: int):
    actor = require_page_actor()
    wish = service.get_visible(actor, wish_id)
    members = service.assign_choices(actor, wish)
    view = present(wish, actor)
    return render_template("task.html", tab="tasks", wish=wish, view=view, members=members,
                           left=time_left(wish, utcnow()), can_claim=service.may_claim(actor, wish),
                           can_manage=can(actor, "wish.manage", wish), is_mine=wish.claimant_id == actor.person_id,
                           can_uphold=service.may_uphold_rejection(actor, wish))


@bp.get("/tasks/<int:wish_id>/photos/<int:photo_id>")
def task_photo(wish_id: int, photo_id: int):
    """A photo sent with the wish, for the claimant and the grid leader only."""
    photo, path = service.photo_for(require_page_actor(), wish_id, photo_id)
    if not path.exists():
        current_app.logger.error("wish photo %s missing at %s", photo.id, path)
        raise NotFound("照片已丢失")
    response = send_file(path, mimetype=photo.content_type, conditional=True, max_age=0)
    sandbox_file(response, photo.content_type, request.user_agent.string)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


TASK_ACTIONS = {
    "claim": (lambda actor, wish, form: service.claim(actor, wish), "认领成功，请尽快联系居民"),
    "release": (lambda actor, wish, form: service.release(actor, wish, form.get("note") or None), "已退回待认领"),
    "fulfil": (lambda actor, wish, form: service.fulfil(actor, wish, form.get("note", "").strip()),
               "已标记办结，等待居民确认"),
    "publish": (lambda actor, wish, form: service.publish(actor, wish), "已发布到任务板"),
    "reject": (lambda actor, wish, form: service.reject(actor, wish, form.get("reason", "").strip()), "已不予受理"),
    "assign": (lambda actor, wish, form: service.assign_by(actor, wish, form.get("person_id", type=db_int) or 0),
               "已指派"),
    "uphold_rejection": (lambda actor, wish, form: service.uphold_rejection(actor, wish, form.get("note", "").strip()),
                         "已确认不属于微心愿，不计入办结率等考核"),
}


@bp.post("/tasks/<int:wish_id>/<action>")
def task_action(wish_id: int, action: str):
    actor = require_page_actor()
    if action not in TASK_ACTIONS:
        raise NotFound()
    wish = service.get_visible(actor, wish_id)
    act, done = TASK_ACTIONS[action]
    return act_and_return(lambda: act(actor, wish, request.form), done, url_for("wish_pages.task", wish_id=wish_id))


# --- public accountability page ---------------------------------------------------------------

@bp.get("/c/<int:org_id>/wishes")
def community_wishes(org_id: int):
    community = public_community(org_id)
    start, end = period({})
    return render_template("community_wishes.html", tab=None, community=community,
                           stats=service.wish_stats(community, start, end), year=start.year,
                           recent=service.recent_fulfilled(community))
