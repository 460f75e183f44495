from __future__ import annotations

import sqlalchemy as sa
from flask import Response, current_app, request, send_file
from flask_smorest import Blueprint

from backend.auth.current import require_actor
from backend.core.db import commit
from backend.core.errors import Invalid, NotFound, TooManyRequests, Unavailable
from backend.core.headers import sandbox_file
from backend.core.permissions import Actor
from backend.core.uploads import accepts_upload
from backend.extensions import db
from backend.rating import anchors, evidence, export, ledger, rubrics, service, stream
from backend.rating.models import RatingPeriod, Scorecard, ScoreEvent
from backend.rating.schemas import (
    AdvanceSchema,
    AppealCreateSchema,
    AppealDecisionSchema,
    AppealSchema,
    CampaignEntrySchema,
    EventArgs,
    EvidenceSchema,
    ManualScoreSchema,
    MeetingCorrectionSchema,
    MeetingCreateSchema,
    MeetingSchema,
    OverrideSchema,
    PeriodCreateSchema,
    PeriodSchema,
    ProblemCreateSchema,
    ProblemSchema,
    ProblemUpdateSchema,
    QuotaExceptionSchema,
    ReasonSchema,
    ReviewOpinionSchema,
    RubricSchema,
    ScorecardRowSchema,
    ScorecardSchema,
    ScoreEventSchema,
    SelfReportSchema,
    StrikeSchema,
    VerifySchema,
)

blp = Blueprint("rating", __name__, url_prefix="/api/v1", description="星级创评：评定标准、创评周期、评分、申诉与台账")


def _rubric_view(code: str) -> dict:
    stored = rubrics.current(code)
    body = stored.body
    keep = ("parts", "deductions", "standard", "method", "supplemented")
    return {"code": stored.code, "version": stored.version, "content_hash": stored.content_hash,
            "title": stored.title, "kind": stored.kind, "rules": {**body["rules"], "poll": body.get("poll")},
            "standards": [{"code": s["code"], "title": s["title"], "max_points": s["max_points"],
                           "criteria": [{"code": c["code"], "title": c["title"], "max_points": c["max_points"],
                                         "source": c["source"], "rule": {k: c[k] for k in keep if k in c}}
                                        for c in s.get("criteria", [])]} for s in body["standards"]]}


@blp.get("/rubrics")
@blp.response(200, RubricSchema(many=True))
def list_rubrics():
    """The rubrics the product ships, each at its current version (a changed file is a new one)."""
    return [_rubric_view(code) for code in rubrics.files()]


@blp.get("/rubrics/<code>")
@blp.response(200, RubricSchema)
def get_rubric(code):
    """One rubric with every criterion's rule."""
    return _rubric_view(code)


def _period(period_id: int, action: str = "period.view") -> tuple[Actor, RatingPeriod]:
    actor = require_actor()
    return actor, service.period_for(actor, period_id, action)


def _card(period_id: int, org_id: int) -> tuple[Actor, Scorecard]:
    actor = require_actor()
    return actor, service.scorecard_for(actor, period_id, org_id)


@blp.post("/periods")
@blp.arguments(PeriodCreateSchema)
@blp.response(201, PeriodSchema)
def create_period(args):
    """A campaign for a set of orgs under one street, scored by a rubric version."""
    period = service.create_period(require_actor(), **args)
    commit()
    return period


@blp.get("/periods")
@blp.response(200, PeriodSchema(many=True))
def list_periods():
    """Campaigns the person may see, newest first."""
    return service.visible_periods(require_actor())


@blp.get("/periods/<int:period_id>")
@blp.response(200, PeriodSchema)
def get_period(period_id):
    """One campaign."""
    return _period(period_id)[1]


@blp.post("/periods/<int:period_id>/advance")
@blp.arguments(AdvanceSchema)
@blp.response(200, PeriodSchema)
@blp.alt_response(409, description="stale_phase (the body's `from` is not the phase now), invalid_phase, "
                                   "phase_closed, appeals_pending")
def advance(args, period_id):
    """open → self_evaluation → review → audit → appeal → final, by the street running it.
    Entering appeal publishes the results and starts the working-day clock; entering final
    needs no pending appeal and the window closed, and applies quotas and consequences."""
    actor, period = _period(period_id)
    service.advance(actor, period, args.get("to"), from_phase=args["from_"])
    commit()
    return period


@blp.get("/periods/<int:period_id>/scorecards")
@blp.response(200, ScorecardRowSchema(many=True))
def scorecards(period_id):
    """One row per org the person may see, best total first."""
    actor, period = _period(period_id)
    return service.visible_cards(actor, period)


@blp.get("/periods/<int:period_id>/scorecards/<int:org_id>")
@blp.response(200, ScorecardSchema)
def get_scorecard(period_id, org_id):
    """Every criterion with its points, source and explanation."""
    return service.scorecard_read(require_actor(), period_id, org_id)


@blp.put("/periods/<int:period_id>/scorecards/<int:org_id>/criteria/<code>")
@blp.arguments(ManualScoreSchema)
@blp.response(200, ScorecardSchema)
def enter_score(args, period_id, org_id, code):
    """A manual criterion: `points`, or the `deductions` that apply — an index, `{index,
    count}` for a per-count item ("每少1项扣1分", up to its `max_count`), `{index, choice}` for
    a one-of item (exclusive alternatives) — and points = max − what they lose, at least 0.
    The secretary in self-evaluation, the street in review and audit; 409 `phase_closed`
    otherwise; 422 `unknown_deduction`, `deduction_count_out_of_range`,
    `deduction_choice_required`, `deduction_repeated` for ticks the item does not take."""
    actor, card = _card(period_id, org_id)
    service.enter_score(actor, card, code, **args)
    commit()
    return card


@blp.post("/periods/<int:period_id>/scorecards/<int:org_id>/evidence")
@blp.response(201, EvidenceSchema)
@accepts_upload("EVIDENCE_MAX_BYTES")
def upload_evidence(period_id, org_id):
    """A photo (JPG, PNG, WebP) or PDF as multipart field `file`, by whoever may score the
    card now; its `id` then goes with a score as `evidence_id`. The SHA-256 enters the ledger
    with the score."""
    actor, card = _card(period_id, org_id)
    stored = service.add_evidence(actor, card, request.files.get("file"))
    commit()
    return stored


@blp.get("/evidence/<int:evidence_id>")
@blp.response(200, description="the file, shown in the browser (images, PDF)")
def get_evidence(evidence_id):
    """To whoever sees the scorecard it belongs to."""
    found = service.evidence_for(require_actor(), evidence_id)
    path = evidence.path_of(found)
    if not path.exists():
        current_app.logger.error("evidence %s missing at %s", found.id, path)
        raise NotFound("文件已丢失，请联系管理员", code="evidence_missing")
    response = send_file(path, mimetype=found.content_type, download_name=found.filename, conditional=True,
                         max_age=0)
    sandbox_file(response, found.content_type, request.user_agent.string)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@blp.put("/periods/<int:period_id>/scorecards/<int:org_id>/self-report")
@blp.arguments(SelfReportSchema)
@blp.response(200, ScorecardSchema)
def self_report(args, period_id, org_id):
    """自我评价报告: evaluation against the standards, problems and causes, measures, next steps."""
    actor, card = _card(period_id, org_id)
    service.save_self_report(actor, card, args)
    commit()
    return card


@blp.get("/periods/<int:period_id>/scorecards/<int:org_id>/events")
@blp.arguments(EventArgs, location="query")
@blp.response(200, ScoreEventSchema(many=True))
def events(args, period_id, org_id):
    """Score changes after event `after`, oldest first: what the live dashboard replays."""
    return service.events_after(_card(period_id, org_id)[1], args["after"], args["limit"])


def _sse(actor: Actor, period_id: int, org_id: int | None) -> Response:
    """Resume after `Last-Event-ID` (what a browser's EventSource sends on reconnection) or
    `?after=`; with neither, only events from now on."""
    mark = request.headers.get("Last-Event-ID") or request.args.get("after")
    if mark is None:
        after = db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(ScoreEvent.id), 0)))
    elif mark.isascii() and mark.isdecimal() and len(mark) <= 18:
        after = int(mark)
    else:
        raise Invalid("after 应为事件编号", code="invalid_after", fields={"after": ["应为非负整数"]})
    try:
        body, on_close = stream.events(current_app._get_current_object(), period_id, org_id, after,
                                       actor.person_id)
    except stream.PersonBusy:
        # Each of this person's streams ends within STREAM_MAX_SECONDS (or when a page closes).
        raise TooManyRequests("您打开的实时看板太多了，请关闭其他看板页面后再试（本页会改为定时刷新）",
                              code="too_many_streams",
                              headers={"Retry-After": str(current_app.config["STREAM_MAX_SECONDS"])}) from None
    except stream.Busy:
        raise Unavailable("实时连接已满，请稍后重试", code="streams_busy") from None
    response = Response(body, mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"})
    response.call_on_close(on_close)
    return response


@blp.get("/periods/<int:period_id>/scorecards/<int:org_id>/stream")
@blp.response(200, description="text/event-stream: `event: score`, `id:` the score event id, `data:` as …/events")
@blp.alt_response(429, description="too_many_streams: the person holds STREAM_MAX_PER_PERSON streams of this "
                                   "process (Retry-After)")
@blp.alt_response(503, description="streams_busy: the process serves STREAM_MAX_OPEN streams")
def stream_scorecard(period_id, org_id):
    """Server-Sent Events, one per score change of this scorecard, within about a second of
    the change committing in any server process; a `: ping` comment every 15 s."""
    actor, _ = _card(period_id, org_id)
    return _sse(actor, period_id, org_id)


@blp.get("/periods/<int:period_id>/stream")
@blp.response(200, description="text/event-stream of every scorecard of the campaign")
@blp.alt_response(429, description="too_many_streams (Retry-After)")
@blp.alt_response(503, description="streams_busy")
def stream_period(period_id):
    """The whole campaign's score changes, for the street's dashboard."""
    actor, _ = _period(period_id, "period.manage")
    return _sse(actor, period_id, None)


@blp.post("/periods/<int:period_id>/scorecards/<int:org_id>/appeals")
@blp.arguments(AppealCreateSchema)
@blp.response(201, AppealSchema)
def file_appeal(args, period_id, org_id):
    """Within the working-day window after publication; one pending appeal at a time."""
    actor, card = _card(period_id, org_id)
    appeal = service.file_appeal(actor, card, **args)
    commit()
    return appeal


@blp.get("/periods/<int:period_id>/appeals")
@blp.response(200, AppealSchema(many=True))
def list_appeals(period_id):
    """The campaign's appeals of the scorecards the person may see."""
    return service.period_appeals(*_period(period_id))


@blp.post("/appeals/<int:appeal_id>/decide")
@blp.arguments(AppealDecisionSchema)
@blp.response(200, AppealSchema)
def decide_appeal(args, appeal_id):
    """The street accepts (with score changes) or rejects (with the reason)."""
    actor = require_actor()
    appeal = service.appeal_for(actor, appeal_id)
    service.decide_appeal(actor, appeal, accept=args["decision"] == "accept", note=args["note"],
                          changes=args["changes"])
    commit()
    return appeal


@blp.get("/periods/<int:period_id>/scorecards/<int:org_id>/problems")
@blp.response(200, ProblemSchema(many=True))
def problems(period_id, org_id):
    """The scorecard's problem list."""
    return service.problems_of(_card(period_id, org_id)[1])


@blp.post("/periods/<int:period_id>/scorecards/<int:org_id>/problems")
@blp.arguments(ProblemCreateSchema)
@blp.response(201, ProblemSchema)
def add_problem(args, period_id, org_id):
    """A problem found, with its measure, owner and deadline."""
    actor, card = _card(period_id, org_id)
    problem = service.add_problem(actor, card, args)
    commit()
    return problem


@blp.patch("/problems/<int:problem_id>")
@blp.arguments(ProblemUpdateSchema)
@blp.response(200, ProblemSchema)
def update_problem(args, problem_id):
    """Progress on a problem of the list."""
    actor = require_actor()
    problem = service.problem_for(actor, problem_id)
    service.update_problem(actor, problem, args)
    commit()
    return problem


@blp.get("/periods/<int:period_id>/ledger")
@blp.response(200, CampaignEntrySchema(many=True))
def get_ledger(period_id):
    """Every decision of the campaign in order, each hashed with the one before it."""
    period = _period(period_id, "period.manage")[1]
    return [ledger.as_dict(e) for e in db.session.scalars(ledger.entries(period))]


@blp.get("/periods/<int:period_id>/ledger/verify")
@blp.response(200, VerifySchema)
def verify_ledger(period_id):
    """Walk the chain and check it against its anchors: `ok`, or the first entry that does not
    hold and why, and each anchor with whether the chain still has that hash at that sequence."""
    return anchors.verified(_period(period_id, "period.manage")[1])


@blp.get("/periods/<int:period_id>/export.xlsx")
@blp.response(200, description="Excel workbook: 汇总, 评分明细, 组织生活记录, 问题清单, 台账")
def export_xlsx(period_id):
    """The campaign as a workbook, for the street."""
    actor, period = _period(period_id, "period.manage")
    return Response(export.workbook(period, service.campaign_meetings(actor, period, limit=None)),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": export.filename(period)})


@blp.get("/orgs/<int:org_id>/meetings")
@blp.response(200, MeetingSchema(many=True))
def meetings(org_id):
    """Organisational life recorded for an org (联席会、三会一课、主题党日、协商议事会)."""
    return service.meetings_of(service.meeting_org(require_actor(), org_id))


@blp.post("/orgs/<int:org_id>/meetings")
@blp.arguments(MeetingCreateSchema)
@blp.response(201, MeetingSchema)
def record_meeting(args, org_id):
    """A meeting held, with `evidence_id` (minutes or a photo) or `no_evidence_reason` (422
    `evidence_required` with neither); 422 `meeting_in_future`. Dated more than 30 days back
    by the community it is `pending` and does not count until a street officer confirms it.
    Written into the ledger of every campaign of its year that rates the org."""
    actor = require_actor()
    meeting = service.record_meeting(actor, service.meeting_org(actor, org_id), args)
    commit()
    return meeting


@blp.post("/orgs/<int:org_id>/meetings/evidence")
@blp.response(201, EvidenceSchema)
@accepts_upload("EVIDENCE_MAX_BYTES")
def upload_meeting_evidence(org_id):
    """Minutes or a photo of a meeting (JPG, PNG, WebP or PDF) as multipart field `file`; its
    `id` then goes with the record as `evidence_id`."""
    actor = require_actor()
    stored = service.add_meeting_evidence(actor, service.meeting_org(actor, org_id), request.files.get("file"))
    commit()
    return stored


@blp.post("/meetings/<int:meeting_id>/corrections")
@blp.arguments(MeetingCorrectionSchema)
@blp.response(201, MeetingSchema)
def correct_meeting(args, meeting_id):
    """A record is never edited: a correction is a new record replacing it (which stops
    counting), with `note` saying what was wrong; both are in the ledger. A changed date or
    kind is judged like a new record. 409 `meeting_closed` for a struck or corrected record,
    `already_corrected` when another correction won."""
    actor = require_actor()
    note = args.pop("note")
    corrected = service.correct_meeting(actor, service.meeting_for(actor, meeting_id), args, note)
    commit()
    return corrected


@blp.post("/meetings/<int:meeting_id>/confirm")
@blp.response(200, MeetingSchema)
def confirm_meeting(meeting_id):
    """The street lets a record dated more than 30 days back count (409 `not_pending`)."""
    actor = require_actor()
    meeting = service.confirm_meeting(actor, service.meeting_for(actor, meeting_id, "meeting.decide"))
    commit()
    return meeting


@blp.post("/meetings/<int:meeting_id>/strike")
@blp.arguments(StrikeSchema)
@blp.response(200, MeetingSchema)
def strike_meeting(args, meeting_id):
    """The street strikes a record out with a `reason`: it stops counting; ledgered."""
    actor = require_actor()
    meeting = service.strike_meeting(actor, service.meeting_for(actor, meeting_id, "meeting.decide"), args["reason"])
    commit()
    return meeting


@blp.get("/periods/<int:period_id>/meetings")
@blp.response(200, MeetingSchema(many=True))
def campaign_meetings(period_id):
    """The meeting records of the campaign's orgs in its year, those waiting for the street first."""
    actor, period = _period(period_id, "period.manage")
    return service.campaign_meetings(actor, period)


@blp.put("/periods/<int:period_id>/scorecards/<int:org_id>/criteria/<code>/override")
@blp.arguments(OverrideSchema)
@blp.response(200, ScorecardSchema)
def override_criterion(args, period_id, org_id, code):
    """街道核定: the street sets any criterion (poll and metric ones too) in review or audit,
    with a `note` and evidence (`evidence_id`, `evidence_url` or both; 422
    `evidence_required`). It counts until removed; the computed value stays beside it."""
    actor, card = _card(period_id, org_id)
    service.override_criterion(actor, card, code, **args)
    commit()
    return card


@blp.delete("/periods/<int:period_id>/scorecards/<int:org_id>/criteria/<code>/override")
@blp.arguments(ReasonSchema)
@blp.response(200, ScorecardSchema)
def remove_override(args, period_id, org_id, code):
    """The street removes its override (`note` says why): the computed value counts again."""
    actor, card = _card(period_id, org_id)
    service.remove_override(actor, card, code, note=args["note"])
    commit()
    return card


@blp.put("/periods/<int:period_id>/scorecards/<int:org_id>/quota-exception")
@blp.arguments(QuotaExceptionSchema)
@blp.response(200, ScorecardSchema)
def set_quota_exception(args, period_id, org_id):
    """The street lets this org keep the stars it earns beyond the quota, with the `reason`
    (the quotas hold 原则上); it takes no place from the others."""
    actor, card = _card(period_id, org_id)
    service.set_quota_exception(actor, card, args["reason"])
    commit()
    return card


@blp.delete("/periods/<int:period_id>/scorecards/<int:org_id>/quota-exception")
@blp.arguments(QuotaExceptionSchema)
@blp.response(200, ScorecardSchema)
def remove_quota_exception(args, period_id, org_id):
    """The street withdraws the exception, with the `reason`."""
    actor, card = _card(period_id, org_id)
    service.remove_quota_exception(actor, card, args["reason"])
    commit()
    return card


@blp.put("/periods/<int:period_id>/scorecards/<int:org_id>/review-opinion")
@blp.arguments(ReviewOpinionSchema)
@blp.response(200, ScorecardSchema)
def review_opinion(args, period_id, org_id):
    """初评意见: the level the street proposes (`stars`, or `grade`) and its `opinion`, in review."""
    actor, card = _card(period_id, org_id)
    service.save_review_opinion(actor, card, **args)
    commit()
    return card
