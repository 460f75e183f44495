"""Star rating pages: the campaigns a person takes part in, a community's scorecard with the
reason for every point, manual scoring with deduction ticks, the self-report, the problem
list, appeals, the meetings record; for the street the campaign across its communities,
phase advance and appeal decisions. Rules live in backend.rating.service."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from marshmallow import ValidationError

from backend.core.errors import Forbidden, Invalid
from backend.core.permissions import can
from backend.core.uploads import accepts_upload
from backend.orgs.models import Org
from backend.rating import anchors, dashboard, engine, rubrics, service
from backend.rating.models import (
    BACKDATE_DAYS,
    MEETING_LABELS,
    PHASE_LABELS,
    PHASE_ORDER,
    PROBLEM_LABELS,
    SOURCE_LABELS,
    AppealStatus,
    Phase,
    Scorecard,
    Source,
)
from backend.rating.quotas import STAR_NAMES, place_note, places
from backend.rating.schemas import (
    AppealCreateSchema,
    AppealDecisionSchema,
    ManualScoreSchema,
    MeetingCorrectionSchema,
    MeetingCreateSchema,
    OverrideSchema,
    PeriodCreateSchema,
    ProblemCreateSchema,
    ProblemUpdateSchema,
    QuotaExceptionSchema,
    ReasonSchema,
    ReviewOpinionSchema,
    SelfReportSchema,
    StrikeSchema,
)
from h5.views import act_and_return, communities_of, form_data, require_page_actor, submit_form

bp = Blueprint("rating_pages", __name__, url_prefix="/h5/rating")

APPEAL_LABELS = {AppealStatus.pending: "待处理", AppealStatus.accepted: "已采纳", AppealStatus.rejected: "未采纳"}
SELF_REPORT_LABELS = {"evaluation": "对照标准的自我评价", "problems": "存在的问题及原因",
                      "measures": "整改措施", "next_steps": "下一步打算"}


@bp.app_template_filter("pts")
def _points(value) -> str:
    return engine.fmt(engine.points(value))


bp.add_app_template_filter(dashboard.standing, "standing")


@bp.app_context_processor
def _labels():
    return {"star_names": STAR_NAMES, "phase_labels": PHASE_LABELS}


# --- campaigns ---------------------------------------------------------------------------------

@bp.get("/")
def periods():
    actor = require_page_actor()
    rows = []
    for period in service.visible_periods(actor, limit=50):
        cards = [c for c in period.scorecards if can(actor, "scorecard.view", c)]
        manage = can(actor, "period.manage", period)
        if cards or manage:
            rows.append({"period": period, "cards": cards if not manage else [], "manage": manage})
    streets = service.streets_run_by(actor, communities_of(actor))
    if not rows and not service.may_see_rating(actor):
        raise Forbidden("星级创评仅对社区书记和街道工作人员开放")
    return render_template("rating_periods.html", tab="home", rows=rows, can_create=bool(streets))


def _period_form(actor, values: dict, errors: dict, status: int = 200):
    visible = communities_of(actor)
    streets = service.streets_run_by(actor, visible)
    if not streets:
        raise Forbidden("只有街道工作人员可以发起星级创评")
    communities = [c for c in visible if c.parent_id in {s.id for s in streets}]
    return render_template("rating_period_form.html", tab="home", communities=communities,
                           rubrics=rubrics.files(), values=values,
                           errors=errors), status


@bp.get("/new")
def period_new():
    actor = require_page_actor()
    year = service.today().year
    return _period_form(actor, {"name": f"{year}年度星级党组织创评", "year": str(year), "rubric_code": "wuhua-2019",
                                "org_ids": [str(c.id) for c in communities_of(actor)]}, {})


@bp.post("/new")
def period_create():
    actor = require_page_actor()
    values = {k: request.form.get(k, "").strip() for k in ("name", "year", "rubric_code")}
    values["org_ids"] = request.form.getlist("org_ids")

    def create():
        data = form_data(values, ints=("year",))
        data["org_ids"] = [int(v) for v in values["org_ids"] if v.isdigit()]
        if not data["org_ids"]:
            raise ValidationError({"org_ids": ["请选择参评社区"]})
        return service.create_period(actor, **PeriodCreateSchema().load(data))

    return submit_form(create, lambda errors, status: _period_form(actor, values, errors, status),
                       "创评已发布，核对参评社区后点“进入下一阶段”开始自我评定",
                       lambda period: url_for("rating_pages.period", period_id=period.id))


@bp.get("/<int:period_id>")
def period(period_id: int):
    actor = require_page_actor()
    period = service.period_for(actor, period_id)
    manage = can(actor, "period.manage", period)
    cards = service.visible_cards(actor, period)
    if not cards:
        raise Forbidden("你不能查看这次创评的评分")
    if not manage and len(cards) == 1:
        return redirect(url_for("rating_pages.scorecard", period_id=period.id, org_id=cards[0].org_id))
    body = period.rubric.body
    current = PHASE_ORDER.index(Phase(period.phase))
    pending = service.pending_appeals(period) if manage else 0
    orgs = len(period.scorecards)
    quotas = [(q["stars"], places(q["max_share"], orgs), place_note(q["stars"], q["max_share"], orgs))
              for q in body["rules"].get("quotas", [])]
    return render_template(
        "rating_period.html", tab="home", period=period, cards=cards, manage=manage, standards=body["standards"],
        phases=PHASE_ORDER, current=current, pending=pending, quotas=quotas, stars_kind=body["kind"] == "stars",
        meetings_waiting=service.pending_meetings(period) if manage else 0,
        opinions=service.review_opinions(period) if manage else 0,
        next_phase=PHASE_ORDER[current + 1] if current + 1 < len(PHASE_ORDER) else None,
        chain=anchors.verified(period) if manage else None)


@bp.post("/<int:period_id>/advance")
def advance(period_id: int):
    actor = require_page_actor()
    period = service.period_for(actor, period_id, "period.manage")
    return act_and_return(lambda: service.advance(actor, period, request.form.get("to") or None,
                                                  from_phase=request.form.get("from") or None),
                          lambda p: f"已进入“{p.phase_label}”阶段",
                          url_for("rating_pages.period", period_id=period_id))


# --- a scorecard -------------------------------------------------------------------------------

@bp.get("/<int:period_id>/orgs/<int:org_id>")
def scorecard(period_id: int, org_id: int):
    actor = require_page_actor()
    card = service.scorecard_for(actor, period_id, org_id)
    period = card.period
    body = period.rubric.body
    items = rubrics.items_of(period.rubric.body)
    groups = [(s, [c for c in card.criteria if c.standard_code == s["code"]]) for s in body["standards"]]
    manual = [c for c in card.criteria if c.source == Source.manual]
    pending = service.pending_appeals(period, card.org_id)
    problems = service.count_problems(card)
    return render_template(
        "rating_scorecard.html", tab="home", card=card, period=period, groups=groups, items=items,
        sources=SOURCE_LABELS, stars_kind=body["kind"] == "stars",
        threshold=body["rules"].get("star_threshold"), standards=dashboard.standard_rows(card),
        can_edit=service.may_edit(actor, card),
        manual_done=sum(1 for c in manual if c.entered_by_id is not None), manual_total=len(manual),
        secretary=can(actor, "scorecard.self_evaluate", card), pending_appeals=pending, problems=problems,
        manage=can(actor, "period.manage", period), may_override=service.may_override(actor, card),
        may_opine=period.phase == Phase.review and can(actor, "scorecard.review", card))


def _criterion_page(actor, card: Scorecard, code: str, values: dict, errors: dict, status: int = 200):
    row = service.criterion(card, code)
    if row.source != Source.manual:
        raise Forbidden("这一项由测评或业务数据自动计算，不能手工评分")
    if not service.may_edit(actor, card):
        raise Forbidden(f"“{card.period.phase_label}”阶段你不能修改这一项评分")
    item = service.rubric_item(card, code)
    standard = next(s for s in card.period.rubric.body["standards"] if s["code"] == row.standard_code)
    return render_template("rating_criterion.html", tab="home", card=card, row=row, item=item, standard=standard,
                           values=values, errors=errors,
                           max_mb=current_app.config["EVIDENCE_MAX_BYTES"] // (1024 * 1024)), status


def _tick_values(ticks: list | None) -> dict:
    """Stored deduction ticks as the form shows them: boxes ticked, counts, choices made."""
    values = {"deductions": [], "counts": {}, "choices": {}}
    for tick in ticks or []:
        if isinstance(tick, int):
            values["deductions"].append(str(tick))
        elif "count" in tick:
            values["counts"][str(tick["index"])] = str(tick["count"])
        else:
            values["choices"][str(tick["index"])] = str(tick["choice"])
    return values


def _form_ticks(values: dict) -> list:
    """The form's boxes, counts (count-<index>) and choices (choice-<index>) as the ticks a
    manual score takes; a blank count or the 无此情况 choice is no tick, and a count that is
    not a number goes on for the schema to refuse."""
    ticks: list = [int(v) for v in values["deductions"] if v.isdigit()]
    ticks += [{"index": int(i), "count": int(n) if n.isdigit() else n}
              for i, n in values["counts"].items() if i.isdigit() and n]
    ticks += [{"index": int(i), "choice": int(c)} for i, c in values["choices"].items() if i.isdigit() and c.isdigit()]
    return ticks


def _flat(errors: dict) -> dict:
    """Messages about one tick of the list (keyed by position and field) shown beside the
    deductions as one line."""
    def leaves(found):
        if isinstance(found, dict):
            return [text for inner in found.values() for text in leaves(inner)]
        return list(found) if isinstance(found, list) else [str(found)]
    return {**errors, "deductions": leaves(errors["deductions"])} if "deductions" in errors else errors


@bp.get("/<int:period_id>/orgs/<int:org_id>/criteria/<code>")
def criterion(period_id: int, org_id: int, code: str):
    actor = require_page_actor()
    card = service.scorecard_for(actor, period_id, org_id)
    row = service.criterion(card, code)
    if row.source == Source.poll:
        # Whoever sees the scorecard may see how a poll item is scored; nobody enters it.
        standard = next(s for s in card.period.rubric.body["standards"] if s["code"] == row.standard_code)
        return render_template("rating_criterion_poll.html", tab="home", card=card, row=row, standard=standard,
                               item=service.rubric_item(card, code), d=dashboard.poll_detail(card, row))
    # Points scored by the ticks are shown by the ticks; only points someone entered fill the box.
    entered = row.entered_by_id is not None and (row.inputs or {}).get("by") != "deductions"
    values = {"points": _points(row.points) if entered else "", "note": row.note or "",
              "evidence_url": row.evidence_url or "", **_tick_values(row.deductions)}
    return _criterion_page(actor, card, code, values, {})


@bp.post("/<int:period_id>/orgs/<int:org_id>/criteria/<code>")
@accepts_upload("EVIDENCE_MAX_BYTES")
def criterion_save(period_id: int, org_id: int, code: str):
    actor = require_page_actor()
    card = service.scorecard_for(actor, period_id, org_id)
    values = {k: request.form.get(k, "").strip() for k in ("points", "note", "evidence_url")}
    values["deductions"] = request.form.getlist("deductions")
    values["counts"] = {k.removeprefix("count-"): v.strip() for k, v in request.form.items() if k.startswith("count-")}
    values["choices"] = {k.removeprefix("choice-"): v for k, v in request.form.items() if k.startswith("choice-")}
    values["drop_evidence"] = bool(request.form.get("drop_evidence"))
    upload = request.files.get("evidence_file")
    upload = upload if upload is not None and upload.filename else None
    service.criterion(card, code)   # an unknown code is a 404 before anything is read
    by_deductions = bool(service.rubric_item(card, code).get("deductions"))

    def save():
        data = form_data({k: values[k] for k in ("note", "evidence_url")})
        if by_deductions:
            # Ticking nothing is an answer too: no deduction applies, full points.
            data["deductions"] = _form_ticks(values)
            if values["points"]:   # 酌情: points judged within what the ticks leave
                data["points"] = values["points"]
        else:
            data["points"] = values["points"] or None
        return service.enter_score_with_file(actor, card, code, ManualScoreSchema().load(data), upload,
                                             keep_evidence=not values["drop_evidence"], field_name="evidence_file")

    def rerender(errors, status):
        errors = _flat(errors)
        if upload is not None and "evidence_file" not in errors:
            # A browser cannot put a chosen file back into the form.
            errors = {**errors, "evidence_file": ["请重新选择文件"]}
        return _criterion_page(actor, card, code, values, errors, status)

    return submit_form(save, rerender, f"{code} 已评分，总分已更新",
                       lambda row: url_for("rating_pages.scorecard", period_id=period_id, org_id=org_id,
                                           _anchor=f"c-{code}"))


# --- self-report, problems, appeals ------------------------------------------------------------

def _self_report_page(actor, card: Scorecard, values: dict, errors: dict, status: int = 200):
    return render_template("rating_self_report.html", tab="home", card=card, values=values, errors=errors,
                           labels=SELF_REPORT_LABELS, levels=_levels(card),
                           editable=card.period.phase == Phase.self_evaluation
                           and can(actor, "scorecard.self_evaluate", card)), status


@bp.get("/<int:period_id>/orgs/<int:org_id>/self-report")
def self_report(period_id: int, org_id: int):
    actor = require_page_actor()
    card = service.scorecard_for(actor, period_id, org_id)
    values = {**(card.self_report or {}), "claimed": _level_value(card.claimed_stars, card.claimed_grade)}
    return _self_report_page(actor, card, values, {})


@bp.post("/<int:period_id>/orgs/<int:org_id>/self-report")
def self_report_save(period_id: int, org_id: int):
    actor = require_page_actor()
    card = service.scorecard_for(actor, period_id, org_id)
    values = {k: request.form.get(k, "").strip() for k in (*SELF_REPORT_LABELS, "claimed")}
    return submit_form(
        lambda: service.save_self_report(actor, card, SelfReportSchema().load(
            _with_level(card, form_data({k: values[k] for k in SELF_REPORT_LABELS}), values["claimed"], "claimed"))),
        lambda errors, status: _self_report_page(actor, card, values, errors, status),
        "自我评价报告已保存", lambda _: url_for("rating_pages.scorecard", period_id=period_id, org_id=org_id))


def _problems_page(actor, card: Scorecard, values: dict, errors: dict, status: int = 200):
    return render_template("rating_problems.html", tab="home", card=card, problems=service.problems_of(card),
                           values=values, errors=errors, statuses=PROBLEM_LABELS,
                           standards=card.period.rubric.body["standards"],
                           editable=can(actor, "scorecard.problems", card)), status


@bp.get("/<int:period_id>/orgs/<int:org_id>/problems")
def problems(period_id: int, org_id: int):
    actor = require_page_actor()
    return _problems_page(actor, service.scorecard_for(actor, period_id, org_id), {}, {})


@bp.post("/<int:period_id>/orgs/<int:org_id>/problems")
def problem_add(period_id: int, org_id: int):
    actor = require_page_actor()
    card = service.scorecard_for(actor, period_id, org_id)
    values = {k: request.form.get(k, "").strip() for k in ("problem", "measure", "owner", "deadline", "standard_code")}
    return submit_form(lambda: service.add_problem(actor, card, ProblemCreateSchema().load(form_data(values))),
                       lambda errors, status: _problems_page(actor, card, values, errors, status),
                       "已加入问题清单",
                       lambda _: url_for("rating_pages.problems", period_id=period_id, org_id=org_id))


@bp.post("/problems/<int:problem_id>")
def problem_update(problem_id: int):
    actor = require_page_actor()
    problem = service.problem_for(actor, problem_id)
    back = url_for("rating_pages.problems", period_id=problem.period_id, org_id=problem.org_id)
    values = {k: request.form.get(k, "").strip() for k in ("measure", "owner", "deadline", "status")}
    changes = {k: v or None for k, v in values.items() if k != "status"}
    changes["status"] = values["status"]
    return act_and_return(lambda: service.update_problem(actor, problem, ProblemUpdateSchema().load(changes)),
                          "问题清单已更新", back)


def _appeal_page(actor, card: Scorecard, values: dict, errors: dict, status: int = 200):
    return render_template("rating_appeal.html", tab="home", card=card, appeals=service.appeals_of(card),
                           values=values, errors=errors, labels=APPEAL_LABELS,
                           can_file=service.can_file_appeal(actor, card)), status


@bp.get("/<int:period_id>/orgs/<int:org_id>/appeal")
def appeal(period_id: int, org_id: int):
    actor = require_page_actor()
    return _appeal_page(actor, service.scorecard_for(actor, period_id, org_id), {}, {})


@bp.post("/<int:period_id>/orgs/<int:org_id>/appeal")
def appeal_file(period_id: int, org_id: int):
    actor = require_page_actor()
    card = service.scorecard_for(actor, period_id, org_id)
    values = {k: request.form.get(k, "").strip() for k in ("reasons", "material_url")}
    return submit_form(lambda: service.file_appeal(actor, card, **AppealCreateSchema().load(form_data(values))),
                       lambda errors, status: _appeal_page(actor, card, values, errors, status),
                       "申诉已提交，街道处理后会在这里显示结果",
                       lambda _: url_for("rating_pages.appeal", period_id=period_id, org_id=org_id))


@bp.get("/<int:period_id>/appeals")
def appeals(period_id: int):
    actor = require_page_actor()
    period = service.period_for(actor, period_id, "period.manage")
    found = service.period_appeals(actor, period, pending_first=True)
    cards = {c.org_id: c for c in period.scorecards}
    return render_template("rating_appeals.html", tab="home", period=period, appeals=found, cards=cards,
                           labels=APPEAL_LABELS, items=rubrics.items_of(period.rubric.body),
                           can_decide=period.phase == Phase.appeal)


@bp.post("/appeals/<int:appeal_id>/decide")
def appeal_decide(appeal_id: int):
    actor = require_page_actor()
    found = service.appeal_for(actor, appeal_id)
    decision = request.form.get("decision", "")
    data = {"decision": decision, "note": request.form.get("note", "").strip(), "changes": []}
    code, points = request.form.get("code", "").strip(), request.form.get("points", "").strip()
    if decision == "accept" and code and points:
        data["changes"] = [{"code": code, "points": points}]

    def decide():
        if decision == "accept" and bool(code) != bool(points):
            raise Invalid("改分请同时选择项目和填写分数", code="incomplete_change")
        args = AppealDecisionSchema().load(data)
        return service.decide_appeal(actor, found, accept=args["decision"] == "accept", note=args["note"],
                                     changes=args["changes"])

    return act_and_return(decide, lambda a: f"申诉处理完毕：{APPEAL_LABELS[AppealStatus(a.status)]}",
                          url_for("rating_pages.appeals", period_id=found.period_id))


# --- meetings (organisational life read by R2 and O2) -------------------------------------------

def _meetings_page(actor, org: Org, values: dict, errors: dict, status: int = 200):
    return render_template("rating_meetings.html", tab="home", org=org, kinds=MEETING_LABELS,
                           meetings=service.meetings_of(org, limit=100), values=values, errors=errors,
                           today=service.today(), street=can(actor, "org.confirm_meetings", org),
                           backdate_days=BACKDATE_DAYS, max_mb=_max_mb()), status


def _max_mb() -> int:
    return current_app.config["EVIDENCE_MAX_BYTES"] // (1024 * 1024)


def _upload(name: str):
    upload = request.files.get(name)
    return upload if upload is not None and upload.filename else None


def _refile(errors: dict, upload) -> dict:
    """A browser cannot put a chosen file back into a refused form: ask for it again."""
    if upload is not None and "evidence_file" not in errors:
        return {**errors, "evidence_file": ["请重新选择文件"]}
    return errors


@bp.get("/orgs/<int:org_id>/meetings")
def meetings(org_id: int):
    actor = require_page_actor()
    org = service.meeting_org(actor, org_id)
    return _meetings_page(actor, org, {"held_on": service.today().isoformat(), "kind": "joint"}, {})


MEETING_FIELDS = ("kind", "held_on", "topic", "attendance", "no_evidence_reason")


@bp.post("/orgs/<int:org_id>/meetings")
@accepts_upload("EVIDENCE_MAX_BYTES")
def meeting_add(org_id: int):
    actor = require_page_actor()
    org = service.meeting_org(actor, org_id)
    values = {k: request.form.get(k, "").strip() for k in MEETING_FIELDS}
    upload = _upload("evidence_file")
    return submit_form(
        lambda: service.record_meeting_with_file(
            actor, org, MeetingCreateSchema().load(form_data(values, ints=("attendance",))), upload,
            field_name="evidence_file"),
        lambda errors, status: _meetings_page(actor, org, values, _refile(errors, upload), status),
        "会议已记录", lambda m: url_for("rating_pages.meetings", org_id=org_id, _anchor=f"m-{m.id}"))


def _correction_page(actor, meeting, values: dict, errors: dict, status: int = 200):
    return render_template("rating_meeting_correct.html", tab="home", meeting=meeting, kinds=MEETING_LABELS,
                           values=values, errors=errors, today=service.today(), backdate_days=BACKDATE_DAYS,
                           max_mb=_max_mb()), status


@bp.get("/meetings/<int:meeting_id>/correct")
def meeting_correction(meeting_id: int):
    actor = require_page_actor()
    meeting = service.meeting_for(actor, meeting_id)
    values = {"kind": meeting.kind, "held_on": meeting.held_on.isoformat(), "topic": meeting.topic,
              "attendance": str(meeting.attendance)}
    return _correction_page(actor, meeting, values, {})


@bp.post("/meetings/<int:meeting_id>/correct")
@accepts_upload("EVIDENCE_MAX_BYTES")
def meeting_correct(meeting_id: int):
    actor = require_page_actor()
    meeting = service.meeting_for(actor, meeting_id)
    values = {k: request.form.get(k, "").strip() for k in (*MEETING_FIELDS, "note")}
    upload = _upload("evidence_file")

    def correct():
        args = MeetingCorrectionSchema().load(form_data(values, ints=("attendance",)))
        note = args.pop("note")
        return service.correct_meeting_with_file(actor, meeting, args, note, upload, field_name="evidence_file")

    return submit_form(correct, lambda errors, status: _correction_page(actor, meeting, values,
                                                                        _refile(errors, upload), status),
                       "已更正：原记录不再计入，更正记录已记入台账",
                       lambda m: url_for("rating_pages.meetings", org_id=m.org_id, _anchor=f"m-{m.id}"))


def _back_to_meetings(meeting) -> str:
    """Where a street decision returns: the campaign list it came from, or the org's records."""
    back = request.form.get("back", "")
    return back if back.startswith("/h5/rating/") else url_for("rating_pages.meetings", org_id=meeting.org_id)


@bp.post("/meetings/<int:meeting_id>/confirm")
def meeting_confirm(meeting_id: int):
    actor = require_page_actor()
    meeting = service.meeting_for(actor, meeting_id, "meeting.decide")
    return act_and_return(lambda: service.confirm_meeting(actor, meeting), "已确认，该记录计入评分",
                          _back_to_meetings(meeting))


@bp.post("/meetings/<int:meeting_id>/strike")
def meeting_strike(meeting_id: int):
    actor = require_page_actor()
    meeting = service.meeting_for(actor, meeting_id, "meeting.decide")
    reason = request.form.get("reason", "").strip()
    return act_and_return(
        lambda: service.strike_meeting(actor, meeting, StrikeSchema().load(form_data({"reason": reason}))["reason"]),
        "已删除，该记录不再计入评分", _back_to_meetings(meeting))


@bp.get("/<int:period_id>/meetings")
def campaign_meetings(period_id: int):
    actor = require_page_actor()
    period = service.period_for(actor, period_id, "period.manage")
    return render_template("rating_campaign_meetings.html", tab="home", period=period,
                           meetings=service.campaign_meetings(actor, period), backdate_days=BACKDATE_DAYS)


# --- the street's override, quota exceptions, the preliminary opinion ---------------------------------

def _levels(card: Scorecard) -> list[tuple[str, str]]:
    """The levels a rubric names, best first: stars 5 … 0, or its grades."""
    body = card.period.rubric.body
    if body["kind"] == "stars":
        return [(str(n), f"{STAR_NAMES[n]}{'党组织' if n else ''}") for n in range(5, -1, -1)]
    return [(g["name"], g["name"]) for g in body["rules"]["grades"]]


def _level_value(stars: int | None, grade: str | None) -> str:
    return str(stars) if stars is not None else grade or ""


def _with_level(card: Scorecard, data: dict, chosen: str, prefix: str) -> dict:
    """The level chosen in a form as the schema's `<prefix>_stars` or `<prefix>_grade`."""
    key = "stars" if prefix == "review" else f"{prefix}_stars"
    if card.period.rubric.body["kind"] == "stars":
        if chosen:
            data[key] = int(chosen) if chosen.isdigit() else chosen
    elif chosen:
        data[key.replace("stars", "grade")] = chosen
    return data


def _override_page(actor, card: Scorecard, code: str, values: dict, errors: dict, status: int = 200):
    if not service.may_override(actor, card):
        raise Forbidden("只有街道在初审和审核阶段可以核定评分")
    row = service.criterion(card, code)
    return render_template("rating_override.html", tab="home", card=card, row=row,
                           item=service.rubric_item(card, code), sources=SOURCE_LABELS, values=values,
                           errors=errors, max_mb=_max_mb()), status


@bp.get("/<int:period_id>/orgs/<int:org_id>/criteria/<code>/override")
def override(period_id: int, org_id: int, code: str):
    actor = require_page_actor()
    card = service.scorecard_for(actor, period_id, org_id)
    row = service.criterion(card, code)
    values = {"points": _points(row.override_points) if row.overridden else "", "note": row.override_note or "",
              "evidence_url": row.override_evidence_url or ""}
    return _override_page(actor, card, code, values, {})


@bp.post("/<int:period_id>/orgs/<int:org_id>/criteria/<code>/override")
@accepts_upload("EVIDENCE_MAX_BYTES")
def override_save(period_id: int, org_id: int, code: str):
    actor = require_page_actor()
    card = service.scorecard_for(actor, period_id, org_id)
    service.criterion(card, code)
    values = {k: request.form.get(k, "").strip() for k in ("points", "note", "evidence_url")}
    values["drop_evidence"] = bool(request.form.get("drop_evidence"))
    upload = _upload("evidence_file")
    return submit_form(
        lambda: service.override_with_file(actor, card, code, OverrideSchema().load(
            form_data({k: values[k] for k in ("points", "note", "evidence_url")})), upload,
                                           keep_evidence=not values["drop_evidence"], field_name="evidence_file"),
        lambda errors, status: _override_page(actor, card, code, values, _refile(errors, upload), status),
        f"{code} 已核定，总分已更新",
        lambda _: url_for("rating_pages.scorecard", period_id=period_id, org_id=org_id, _anchor=f"c-{code}"))


@bp.post("/<int:period_id>/orgs/<int:org_id>/criteria/<code>/override/remove")
def override_remove(period_id: int, org_id: int, code: str):
    actor = require_page_actor()
    card = service.scorecard_for(actor, period_id, org_id)
    note = request.form.get("remove_note", "").strip()
    return act_and_return(
        lambda: service.remove_override(actor, card, code, **ReasonSchema().load(form_data({"note": note}))),
        f"{code} 已撤销核定，恢复按计算值计分",
        url_for("rating_pages.scorecard", period_id=period_id, org_id=org_id, _anchor=f"c-{code}"))


def _exception_page(actor, card: Scorecard, values: dict, errors: dict, status: int = 200):
    if not can(actor, "period.manage", card.period):
        raise Forbidden("只有组织创评的街道可以记录名额例外")
    body = card.period.rubric.body
    orgs = len(card.period.scorecards)
    notes = [place_note(q["stars"], q["max_share"], orgs) for q in body["rules"].get("quotas", [])]
    return render_template("rating_quota_exception.html", tab="home", card=card, values=values, errors=errors,
                           notes=notes), status


@bp.get("/<int:period_id>/orgs/<int:org_id>/quota-exception")
def quota_exception(period_id: int, org_id: int):
    actor = require_page_actor()
    card = service.scorecard_for(actor, period_id, org_id)
    return _exception_page(actor, card, {"reason": card.quota_exception or ""}, {})


@bp.post("/<int:period_id>/orgs/<int:org_id>/quota-exception")
def quota_exception_save(period_id: int, org_id: int):
    actor = require_page_actor()
    card = service.scorecard_for(actor, period_id, org_id)
    values = {"reason": request.form.get("reason", "").strip()}
    withdraw = request.form.get("withdraw") == "1"

    def save():
        reason = QuotaExceptionSchema().load(form_data(values))["reason"]
        if withdraw:
            return service.remove_quota_exception(actor, card, reason)
        return service.set_quota_exception(actor, card, reason)

    return submit_form(save, lambda errors, status: _exception_page(actor, card, values, errors, status),
                       "名额例外已撤销" if withdraw else "名额例外已记录，定级时该组织不受名额限制",
                       lambda _: url_for("rating_pages.period", period_id=period_id))


def _opinion_page(actor, card: Scorecard, values: dict, errors: dict, status: int = 200):
    if card.period.phase != Phase.review or not can(actor, "scorecard.review", card):
        raise Forbidden("初评意见由街道在初审阶段填写")
    return render_template("rating_review_opinion.html", tab="home", card=card, values=values, errors=errors,
                           levels=_levels(card)), status


@bp.get("/<int:period_id>/orgs/<int:org_id>/review-opinion")
def review_opinion(period_id: int, org_id: int):
    actor = require_page_actor()
    card = service.scorecard_for(actor, period_id, org_id)
    return _opinion_page(actor, card, {"level": _level_value(card.review_stars, card.review_grade),
                                       "opinion": card.review_opinion or ""}, {})


@bp.post("/<int:period_id>/orgs/<int:org_id>/review-opinion")
def review_opinion_save(period_id: int, org_id: int):
    actor = require_page_actor()
    card = service.scorecard_for(actor, period_id, org_id)
    values = {k: request.form.get(k, "").strip() for k in ("level", "opinion")}
    return submit_form(
        lambda: service.save_review_opinion(actor, card, **ReviewOpinionSchema().load(
            _with_level(card, form_data({"opinion": values["opinion"]}), values["level"], "review"))),
        lambda errors, status: _opinion_page(actor, card, values, errors, status),
        "初评意见已保存", lambda _: url_for("rating_pages.scorecard", period_id=period_id, org_id=org_id))
