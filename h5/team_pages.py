"""Micro-power pages beyond activities: volunteer teams, double reporting, the leaderboard,
and the phone-calendar subscription."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, redirect, render_template, request, session, url_for
from marshmallow import ValidationError

from backend.activities.models import Activity
from backend.bookings.models import Slot
from backend.calendar import service as calendar
from backend.core.db import commit
from backend.core.errors import Forbidden
from backend.core.periods import period
from backend.core.permissions import Actor, authorize, can, load_authorized
from backend.double_reports import service as reports
from backend.double_reports.models import DoubleReport
from backend.double_reports.schemas import ReportCreateSchema
from backend.extensions import db, utcnow
from backend.orgs.models import Org, OrgKind
from backend.orgs.permissions import org_visible_clause
from backend.people.models import Membership, Person
from backend.stats.api import leaderboard_for
from backend.teams import service as teams
from backend.teams.models import Team
from backend.teams.schemas import TeamCreateSchema
from h5.views import act_and_return, communities_of, form_data, require_page_actor, submit_form

bp = Blueprint("team_pages", __name__, url_prefix="/h5")


# --- teams ------------------------------------------------------------------------------------

@bp.get("/teams")
def teams_list():
    actor = require_page_actor()
    rows = db.session.scalars(sa.select(Team).join(Org, Org.id == Team.org_id).where(
        Team.is_active.is_(True), org_visible_clause(actor)).order_by(Org.name, Team.name)).all()
    organisable = [c for c in communities_of(actor) if can(actor, "org.organise", c)]
    return render_template("teams.html", tab="home", teams=rows, can_create=bool(organisable))


def _team_form(actor: Actor, values: dict, errors: dict, status: int = 200):
    communities = [c for c in communities_of(actor) if can(actor, "org.organise", c)]
    if not communities:
        raise Forbidden()
    ids = [c.id for c in communities]
    grids = db.session.scalars(sa.select(Org).where(Org.parent_id.in_(ids), Org.kind == OrgKind.grid.value)
                               .order_by(Org.id)).all()
    people = db.session.execute(
        sa.select(Person, Org.name).join(Membership, Membership.person_id == Person.id)
        .join(Org, Org.id == Membership.org_id)
        .where(sa.or_(Org.id.in_(ids), Org.parent_id.in_(ids)), Person.is_active.is_(True))
        .order_by(Person.name).limit(300)).all()
    leaders = list({p.id: (p, where) for p, where in people}.values())
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
        org = db.session.get(Org, args["org_id"])
        authorize(actor, "org.organise", org)
        return teams.create_team(
            org, name=args["name"], grid=db.session.get(Org, args["grid_id"]) if args.get("grid_id") else None,
            leader=db.session.get(Person, args["leader_id"]) if args.get("leader_id") else None,
            skills=args.get("skills"), description=args.get("description"))

    return submit_form(create, lambda errors, status: _team_form(actor, values, errors, status), "服务队已建立",
                       lambda team: url_for("team_pages.team_detail", team_id=team.id))


def _team(team_id: int, action: str = "team.view") -> tuple[Actor, Team]:
    actor = require_page_actor()
    return actor, load_authorized(actor, Team, team_id, action)


@bp.get("/teams/<int:team_id>")
def team_detail(team_id: int):
    actor, team = _team(team_id)
    upcoming = db.session.scalars(sa.select(Activity).join(Slot, Slot.id == Activity.slot_id).where(
        Activity.team_id == team.id, Slot.ends_at > utcnow()).order_by(Slot.starts_at).limit(20)).all()
    return render_template("team.html", tab="home", team=team, upcoming=upcoming,
                           is_member=teams.is_member(team, actor.person.id),
                           can_join=can(actor, "team.join", team), manages=can(actor, "team.manage", team))


@bp.post("/teams/<int:team_id>/join")
def team_join(team_id: int):
    actor, team = _team(team_id, "team.join")
    skills = request.form.get("skills", "").strip()[:100] or None
    return act_and_return(lambda: teams.join(team, actor.person, skills), "已加入，欢迎！",
                          url_for("team_pages.team_detail", team_id=team_id))


@bp.post("/teams/<int:team_id>/members/<int:person_id>/remove")
def team_remove(team_id: int, person_id: int):
    actor = require_page_actor()
    _, team = _team(team_id, "team.view" if person_id == actor.person.id else "team.manage")
    done = "已退出该队" if person_id == actor.person.id else "已移出该队员"
    return act_and_return(lambda: teams.leave(team, person_id), done,
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
        community = db.session.get(Org, args["community_id"])
        if community is None:
            raise ValidationError({"community_id": ["请选择居住地所在的社区"]})
        return reports.report(actor.person, community, work_unit=args["work_unit"], offer=args.get("offer"))

    return submit_form(report, lambda errors, status: _report_page(actor, values, errors, status),
                       "已提交报到，请等待社区确认", lambda _: url_for("team_pages.double_report"))


@bp.get("/orgs/<int:org_id>/double-reports")
def org_reports(org_id: int):
    actor = require_page_actor()
    org = db.session.get(Org, org_id)
    authorize(actor, "org.members.view", org)
    year = request.args.get("year", type=int) or reports.this_year()
    rows = db.session.scalars(reports.reports_for(org, year).limit(300)).all()
    return render_template("org_reports.html", tab="orgs", org=org, year=year, reports=rows,
                           can_decide=can(actor, "org.organise", org))


def _decide(report_id: int, act, done: str):
    actor = require_page_actor()
    record = load_authorized(actor, DoubleReport, report_id, "double_report.decide")
    return act_and_return(lambda: act(record, actor.person), done,
                          url_for("team_pages.org_reports", org_id=record.community_id, year=record.year))


@bp.post("/double-reports/<int:report_id>/confirm")
def report_confirm(report_id: int):
    return _decide(report_id, reports.confirm, "已确认报到，该党员已列入本社区志愿者")


@bp.post("/double-reports/<int:report_id>/reject")
def report_reject(report_id: int):
    reason = request.form.get("reason", "").strip()[:200]
    if len(reason) < 2:
        reason = "信息不符，请核实后重新报到"
    return _decide(report_id, lambda record, person: reports.reject(record, person, reason), "已退回")


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
    org = db.session.get(Org, org_id)
    authorize(actor, "org.view", org)
    by = "wishes" if request.args.get("by") == "wishes" else "hours"
    start, end = period({})
    rows = leaderboard_for(actor, org, {"by": by, "limit": 50})
    return render_template("leaderboard.html", tab="home", org=org, by=by, rows=rows, year=start.year,
                           communities=communities_of(actor), me=actor.person.id)


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
