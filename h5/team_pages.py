"""Micro-power pages beyond activities: volunteer teams, double reporting, the leaderboard,
and the phone-calendar subscription."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for

from backend.activities import service as activity_service
from backend.calendar import service as calendar
from backend.core.db import commit
from backend.core.errors import Forbidden
from backend.core.input import db_int
from backend.core.periods import period
from backend.core.permissions import Actor, can
from backend.double_reports import service as reports
from backend.double_reports.schemas import ReportCreateSchema
from backend.extensions import db
from backend.stats import service as stats
from backend.teams import service as teams
from backend.teams.schemas import TeamCreateSchema
from h5.views import act_and_return, communities_of, form_data, require_page_actor, submit_form

bp = Blueprint("team_pages", __name__, url_prefix="/h5")


# --- teams ------------------------------------------------------------------------------------

@bp.get("/teams")
def teams_list():
    actor = require_page_actor()
    rows = db.session.scalars(teams.listing(actor)).all()
    return render_template("teams.html", tab="home", teams=rows,
                           can_create=bool(teams.founding_communities(actor, communities_of(actor))))


def _team_form(actor: Actor, values: dict, errors: dict, status: int = 200):
    communities, grids, leaders = teams.founding_choices(actor, communities_of(actor))
    return render_template("team_form.html", tab="home", communities=communities, grids=grids, leaders=leaders,
                           values=values, errors=errors), status


@bp.get("/teams/new")
def team_new():
    return _team_form(require_page_actor(), {}, {})


@bp.post("/teams/new")
def team_create():
    actor = require_page_actor()
    values = {k: request.form.get(k, "").strip() for k in ("org_id", "name", "grid_id", "leader_id", "skills",
                                                           "description")}

    def create():
        args = TeamCreateSchema().load(form_data(values, ints=("org_id", "grid_id", "leader_id")))
        return teams.create_by(actor, args)

    return submit_form(create, lambda errors, status: _team_form(actor, values, errors, status), "服务队已建立",
                       lambda team: url_for("team_pages.team_detail", team_id=team.id))


@bp.get("/teams/<int:team_id>")
def team_detail(team_id: int):
    actor = require_page_actor()
    team = teams.team_for(actor, team_id)
    upcoming = db.session.scalars(activity_service.listing(actor, team_id=team.id).limit(20)).all()
    return render_template("team.html", tab="home", team=team, upcoming=upcoming,
                           is_member=teams.is_member(team, actor.person_id),
                           can_join=can(actor, "team.join", team), manages=can(actor, "team.manage", team),
                           can_leave=teams.may_leave(actor, team),
                           member_name=lambda member: teams.member_name(actor, member))


@bp.post("/teams/<int:team_id>/join")
def team_join(team_id: int):
    actor = require_page_actor()
    teams.team_for(actor, team_id, "team.join")  # a refusal is an error page, not a flash
    skills = request.form.get("skills", "").strip()[:100] or None
    return act_and_return(lambda: teams.join_by(actor, team_id, skills=skills), "已加入，欢迎！",
                          url_for("team_pages.team_detail", team_id=team_id))


@bp.post("/teams/<int:team_id>/members/<int:person_id>/remove")
def team_remove(team_id: int, person_id: int):
    actor = require_page_actor()
    yourself = person_id == actor.person_id
    teams.team_for(actor, team_id, "team.view" if yourself else "team.manage")
    done = "已退出该队" if yourself else "已移出该队员"
    return act_and_return(lambda: teams.leave_by(actor, team_id, person_id), done,
                          url_for("team_pages.team_detail", team_id=team_id))


# --- double reporting -------------------------------------------------------------------------

def _report_page(actor: Actor, values: dict, errors: dict, status: int = 200):
    return render_template("double_report.html", tab="me", person=actor.person, mine=reports.reports_of(actor.person),
                           communities=reports.communities(), year=reports.this_year(),
                           values=values, errors=errors), status


@bp.get("/me/double-report")
def double_report():
    actor = require_page_actor()
    return _report_page(actor, {"work_unit": actor.person.work_unit or ""}, {})


@bp.post("/me/double-report")
def double_report_create():
    actor = require_page_actor()
    values = {k: request.form.get(k, "").strip() for k in ("community_id", "work_unit", "offer")}

    def report():
        args = ReportCreateSchema().load(form_data(values, ints=("community_id",)))
        return reports.report_by(actor, args["community_id"], work_unit=args["work_unit"], offer=args.get("offer"))

    return submit_form(report, lambda errors, status: _report_page(actor, values, errors, status),
                       "已提交报到，请等待社区确认", lambda _: url_for("team_pages.double_report"))


@bp.get("/orgs/<int:org_id>/double-reports")
def org_reports(org_id: int):
    actor = require_page_actor()
    year = request.args.get("year", type=db_int) or reports.this_year()
    org, stmt = reports.reports_to(actor, org_id, year)
    return render_template("org_reports.html", tab="orgs", org=org, year=year, reports=db.session.scalars(
        stmt.limit(300)).all(), may_decide=lambda record: reports.may_decide(actor, record))


def _decide(report_id: int, act, done: str):
    actor = require_page_actor()
    record = reports.report_for(actor, report_id, "double_report.decide")  # a refusal is an error page
    return act_and_return(lambda: act(actor, report_id), done,
                          url_for("team_pages.org_reports", org_id=record.community_id, year=record.year))


@bp.post("/double-reports/<int:report_id>/confirm")
def report_confirm(report_id: int):
    return _decide(report_id, reports.confirm_by, "已确认报到，该党员已列入本社区志愿者")


@bp.post("/double-reports/<int:report_id>/reject")
def report_reject(report_id: int):
    reason = request.form.get("reason", "")
    return _decide(report_id, lambda actor, rid: reports.reject_by(actor, rid, reason), "已退回")


# --- leaderboard ------------------------------------------------------------------------------

@bp.get("/leaderboard")
def leaderboard_home():
    """The leaderboard of the person's (first) community."""
    actor = require_page_actor()
    communities = communities_of(actor)
    if not communities:
        raise Forbidden("您还不属于任何社区")
    return redirect(url_for("team_pages.leaderboard", org_id=communities[0].id))


@bp.get("/orgs/<int:org_id>/leaderboard")
def leaderboard(org_id: int):
    actor = require_page_actor()
    by = "wishes" if request.args.get("by") == "wishes" else "hours"
    start, end = period({})
    org, rows = stats.leaderboard_for(actor, org_id, start, end, by=by, limit=50)
    return render_template("leaderboard.html", tab="home", org=org, by=by, rows=rows, year=start.year,
                           communities=communities_of(actor), me=actor.person_id)


# --- phone calendar ---------------------------------------------------------------------------

@bp.post("/me/calendar")
def calendar_issue():
    actor = require_page_actor()
    token = calendar.issue(actor.person)
    commit()
    # Shown once, on the next page view: only the hash is kept.
    session["calendar_url"] = calendar.feed_url(token)
    return redirect(url_for("activity_pages.my_bookings") + "#calendar")


@bp.post("/me/calendar/revoke")
def calendar_revoke():
    actor = require_page_actor()
    return act_and_return(lambda: calendar.revoke(actor.person), "已停止日历订阅，旧地址不再更新",
                          url_for("activity_pages.my_bookings"))
