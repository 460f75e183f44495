"""Poll pages: the answer page a QR or a code slip opens, thank-you, and for staff the list,
a new poll from a preset, results with burst review, printable code slips and the poster."""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for

from backend.auth.current import client_ip, current_actor
from backend.core.db import commit
from backend.core.errors import DomainError, Forbidden
from backend.core.input import db_int
from backend.core.permissions import can
from backend.core.urls import public_base_url
from backend.extensions import db, utcnow
from backend.polls import service
from backend.polls.models import MODE_LABELS, RATING_LABELS, Poll, QuestionKind
from backend.polls.presets import PRESETS, uncounted
from backend.polls.schemas import PollCreateSchema
from backend.qrcodes import service as qr_service
from backend.rating import service as rating_service
from h5.views import act_and_return, communities_of, local_iso, require_page_actor, submit_form

bp = Blueprint("poll_pages", __name__, url_prefix="/h5")

#: Lets an open-QR poll recognise the phone again (one answer per device); nothing else.
DEVICE_COOKIE = "sw_device"


def _answer_page(poll: Poll, values: dict, errors: dict, status: int = 200, headers: dict | None = None):
    response = make_response(render_template(
        "poll_answer.html", tab=None, poll=poll, values=values, errors=errors, ratings=RATING_LABELS,
        code=request.values.get("code", "").strip().upper(),
        # A refused poster code is not carried into the next try: the answer then counts without a grid.
        qr="" if "qr" in errors else request.values.get("qr", ""),
        actor=current_actor()), status, headers or {})
    if poll.allow_device and not request.cookies.get(DEVICE_COOKIE):
        response.set_cookie(DEVICE_COOKIE, secrets.token_urlsafe(24), max_age=400 * 24 * 3600, httponly=True,
                            samesite="Lax", secure=request.is_secure)
    return response


@bp.get("/p/<int:poll_id>")
def answer(poll_id: int):
    poll = service.get_poll(poll_id)
    # A slip's code in the address is someone of the household with a slip of their own.
    if poll.state() == "open" and not request.args.get("code") and service.has_answered(poll, actor=current_actor(),
                                                       device=request.cookies.get(DEVICE_COOKIE)):
        return _thanks_page(poll, "您已参加过本次测评")
    return _answer_page(poll, {}, {})


def _thanks_page(poll: Poll, message: str | None, status: int = 200):
    """Thank-you (or why not again), with the way home and to the community's public page."""
    return render_template("poll_thanks.html", tab=None, poll=poll, message=message), status


def _sheet(poll: Poll) -> tuple[list[dict], dict]:
    """The form as the API's answers, and what was typed (to show again on a refusal)."""
    answers, values = [], {}
    for q in poll.questions:
        name = f"q{q.id}"
        if q.kind == QuestionKind.choice.value and q.multiple:
            raw = request.form.getlist(name)
            value = [int(v) for v in raw if v.isdigit()]
        else:
            raw = request.form.get(name, "").strip()
            value = int(raw) if q.kind != QuestionKind.text.value and raw.isdigit() else (raw or None)
        values[name] = raw
        answers.append({"question_id": q.id, "value": value})
    return answers, values


@bp.post("/p/<int:poll_id>")
def answer_submit(poll_id: int):
    poll = service.get_poll(poll_id)
    answers, values = _sheet(poll)
    try:
        service.answer(poll.id, answers, actor=current_actor(), code=request.form.get("code") or None,
                       device=request.cookies.get(DEVICE_COOKIE), qr=request.form.get("qr") or None, ip=client_ip())
        commit()
    except DomainError as exc:
        db.session.rollback()
        if exc.code in ("already_answered", "poll_closed"):
            return _thanks_page(poll, exc.message, exc.status)
        return _answer_page(poll, values, exc.fields or {"_": [exc.message]}, exc.status, exc.headers)
    return redirect(url_for("poll_pages.thanks", poll_id=poll.id))


@bp.get("/p/<int:poll_id>/thanks")
def thanks(poll_id: int):
    return _thanks_page(service.get_poll(poll_id), None)


# --- staff ------------------------------------------------------------------------------------

@bp.get("/polls")
def polls_list():
    actor = require_page_actor()
    communities = communities_of(actor)
    visible = service.staff_polls(actor, communities)
    counts = service.respondent_counts([p.id for p in visible])
    return render_template("polls.html", tab="home", polls=visible, counts=counts,
                           can_create=bool(service.organised_by(actor, communities)))


#: What the new-poll form shows beside its own fields; any other refusal shows above it.
_FORM_FIELDS = ("org_id", "preset", "from_day", "to_day", "opens_at", "closes_at", "modes")


def _poll_form(actor, values: dict, errors: dict, status: int = 200):
    communities = service.organised_by(actor, communities_of(actor))
    if not communities:
        raise Forbidden("只有社区书记或街道工作人员可以发起测评")
    shown = {k: v for k, v in errors.items() if k in _FORM_FIELDS}
    others = [m for k, v in errors.items() if k not in _FORM_FIELDS for m in (v if isinstance(v, list) else [str(v)])]
    if others:
        shown["_"] = others
    return render_template("poll_form.html", tab="home", communities=communities, presets=PRESETS,
                           may_count=bool(service.counted_by(actor, communities)), values=values,
                           errors=shown), status


@bp.get("/polls/new")
def poll_new():
    actor = require_page_actor()
    today = utcnow().date()
    counted = "1" if service.counted_by(actor, communities_of(actor)) else ""
    return _poll_form(actor, {"preset": "mass", "from_day": today.isoformat(),
                              "to_day": (today + timedelta(days=14)).isoformat(),
                              "modes": ["device", "code"], "counted": counted}, {})


@bp.post("/polls/new")
def poll_create():
    actor = require_page_actor()
    values = {k: request.form.get(k, "").strip() for k in ("org_id", "preset", "from_day", "to_day", "counted")}
    values["modes"] = request.form.getlist("modes")
    preset = PRESETS.get(values["preset"], PRESETS["mass"])
    # Unticked, the questions map to no criterion: the poll feeds no score (what a secretary runs).
    questions = preset["questions"] if values["counted"] == "1" else uncounted(preset["questions"])

    def create():
        args = PollCreateSchema().load({
            "org_id": int(values["org_id"]) if values["org_id"].isdigit() else values["org_id"],
            "title": preset["title"], "description": preset["description"], "audience": preset["audience"],
            "questions": questions, "modes": values["modes"] or ["account"],
            "opens_at": local_iso(values["from_day"], "00:00"), "closes_at": local_iso(values["to_day"], "23:59")})
        poll = service.create(actor, args)
        poll.title = f"{poll.org.name}{preset['title']}"
        return poll

    return submit_form(create, lambda errors, status: _poll_form(actor, values, errors, status),
                       "测评已创建，请打印二维码或测评码发放",
                       lambda poll: url_for("poll_pages.results", poll_id=poll.id))


@bp.get("/polls/<int:poll_id>/results")
def results(poll_id: int):
    actor = require_page_actor()
    poll, result = service.results_for(actor, poll_id)
    flagged = service.flagged_of(actor, poll.id, only_pending=True, limit=200)
    return render_template("poll_results.html", tab="home", poll=poll, r=result,
                           ratings=RATING_LABELS, modes=MODE_LABELS, flagged=flagged,
                           criteria=rating_service.criterion_titles(poll.period_id),
                           can_manage=can(actor, "poll.manage", poll),
                           can_review=bool(flagged) and can(actor, "poll.review", flagged[0]))


@bp.post("/poll-responses/<int(max=9007199254740991):response_id>/review")
def review(response_id: int):
    actor = require_page_actor()
    decision = "exclude" if request.form.get("decision") == "exclude" else "accept"
    response = service.reviewable(actor, response_id)
    return act_and_return(lambda: service.review(response, decision, actor.person_id),
                          "已剔除该答卷" if decision == "exclude" else "已确认该答卷有效",
                          url_for("poll_pages.results", poll_id=response.poll_id))


@bp.post("/polls/<int:poll_id>/codes")
def codes(poll_id: int):
    """Make one-time codes and show them once, as a printable sheet of slips."""
    actor = require_page_actor()
    count = max(1, min(request.form.get("count", type=db_int) or 20, 200))
    try:
        poll, grid, made = service.codes_for(actor, poll_id, count, request.form.get("grid_id", type=db_int))
        commit()
    except DomainError as exc:
        db.session.rollback()
        if exc.status in (403, 404):
            raise
        flash(exc.message, "warn")
        return redirect(url_for("poll_pages.results", poll_id=poll_id))
    base = public_base_url()
    links = {c.code: f"{base}{url_for('poll_pages.answer', poll_id=poll.id, code=c.code)}" for c in made}
    slips = [{"code": code, "svg": qr_service.url_svg(link, border=2)} for code, link in links.items()]
    return render_template("poll_codes.html", tab=None, poll=poll, grid=grid, slips=slips)


@bp.post("/polls/<int:poll_id>/qrcode")
def poster(poll_id: int):
    """The open poll QR poster (mass polls answered once per phone)."""
    qr = service.poster_code(require_page_actor(), poll_id)
    commit()
    return redirect(url_for("h5.qr_poster", qr_id=qr.id))

