"""Server-rendered mobile pages. Views parse, call services, render; rules live in services."""

from __future__ import annotations

from datetime import date, datetime, time

import sqlalchemy as sa
from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from marshmallow import ValidationError

from backend.auth import service as auth_service
from backend.auth.current import client_ip, current_actor, start_session
from backend.core.db import commit
from backend.core.errors import DomainError, Invalid, Unauthorized
from backend.core.input import db_int
from backend.core.permissions import can
from backend.core.timeutil import local_zone
from backend.extensions import db
from backend.notifications import service as notification_service
from backend.orgs import service as org_service
from backend.orgs.models import Org, OrgKind
from backend.orgs.service import lineage
from backend.people import service as people_service
from backend.qrcodes import service as qr_service
from backend.qrcodes.models import QrCode
from backend.wechat import service as wechat_service
from backend.wechat import web as wechat_web
from backend.wishes import service as wish_service

bp = Blueprint("h5", __name__, url_prefix="/h5")


def _safe_next(target: str | None) -> str:
    """Only same-site paths; anything else goes home (no open redirect)."""
    return auth_service.next_path(target, url_for("h5.home"))


def act_and_return(act, done, back: str):
    """Run a state change; say how it went (a refusal keeps nothing) and go back to `back`.

    `done` is the message, or a function of what `act` returned that gives it. A refused
    form field (ValidationError) is said as its first message."""
    try:
        result = act()
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "warn")
    except ValidationError as exc:
        db.session.rollback()
        flash(_first_message(exc.messages), "warn")
    else:
        commit()
        flash(done(result) if callable(done) else done, "ok")
    return redirect(back)


def _first_message(messages) -> str:
    while isinstance(messages, dict | list):
        messages = next(iter(messages.values())) if isinstance(messages, dict) else messages[0]
    return str(messages)


def local_iso(day: str, clock: str) -> str | None:
    """A date and a time typed into a form, in local time, as ISO 8601 with the offset.

    Blank gives None (the schema says 此项必填); malformed text is passed on for the schema
    to call 时间格式不正确."""
    if not day or not clock:
        return None
    try:
        return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), local_zone()).isoformat()
    except ValueError:
        return f"{day} {clock}"


def form_data(values: dict, ints: tuple[str, ...] = ()) -> dict:
    """The filled-in fields of a form for a schema: blanks left out, `ints` as numbers when
    they are a number the database can hold (anything else goes on for the schema to refuse)."""
    return {k: _number(v) if k in ints and isinstance(v, str) else v for k, v in values.items() if v not in ("", None)}


def _number(text: str) -> int | str:
    try:
        return db_int(text)
    except ValueError:
        return text


def submit_form(act, rerender, done: str, target):
    """Run a form's action. Success: commit, say `done`, go to `target(result)`. Refusal:
    roll back and `rerender(errors, status)` with the messages beside the fields, so nothing
    typed is lost."""
    try:
        result = act()
        commit()
    except (ValidationError, DomainError) as exc:
        db.session.rollback()
        errors = exc.messages if isinstance(exc, ValidationError) else exc.fields or {"_": [exc.message]}
        return rerender(errors, getattr(exc, "status", 422))
    flash(done, "ok")
    return redirect(target(result))


def communities_of(actor) -> list[Org]:
    """Communities the person belongs to, works in or oversees, by name."""
    stmt = org_service.visible_orgs(actor, kind=OrgKind.community.value).order_by(None).order_by(Org.name)
    return list(db.session.scalars(stmt))


def require_page_actor():
    actor = current_actor()
    if actor is None:
        raise _LoginRedirect()
    return actor


class _LoginRedirect(Exception):
    pass


@bp.app_errorhandler(_LoginRedirect)
def _to_login(_exc):
    target = request.full_path.rstrip("?")
    if wechat_web.signs_in_silently(request.user_agent.string):
        # Inside WeChat the person is known by their WeChat: no password page.
        return redirect(url_for("wechat_web.authorize", next=target))
    return redirect(url_for("h5.login", next=target))


#: The role home: (permission, title, description, endpoint), in the order shown. The
#: permission is asked of backend.core.permissions, never re-derived from roles here.
_HOME_ACTIONS = (
    ("orgs.browse", "组织与成员", "查看所辖组织、网格和成员", "h5.orgs"),
    ("rosters.import", "名册导入", "用 Excel 导入网格、党员、志愿者和驻区单位", "roster_pages.index"),
    ("qrcodes.manage", "二维码管理", "生成、打印和停用楼栋二维码", "h5.qrcodes"),
    ("api.docs", "接口文档", "对接其他系统用的 API 说明", "/api/v1/docs"),
    ("activities.take_part", "志愿活动", "报名社区志愿活动，现场扫码签到", "activity_pages.activities_list"),
    ("activities.take_part", "我的报名", "已报名、候补和参加过的活动，同步到手机日历", "activity_pages.my_bookings"),
    ("activities.take_part", "志愿服务队", "社区的服务队，加入一支发挥特长", "team_pages.teams_list"),
    ("activities.take_part", "志愿者排行榜", "服务时长和办结心愿排行", "team_pages.leaderboard_home"),
    ("activities.organise", "发起志愿活动", "设名额、报名时间，打印签到码", "activity_pages.activity_new"),
    ("polls.view", "测评", "党员测评、群众满意度测评的发起和实时结果", "poll_pages.polls_list"),
    ("rating.view", "星级创评", "自我评定、评分依据、申诉和问题清单", "rating_pages.periods"),
    ("services.organise", "便民服务", "上架服务、添加预约时间、标记已服务", "service_pages.services_list"),
)
#: Per org the person works in: (permission on the org, title, description, endpoint, its org argument).
_ORG_ACTIONS = (
    ("org.wishes.submit_for_resident", "代居民提交心愿（{}）", "帮不会用手机的老人登记心愿", "wish_pages.new", "grid"),
    ("org.wishes.public_page", "社区心愿公开页", "居民可见的办理情况", "wish_pages.community_wishes", "org_id"),
)
#: Per community the person organises.
_COMMUNITY_ACTIONS = (
    ("双报到审核（{}）", "确认在职党员到社区报到", "team_pages.org_reports"),
    ("组织生活记录（{}）", "联席会议、三会一课、主题党日，计入评分", "rating_pages.meetings"),
)


def _home_actions(actor) -> list[dict]:
    """What this person can do, as the permission rules say. Each entry links to a working page."""
    own_orgs = list({m.org.id: m.org for m in actor.person.memberships if m.org is not None}.values())
    per_org = [{"title": title.format(org.name), "desc": desc, "href": url_for(endpoint, **{arg: org.id})}
               for org in own_orgs for action, title, desc, endpoint, arg in _ORG_ACTIONS if can(actor, action, org)]
    general = [{"title": title, "desc": desc, "href": endpoint if endpoint.startswith("/") else url_for(endpoint)}
               for action, title, desc, endpoint in _HOME_ACTIONS if can(actor, action)]
    organised = [c for c in communities_of(actor) if can(actor, "org.organise", c)]
    per_community = [{"title": title.format(c.name), "desc": desc, "href": url_for(endpoint, org_id=c.id)}
                     for c in organised for title, desc, endpoint in _COMMUNITY_ACTIONS]
    mine = [{"title": "在职党员双报到", "desc": "向居住地社区报到，每年一次",
             "href": url_for("team_pages.double_report")}] if can(actor, "double_report.file") else []
    mine += [{"title": "我的心愿和预约", "desc": "我提交的心愿、预约的服务和办理进度",
              "href": url_for("wish_pages.mine")},
             {"title": "我的服务时长和积分", "desc": "志愿服务时长、积分和明细",
              "href": url_for("activity_pages.my_hours")},
             {"title": "我的信息", "desc": "身份、所属组织和长辈模式", "href": url_for("h5.me")}]
    return per_org + general + per_community + mine


def _home_tiles(actor) -> list[dict]:
    """The figures a task-board holder acts on first, each a tap away from its list: 待认领,
    我认领的, 消息. Counted by aggregate queries, never by loading the rows."""
    if not can(actor, "wishes.board"):
        return []   # the tab bar's badge already says how many messages wait
    counts = wish_service.board_counts(actor)
    return [{"label": "待认领", "count": counts.waiting, "href": url_for("wish_pages.tasks"), "key": "waiting"},
            {"label": "我认领的", "count": counts.mine, "href": url_for("wish_pages.tasks", tab="mine"), "key": "mine"},
            {"label": "消息", "count": notification_service.unread_count(actor),
             "href": url_for("notification_pages.messages"), "key": "messages"}]


@bp.get("/")
def home():
    actor = current_actor()
    if actor is None:
        # Inside WeChat (when the 公众号 is configured) 扫一扫 opens WeChat's scanner; elsewhere
        # the page says to use the phone's camera.
        ua = request.user_agent.string
        return render_template("home_public.html", tab="home", communities=org_service.public_communities(),
                               wechat_scan=wechat_service.web_enabled() and wechat_service.in_wechat(ua))
    return render_template("home.html", tab="home", actor=actor, memberships=actor.person.memberships,
                           tiles=_home_tiles(actor), actions=_home_actions(actor))


#: Login pages for a journey that is not staff work: (path the person was going to, title, what it says).
_LOGIN_FOR = (("/h5/a/", "志愿者登录", "报名本活动的党员、志愿者用账号登录，登录后回到签到页。"
               "还没有账号请找社区工作人员开通"),)


def _login_page(next_url: str, username: str = "", error: str | None = None, status: int = 200,
                headers: dict | None = None):
    """The password form, with the WeChat button where WeChat sign-in works, titled for who
    comes to it (a volunteer from the venue code sees 志愿者登录)."""
    wechat = wechat_web.signs_in_silently(request.user_agent.string)
    audience = next(((title, desc) for path, title, desc in _LOGIN_FOR if next_url.startswith(path)), None)
    return render_template("login.html", tab="me", next_url=next_url, username=username, error=error,
                           audience=audience,
                           wechat_url=url_for("wechat_web.authorize", next=next_url) if wechat else None), \
        status, headers or {}


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = _safe_next(request.values.get("next"))
    if request.method != "POST":   # GET, and HEAD like it
        if current_actor() is not None:
            return redirect(next_url)
        return _login_page(next_url)
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    if not username or not password:
        return _login_page(next_url, username, "请输入用户名和密码", 422)
    try:
        person = auth_service.authenticate(username, password, client_ip())
    except Unauthorized as exc:
        commit()
        return _login_page(next_url, username, exc.message, exc.status)
    except DomainError as exc:
        return _login_page(next_url, username, exc.message, exc.status, exc.headers)
    start_session(person)
    commit()
    return redirect(next_url)


@bp.post("/logout")
def logout():
    actor = current_actor()
    if actor is not None and g.auth_via == "session":
        auth_service.revoke(g.auth_token)
        commit()
    session.clear()
    return redirect(url_for("h5.home"))


@bp.get("/me")
def me():
    actor = current_actor()
    return render_template("me.html", tab="me", actor=actor)


@bp.get("/orgs")
def orgs():
    return render_template("orgs.html", tab="orgs", orgs=org_service.staffed_orgs(require_page_actor()))


@bp.get("/orgs/<int:org_id>")
def org_detail(org_id: int):
    actor = require_page_actor()
    org, memberships = people_service.members_for(actor, org_id)
    # Creation order: names sort 第一、第三、第二 by code point.
    children = db.session.scalars(sa.select(Org).where(Org.parent_id == org.id).order_by(Org.id)).all()
    # One row per person, roles joined, most senior role first (members_of's order).
    members: dict[int, tuple] = {}
    for m in db.session.scalars(memberships):
        members.setdefault(m.person_id, (m.person, []))[1].append(m.role_label)
    ancestors = lineage(org, include_self=False)
    return render_template("org_detail.html", tab="orgs", org=org, children=children,
                           members=list(members.values()), ancestors=ancestors,
                           can_qr=can(actor, "org.qrcodes.create", org),
                           wechat_binding=wechat_service.web_enabled())


@bp.get("/qrcodes")
def qrcodes():
    actor = require_page_actor()
    codes = db.session.scalars(qr_service.listing(actor).order_by(None)
                               .order_by(QrCode.is_active.desc(), QrCode.id.desc()).limit(200)).all()
    grids = [o for o in db.session.scalars(org_service.visible_orgs(actor, kind="grid"))
             if can(actor, "org.qrcodes.create", o)]
    return render_template("qrcodes.html", tab="orgs", codes=codes, grids=grids)


@bp.post("/qrcodes")
def qrcode_create():
    actor = require_page_actor()
    purpose = request.form.get("purpose", "wish")
    try:
        target_id = int(request.form.get("target_id", ""))
    except ValueError:
        raise Invalid("请选择网格", fields={"target_id": ["请选择网格"]}) from None
    qr = qr_service.create_by(actor, purpose, target_id)
    commit()
    return redirect(url_for("h5.qr_poster", qr_id=qr.id))


@bp.post("/qrcodes/<int:qr_id>/revoke")
def qrcode_revoke(qr_id: int):
    qr_service.revoke_by(require_page_actor(), qr_id)
    commit()
    return redirect(url_for("h5.qrcodes"))


@bp.get("/qrcodes/<int:qr_id>/poster")
def qr_poster(qr_id: int):
    qr = qr_service.code_for(require_page_actor(), qr_id)
    svg = qr_service.render_svg(qr).decode()
    return render_template("qr_poster.html", qr=qr, lineage=lineage(qr.org), svg=svg,
                           short_url=qr_service.short_url(qr))
