"""The yearly campaign (创评周期, seed 000 section 三): who may do what in which phase, manual
scores, the self-report, appeals, quotas and consequences at finalisation, and a ledger
entry for every decision."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import aliased, contains_eager, joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from backend.core.db import read_rows
from backend.core.errors import Conflict, DomainError, Invalid, NotFound
from backend.core.permissions import Actor, authorize, can, load_authorized
from backend.core.roles import Role
from backend.core.timeutil import local_zone
from backend.core.workdays import add_working_days
from backend.extensions import db, utcnow
from backend.notifications.service import already_told, notify_all
from backend.orgs.models import Org
from backend.orgs.permissions import org_visible_clause
from backend.people.service import role_holders
from backend.polls.service import CampaignFeed
from backend.rating import deductions as deduction_ticks
from backend.rating import engine, evidence, ledger, rubrics, watch
from backend.rating.models import (
    BACKDATE_DAYS,
    LIVE_PHASES,
    PHASE_LABELS,
    PHASE_ORDER,
    Appeal,
    AppealStatus,
    CriterionScore,
    Evidence,
    Meeting,
    MeetingStatus,
    Overridable,
    Phase,
    Problem,
    RatingPeriod,
    Scorecard,
    ScoreEvent,
    Source,
)
from backend.rating.permissions import RATING_ROLES
from backend.rating.quotas import STAR_NAMES, Candidate, apply_quotas

#: Which permission edits scores in which phase; other phases accept no score edits.
EDITORS = {Phase.self_evaluation: "scorecard.self_evaluate", Phase.review: "scorecard.review",
           Phase.audit: "scorecard.review"}
SELF_REPORT_FIELDS = ("evaluation", "problems", "measures", "next_steps")


def today() -> date:
    """Today where the communities are (campaign dates are local dates)."""
    return datetime.now(local_zone()).date()


# --- campaigns ---------------------------------------------------------------------------------

def create_period(actor: Actor, *, name: str, year: int, rubric_code: str, org_ids: list[int],
                  run_by_id: int | None = None) -> RatingPeriod:
    """A campaign for communities under one street, scored by the rubric's current version."""
    orgs = db.session.scalars(sa.select(Org).where(Org.id.in_(org_ids))).all()
    if len(orgs) != len(set(org_ids)) or not orgs:
        raise Invalid("参评组织不存在", code="unknown_org", fields={"org_ids": ["参评组织不存在"]})
    run_by = db.session.get(Org, run_by_id) if run_by_id else orgs[0].parent
    if run_by is None or any(not o.path.startswith(run_by.path) or o.id == run_by.id for o in orgs):
        message = "参评组织须都在组织创评的街道之下"
        raise Invalid(message, code="orgs_outside_street", fields={"org_ids": [message]})
    rubric = rubrics.ensure(rubric_code)
    period = RatingPeriod(name=name, year=year, rubric=rubric, run_by=run_by, created_by_id=actor.person_id,
                          phase=Phase.open.value)
    authorize(actor, "period.manage", period)
    db.session.add(period)
    db.session.flush()
    # Scorecards and their criteria in one statement each, whatever the number of orgs; then
    # their first figures, read for every org together and flushed together at the end.
    db.session.execute(sa.insert(Scorecard), [{"period_id": period.id, "org_id": o.id, "standards": {}}
                                              for o in sorted(orgs, key=lambda o: o.id)])
    card_ids = db.session.scalars(sa.select(Scorecard.id).where(Scorecard.period_id == period.id)).all()
    empty = engine.empty_criteria(rubric.body)
    db.session.execute(sa.insert(CriterionScore), [{**row, "scorecard_id": i} for i in card_ids for row in empty])
    cards = db.session.scalars(sa.select(Scorecard).where(Scorecard.period_id == period.id).order_by(Scorecard.id)
                               .options(selectinload(Scorecard.org), selectinload(Scorecard.criteria))).all()
    with db.session.no_autoflush:
        engine.recompute_many(cards, cause="创评开始")
    ledger.append(period, "period_created", actor_id=actor.person_id, name=name, year=year,
                  rubric={"code": rubric.code, "version": rubric.version, "hash": rubric.content_hash},
                  org_ids=sorted(o.id for o in orgs))
    _ledger_meetings_so_far(period, cards, actor)
    return period


def advance(actor: Actor, period: RatingPeriod, to: str | None = None, *, from_phase: str | None = None
            ) -> RatingPeriod:
    """One step forward; `from_phase`, when given, must be the phase it is in and `to` that next
    step (both guard a double click and a page opened before someone else moved it on)."""
    authorize(actor, "period.manage", period)
    current = Phase(period.phase)
    if current == Phase.final:
        raise Conflict("创评已结束", code="phase_closed")
    if from_phase is not None and from_phase != current.value:
        raise Conflict(f"创评已在“{PHASE_LABELS[current]}”阶段，请刷新后再试", code="stale_phase")
    target = PHASE_ORDER[PHASE_ORDER.index(current) + 1]
    if to is not None and to != target.value:
        raise Conflict(f"当前阶段只能进入“{PHASE_LABELS[target]}”", code="invalid_phase")
    if current == Phase.audit:
        # Leaving audit publishes the results: the figures freeze and the appeal clock starts.
        # Through the drift check, like every full recompute: publication never papers over drift.
        # Thorough, as at night: what is published is counted from the rows themselves.
        _audit_for_publication(period)
        period.published_on = today()
        period.appeal_deadline = add_working_days(
            period.published_on, period.rubric.body["rules"].get("appeal_working_days", 15),
            current_app.config["RATING_HOLIDAYS"], current_app.config["RATING_EXTRA_WORKDAYS"])
    if current == Phase.appeal:
        _check_appeals_closed(period)
    period.phase = target.value
    ledger.append(period, "phase_changed", actor_id=actor.person_id, old=current.value, new=target.value,
                  appeal_deadline=period.appeal_deadline)
    if target == Phase.final:
        finalise(period, actor)
    db.session.flush()
    # The org ids alone: a district's thousands of scorecards are not loaded to tell their secretaries.
    org_ids = list(db.session.scalars(sa.select(Scorecard.org_id).where(Scorecard.period_id == period.id)))
    _tell(role_holders(org_ids, [Role.secretary]), "period_phase", period,
          f"{period.name}已进入“{PHASE_LABELS[target]}”阶段")
    return period


def _audit_for_publication(period: RatingPeriod) -> None:
    """Audit every scorecard of `period` (thorough) in units, each its own short transaction
    (`watch.audit_in_units`), so a district's thousands of scorecards never hold SQLite's
    write lock, nor their rows, for the whole audit; then take the campaign's row again for
    the transaction that publishes it.

    No half-audited campaign is ever seen published. Until the publishing transaction commits,
    the campaign is in audit: every scorecard's scores are live, whether its unit has been
    audited yet or not, and a write between two units recomputes the scorecards it touches in
    its own transaction, exactly as it would have before publication began. The phase, the
    publication date and its ledger entry then commit together in one transaction, after every
    unit: readers see the campaign either in audit or published with every scorecard audited
    and whatever live writes came after. A second publication that waited finds the campaign
    published once it holds its row, and stops (stale_phase) before writing anything."""
    ids = list(db.session.scalars(sa.select(Scorecard.id).where(Scorecard.period_id == period.id)
                                  .order_by(Scorecard.id)))
    watch.audit_in_units(ids, cause="结果发布前核算", now=utcnow(), thorough=True, phases=(Phase.audit,))
    db.session.refresh(period, with_for_update=True)
    if period.phase != Phase.audit:
        phase = Phase(period.phase)
        raise Conflict(f"创评已在“{PHASE_LABELS[phase]}”阶段，请刷新后再试", code="stale_phase")


def _tell(person_ids: list[int], kind: str, period: RatingPeriod, message: str) -> None:
    """Tell each of `person_ids` about the campaign (its page is the subject)."""
    notify_all(person_ids, kind, "period", period.id, message)


def _check_appeals_closed(period: RatingPeriod) -> None:
    pending = db.session.scalar(sa.select(sa.func.count()).select_from(Appeal).where(
        Appeal.period_id == period.id, Appeal.status == AppealStatus.pending.value))
    if pending:
        raise Conflict(f"还有 {pending} 份申诉未处理", code="appeals_pending")
    if today() <= period.appeal_deadline:
        raise Conflict(f"申诉期至 {period.appeal_deadline:%Y年%m月%d日}，期满后才能定级", code="appeal_window_open")


# --- scorecards --------------------------------------------------------------------------------

#: The 404 of an org the campaign does not rate.
NOT_IN_CAMPAIGN = "该组织不在本次创评中"


def scorecard(period: RatingPeriod, org_id: int) -> Scorecard:
    """The campaign's scorecard of `org_id`, or 404."""
    card = db.session.scalar(sa.select(Scorecard).where(Scorecard.period_id == period.id,
                                                        Scorecard.org_id == org_id))
    if card is None:
        raise NotFound(NOT_IN_CAMPAIGN)
    return card


def may_edit(actor: Actor, card: Scorecard) -> bool:
    """Whether `actor` may change scores of `card` in the campaign's phase now."""
    action = EDITORS.get(Phase(card.period.phase))
    return action is not None and can(actor, action, card)


def editable(actor: Actor, card: Scorecard) -> None:
    """Who may change scores now: the secretary in self-evaluation, the street in review and
    audit, nobody in the other phases."""
    action = EDITORS.get(Phase(card.period.phase))
    if action is None:
        raise Conflict(f"“{card.period.phase_label}”阶段不能修改评分", code="phase_closed")
    authorize(actor, action, card)


def criterion(card: Scorecard, code: str) -> CriterionScore:
    """One criterion row of a scorecard, or 404."""
    row = next((c for c in card.criteria if c.code == code), None)
    if row is None:
        raise NotFound("评定标准中没有这一项", code="unknown_criterion")
    return row


def rubric_item(card: Scorecard, code: str) -> dict:
    """The rubric's text of one criterion (standard, method, deductions)."""
    return rubrics.items_of(card.period.rubric.body)[code]


def criterion_titles(period_id: int | None) -> dict[str, str]:
    """Criterion code → its name in the campaign's rubric (none outside a campaign): what a page
    shows beside a code, which alone says nothing to a reader."""
    period = db.session.get(RatingPeriod, period_id) if period_id else None
    return {code: item["title"] for code, item in rubrics.items_of(period.rubric.body).items()} if period else {}


def _manual_points(item: dict, row: CriterionScore, points: Decimal | None, ticks: list | None) -> engine.Computed:
    """What a manual entry gives: the ticks scored by the engine, or points entered directly
    (which stand, with any ticks as their reasons)."""
    if points is None:
        if ticks is None:
            raise Invalid("请填写得分或勾选扣分项", code="points_required", fields={"points": ["请填写得分"]})
        return engine.deduction_points(item, row.max_points, ticks)
    points = engine.points(points)
    if points < 0 or points > row.max_points:
        message = f"得分应在 0 到 {engine.fmt(row.max_points)} 之间"
        raise Invalid(message, code="points_out_of_range", fields={"points": [message]})
    # Judgement (酌情) works within what the ticked deductions leave, never above it.
    most = engine.deduction_points(item, row.max_points, ticks).points if ticks else row.max_points
    if points > most:
        message = f"按所选扣分项最多 {engine.fmt(most)} 分"
        raise Invalid(message, code="points_out_of_range", fields={"points": [message]})
    return engine.given_points(item, row.max_points, points, ticks)


def enter_score(actor: Actor, card: Scorecard, code: str, *, points: Decimal | None = None,
                deductions: list | None = None, note: str, evidence_url: str | None = None,
                evidence_id: int | None = None) -> CriterionScore:
    """A manual criterion: points given directly, or the deduction items that apply — an
    index, `{index, count}` for one counted per instance, `{index, choice}` for one of
    several alternatives (`backend.rating.deductions`); the evidence is a link, a file
    uploaded for this scorecard (`evidence.store`), or both."""
    card = engine.lock(card)
    editable(actor, card)
    row = criterion(card, code)
    if row.source != Source.manual:
        raise Conflict("这一项由测评或业务数据自动计算，不能手工评分", code="not_manual")
    evidence = db.session.get(Evidence, evidence_id) if evidence_id is not None else None
    if evidence_id is not None and (evidence is None or (evidence.period_id, evidence.org_id)
                                    != (card.period_id, card.org_id)):
        raise Invalid("佐证材料不存在", code="unknown_evidence", fields={"evidence_id": ["佐证材料不存在"]})
    item = rubric_item(card, code)
    ticks = deduction_ticks.read(item, deductions) if deductions is not None else None
    computed = _manual_points(item, row, points, ticks)
    old = row.points
    row.note, row.evidence_url, row.deductions, row.evidence = note, evidence_url, ticks, evidence
    if evidence is not None and evidence.attached_at is None:
        evidence.attached_at = utcnow()
    row.entered_by_id = actor.person_id
    engine.set_manual(card, row, computed.points, f"{card.period.phase_label}评分：{item['title'][:40]}")
    row.inputs, row.explanation = computed.inputs, computed.explanation[:300]
    ledger.append(card.period, "manual_score", org_id=card.org_id, actor_id=actor.person_id, criterion=code,
                  old=old, new=computed.points, note=note, evidence_url=evidence_url, deductions=ticks,
                  evidence={"id": evidence.id, "sha256": evidence.sha256, "filename": evidence.filename}
                  if evidence else None, phase=card.period.phase)
    db.session.flush()
    return row


def enter_score_with_file(actor: Actor, card: Scorecard, code: str, args: dict, upload=None, *,
                          keep_evidence: bool = True, field_name: str = "file") -> CriterionScore:
    """A manual score sent in one form with its photo or PDF: the new file replaces the
    evidence, or the evidence already there is kept unless `keep_evidence` is False."""
    kept = criterion(card, code).evidence_id
    editable(actor, card)
    received = evidence.receive(actor, card, upload, field_name) if upload is not None else None
    if received is not None:
        args["evidence_id"] = received.id
    elif kept is not None and keep_evidence:
        args["evidence_id"] = kept
    row = enter_score(actor, card, code, **args)
    if received is not None:
        evidence.keep(received)
    return row


def save_self_report(actor: Actor, card: Scorecard, report: dict) -> Scorecard:
    """The secretary's self-evaluation report with the level the community claims (自我定级:
    stars, or a grade), in the self-evaluation phase."""
    if Phase(card.period.phase) != Phase.self_evaluation:
        raise Conflict("只有自我评定阶段可以填写自我评价报告", code="phase_closed")
    authorize(actor, "scorecard.self_evaluate", card)
    card.claimed_stars, card.claimed_grade = _level(card, report.get("claimed_stars"), report.get("claimed_grade"),
                                                    "claimed_")
    card.self_report = {k: (report.get(k) or "").strip() for k in SELF_REPORT_FIELDS}
    card.self_report_at = utcnow()
    ledger.append(card.period, "self_report", org_id=card.org_id, actor_id=actor.person_id, **card.self_report,
                  claimed_stars=card.claimed_stars, claimed_grade=card.claimed_grade,
                  computed={"total": card.total, "stars": card.stars, "grade": card.grade})
    return card


def _level(card: Scorecard, stars: int | None, grade: str | None, prefix: str) -> tuple[int | None, str | None]:
    """A level named for `card`'s rubric: stars 0-5 (star rubrics) or one of its grades; a
    refusal names the field `<prefix>stars` or `<prefix>grade`."""
    body = card.period.rubric.body
    if body["kind"] == "stars":
        if stars is None or not 0 <= stars <= 5:
            raise Invalid("请选择星级", code="level_required", fields={f"{prefix}stars": ["请选择星级"]})
        return stars, None
    names = [g["name"] for g in body["rules"]["grades"]]
    if grade not in names:
        message = f"请选择等级（{'、'.join(names)}）"
        raise Invalid(message, code="level_required", fields={f"{prefix}grade": [message]})
    return None, grade


# --- appeals -----------------------------------------------------------------------------------

def _check_appeal(actor: Actor, card: Scorecard) -> None:
    """The rule for filing an appeal: the community's secretary, in the appeal phase, within the
    working-day window, with no appeal of theirs still pending."""
    period = card.period
    authorize(actor, "scorecard.appeal", card)
    if Phase(period.phase) != Phase.appeal:
        raise Conflict("结果反馈后才能申诉", code="phase_closed")
    if today() > period.appeal_deadline:
        raise Conflict(f"申诉期已于 {period.appeal_deadline:%Y年%m月%d日} 结束", code="appeal_window_closed")
    if pending_appeals(period, card.org_id):
        raise Conflict("已有一份申诉正在处理", code="appeal_pending")


def can_file_appeal(actor: Actor, card: Scorecard) -> bool:
    """Whether `actor` may file an appeal for `card` now (what the appeal page offers)."""
    try:
        _check_appeal(actor, card)
    except DomainError:
        return False
    return True


def file_appeal(actor: Actor, card: Scorecard, *, reasons: str, material_url: str | None = None) -> Appeal:
    """An appeal against the published result, recorded in the campaign ledger."""
    period = card.period
    _check_appeal(actor, card)
    appeal = Appeal(period_id=period.id, org_id=card.org_id, reasons=reasons, material_url=material_url,
                    created_by_id=actor.person_id)
    db.session.add(appeal)
    db.session.flush()
    ledger.append(period, "appeal_filed", org_id=card.org_id, actor_id=actor.person_id, appeal_id=appeal.id,
                  reasons=reasons, material_url=material_url)
    _tell(role_holders([period.run_by_id], [Role.street_officer]), "appeal_filed", period,
          f"{card.org.name}对{period.name}的结果提出申诉，请在申诉期内处理")
    return appeal


def decide_appeal(actor: Actor, appeal: Appeal, *, accept: bool, note: str,
                  changes: list[dict] | None = None) -> Appeal:
    """Accept (with the score changes it brings, any criterion) or reject with a reason."""
    authorize(actor, "appeal.decide", appeal)
    if appeal.status != AppealStatus.pending.value:
        raise Conflict("这份申诉已经处理", code="already_decided")
    period = db.session.get(RatingPeriod, appeal.period_id)
    if Phase(period.phase) != Phase.appeal:
        raise Conflict("只有申诉阶段可以处理申诉", code="phase_closed")
    card = engine.lock(scorecard(period, appeal.org_id))
    applied = []
    for change in (changes or []) if accept else []:
        row = criterion(card, change["code"])
        new = engine.points(change["points"])
        if new < 0 or new > row.max_points:
            message = f"{row.code} 得分应在 0 到 {engine.fmt(row.max_points)} 之间"
            raise Invalid(message, code="points_out_of_range", fields={"changes": [message]})
        _clear_override(row)   # the decision on the appeal replaces the street's earlier override
        applied.append({"criterion": row.code, "old": row.points, "new": new})
        row.note = change.get("note") or note
        row.entered_by_id = actor.person_id
        row.inputs = {"by": "appeal"}   # the decision stands; a full recompute leaves it
        engine.set_manual(card, row, new, f"申诉改分：{rubric_item(card, row.code)['title'][:40]}")
        row.explanation = f"申诉后改为 {engine.fmt(new)}/{engine.fmt(row.max_points)} 分（{row.note}）"[:300]
    appeal.status = (AppealStatus.accepted if accept else AppealStatus.rejected).value
    appeal.decision_note, appeal.decided_by_id, appeal.decided_at = note, actor.person_id, utcnow()
    ledger.append(period, "appeal_decided", org_id=appeal.org_id, actor_id=actor.person_id, appeal_id=appeal.id,
                  decision=appeal.status, note=note, changes=applied)
    db.session.flush()
    verdict = "已采纳" if accept else "未采纳"
    _tell(role_holders([appeal.org_id], [Role.secretary]), "appeal_decided", period,
          f"您对{period.name}的申诉{verdict}：{note}")
    return appeal


# --- finalisation ------------------------------------------------------------------------------

def consequences(rules: dict, stars: int) -> list[str]:
    """What the rules attach to a final number of stars (problem list, rectification)."""
    found = []
    if stars <= rules.get("problem_list_at_most", -1):
        found.append("建立问题清单，提出整顿措施，限期转化升级")
    if stars <= rules.get("no_awards_at_most", -1):
        found.append("党组织及其负责人不能推荐为县级层次“先优”表彰对象")
    if stars <= rules.get("rectification_at_most", -1):
        found.append("列入年度软弱涣散基层党组织整顿重点对象")
    return found


def finalise(period: RatingPeriod, actor: Actor) -> None:
    """Quotas, bonuses and consequences; a ledger entry per cap and per final result (written
    together, as are the problem lists: a district's thousands of orgs cost a few statements)."""
    rubric = period.rubric.body
    rules = rubric["rules"]
    cards = list(db.session.scalars(sa.select(Scorecard).where(Scorecard.period_id == period.id)
                                    .options(selectinload(Scorecard.org)).order_by(Scorecard.id)))
    titles = {s["code"]: s["title"] for s in rubric["standards"]}
    if rubric["kind"] == "stars":
        outcomes = {o.org_id: o for o in apply_quotas(
            [Candidate(c.org_id, c.org.name, c.total, c.stars,
                       {k: Decimal(v) for k, v in c.standards.items()}, exempt=c.quota_exception is not None)
             for c in cards],
            [(q["stars"], q["max_share"]) for q in rules["quotas"]])}
    threshold = Decimal(str(rules.get("star_threshold", 0)))
    entries, problems = [], []
    for card in cards:
        if rubric["kind"] == "stars":
            outcome = outcomes[card.org_id]
            card.final_stars, card.capped = outcome.stars, outcome.capped
            card.bonus = rules["bonus"][str(outcome.stars)]
            if outcome.capped:
                entries.append(("quota_cap", card.org_id, actor.person_id, {
                    "stars_earned": outcome.stars_earned, "stars": outcome.stars, "reason": outcome.reason}))
            weak = consequences(rules, outcome.stars)
            needs_list = outcome.stars <= rules.get("problem_list_at_most", -1)
            title = f"{STAR_NAMES[outcome.stars]}党组织" if outcome.stars else "无星级党组织"
        else:
            weak = []
            needs_list = card.grade in ("一般", "软弱涣散")
            title = card.grade
        if needs_list:
            problems += _first_problems(period, card, titles, threshold)
        entries.append(("final_result", card.org_id, actor.person_id, {
            "total": card.total, "standards": card.standards, "stars_earned": card.stars, "stars": card.final_stars,
            "grade": card.grade, "capped": card.capped, "bonus": card.bonus, "title": title, "consequences": weak,
            "quota_exception": card.quota_exception}))
    if problems:
        db.session.execute(sa.insert(Problem), problems)
    ledger.append_many(period, entries)
    period.finalised_at = utcnow()


def _first_problems(period: RatingPeriod, card: Scorecard, titles: dict, threshold: Decimal) -> list[dict]:
    """The start of a problem list: each standard short of its star; the secretary completes it."""
    return [{"period_id": period.id, "org_id": card.org_id, "standard_code": code,
             "problem": f"{titles[code]}得分 {engine.fmt(Decimal(value))} 分，未达到 {engine.fmt(threshold)} 分"}
            for code, value in card.standards.items() if not threshold or Decimal(value) < threshold]


# --- problem lists and meetings ----------------------------------------------------------------

def add_problem(actor: Actor, card: Scorecard, fields: dict) -> Problem:
    """A problem on the scorecard's list."""
    authorize(actor, "scorecard.problems", card)
    problem = Problem(period_id=card.period_id, org_id=card.org_id, **fields)
    db.session.add(problem)
    db.session.flush()
    return problem


def update_problem(actor: Actor, problem: Problem, changes: dict) -> Problem:
    """Progress on a problem of the list."""
    card = scorecard(db.session.get(RatingPeriod, problem.period_id), problem.org_id)
    authorize(actor, "scorecard.problems", card)
    for key, value in changes.items():
        setattr(problem, key, value)
    problem.updated_at = utcnow()
    return problem


def record_meeting(actor: Actor, org: Org, fields: dict) -> Meeting:
    """A meeting held (not in the future), read by the organisational-life criteria once it
    counts: with its evidence (`evidence_id`) or the reason there is none; dated more than
    BACKDATE_DAYS back by the community it waits for the street. Written into the ledger of
    every campaign of its year that rates the org."""
    authorize(actor, "org.organise", org)
    meeting = _new_meeting(actor, org, fields)
    db.session.add(meeting)
    db.session.flush()
    _ledger_meeting("meeting_recorded", meeting, actor)
    return meeting


def campaign_for_poll(org: Org, period_id: int | None) -> CampaignFeed | None:
    """The campaign whose scores a new poll of `org` feeds, with its rubric's poll items: the
    one asked for, which must rate `org` (422 `unknown_period` otherwise), or by default the
    newest live campaign rating it."""
    stmt = (sa.select(RatingPeriod).join(Scorecard, Scorecard.period_id == RatingPeriod.id)
            .where(Scorecard.org_id == org.id))
    if period_id is None:
        found = db.session.scalar(stmt.where(RatingPeriod.phase.in_([p.value for p in LIVE_PHASES]))
                                  .order_by(RatingPeriod.id.desc()).limit(1))
    else:
        found = db.session.scalar(stmt.where(RatingPeriod.id == period_id))
        if found is None:
            raise Invalid("该组织不在这次创评中", code="unknown_period", fields={"period_id": ["该组织不在这次创评中"]})
    return CampaignFeed(found.id, rubrics.poll_items(found.rubric.body)) if found is not None else None


# --- what the faces read (looked up and authorised here, once) ----------------------------------

def visible_periods(actor: Actor, limit: int = 100) -> list[RatingPeriod]:
    """Campaigns the person may see, newest first."""
    stmt = (sa.select(RatingPeriod).where(RatingPeriod.run_by.has(org_visible_clause(actor)))
            .order_by(RatingPeriod.year.desc(), RatingPeriod.id.desc()).limit(limit))
    return [p for p in db.session.scalars(stmt) if can(actor, "period.view", p)]


def period_for(actor: Actor | None, period_id: int, action: str = "period.view") -> RatingPeriod:
    """The campaign, if the actor may `action` it (404 / 403)."""
    return load_authorized(actor, RatingPeriod, period_id, action)


#: A scorecard with its campaign, the street running it and its org, in one statement: each
#: is read to authorise or answer, one at a time they were three round trips.
_CARD = (sa.select(Scorecard).join(Scorecard.period)
         .options(contains_eager(Scorecard.period).joinedload(RatingPeriod.run_by, innerjoin=True),
                  joinedload(Scorecard.org, innerjoin=True))
         .where(Scorecard.period_id == sa.bindparam("period_id"), Scorecard.org_id == sa.bindparam("org_id")))

_CRITERIA = sa.select(CriterionScore).where(CriterionScore.scorecard_id == sa.bindparam("card_id")).order_by(
    CriterionScore.id)


def scorecard_for(actor: Actor | None, period_id: int, org_id: int, action: str = "scorecard.view") -> Scorecard:
    """The campaign's scorecard of `org_id`, if `actor` may do `action` on it (404 / 403).

    The campaign is authorised first, as period_for does: without a card, period_for says
    whether the campaign is unknown or unseen (404) before its org is said to be outside it."""
    card = _authorised_card(actor, period_id, org_id, action)
    if "criteria" not in card.__dict__:
        set_committed_value(card, "criteria", db.session.scalars(_CRITERIA, {"card_id": card.id}).all())
    return card


def scorecard_read(actor: Actor | None, period_id: int, org_id: int) -> CardRead:
    """The scorecard of scorecard_for(…, "scorecard.view") to answer with, its criteria read as
    columns beside their evidence: an answer changes none of them, and as ORM objects they
    cost more than the rest of the request."""
    card = _authorised_card(actor, period_id, org_id, "scorecard.view")
    return CardRead(card, [CriterionRead(row) for row in read_rows(_CRITERIA_READ, {"card_id": card.id})])


def _authorised_card(actor: Actor | None, period_id: int, org_id: int, action: str) -> Scorecard:
    card = db.session.scalar(_CARD, {"period_id": period_id, "org_id": org_id})
    if card is None:
        period_for(actor, period_id)
        raise NotFound(NOT_IN_CAMPAIGN)
    authorize(actor, "period.view", card.period)
    authorize(actor, action, card)
    return card


_EVIDENCE_COLUMNS = ("id", "filename", "content_type", "size", "sha256")
_EVIDENCE, _OVERRIDE_EVIDENCE = aliased(Evidence), aliased(Evidence)
#: A card's criteria as columns, each with the file behind its score and behind the street's
#: override (their columns named evidence_file_…, override_file_…).
_CRITERIA_READ = (
    sa.select(CriterionScore.__table__,
              *[getattr(_EVIDENCE, c).label(f"evidence_file_{c}") for c in _EVIDENCE_COLUMNS],
              *[getattr(_OVERRIDE_EVIDENCE, c).label(f"override_file_{c}") for c in _EVIDENCE_COLUMNS])
    .outerjoin(_EVIDENCE, _EVIDENCE.id == CriterionScore.evidence_id)
    .outerjoin(_OVERRIDE_EVIDENCE, _OVERRIDE_EVIDENCE.id == CriterionScore.override_evidence_id)
    .where(CriterionScore.scorecard_id == sa.bindparam("card_id"))
    .order_by(CriterionScore.id)
)


class CriterionRead(Overridable):
    """A criterion read as columns (`_CRITERIA_READ`), with the attributes a CriterionScore
    answers with; its evidence and override evidence as plain objects of their columns."""

    def __init__(self, row: sa.Row):
        self.__dict__.update(row._mapping)
        self.evidence = _evidence_read(row, "evidence_file_")
        self.override_evidence = _evidence_read(row, "override_file_")


def _evidence_read(row: sa.Row, prefix: str) -> SimpleNamespace | None:
    mapping = row._mapping
    if mapping[f"{prefix}id"] is None:
        return None
    return SimpleNamespace(**{c: mapping[prefix + c] for c in _EVIDENCE_COLUMNS})


class CardRead:
    """A scorecard as answered: the card's own attributes, its criteria as read to answer."""

    def __init__(self, card: Scorecard, criteria: list[CriterionRead]):
        self.card = card
        self.criteria = criteria

    def __getattr__(self, name: str):
        return getattr(self.card, name)


def visible_cards(actor: Actor, period: RatingPeriod) -> list[Scorecard]:
    """The scorecards of a campaign the person may see, best total first."""
    cards = [c for c in period.scorecards if can(actor, "scorecard.view", c)]
    return sorted(cards, key=lambda c: (-c.total, c.org_id))


def may_see_rating(actor: Actor) -> bool:
    """Whether the rating is for this person at all: secretaries, the street, admins."""
    return actor.is_admin or any(role in RATING_ROLES for _, role in actor.scopes)


def streets_run_by(actor: Actor, communities: list[Org]) -> list[Org]:
    """Streets above `communities` whose campaigns this person may start."""
    found: dict[int, Org] = {}
    for community in communities:
        if community.parent is not None and can(actor, "org.run_campaign", community.parent):
            found.setdefault(community.parent.id, community.parent)
    return list(found.values())


def pending_appeals(period: RatingPeriod, org_id: int | None = None) -> int:
    """Appeals still waiting for the street (of one org, or of the whole campaign)."""
    stmt = sa.select(sa.func.count()).select_from(Appeal).where(
        Appeal.period_id == period.id, Appeal.status == AppealStatus.pending.value)
    return db.session.scalar(stmt.where(Appeal.org_id == org_id) if org_id is not None else stmt)


def appeals_of(card: Scorecard) -> list[Appeal]:
    """A scorecard's appeals, oldest first."""
    return db.session.scalars(sa.select(Appeal).where(Appeal.period_id == card.period_id,
                                                      Appeal.org_id == card.org_id).order_by(Appeal.id)).all()


def period_appeals(actor: Actor, period: RatingPeriod, pending_first: bool = False) -> list[Appeal]:
    """The campaign's appeals of the scorecards the person may see."""
    order = (Appeal.status != AppealStatus.pending.value, Appeal.id) if pending_first else (Appeal.id,)
    found = db.session.scalars(sa.select(Appeal).where(Appeal.period_id == period.id).order_by(*order)).all()
    cards = {c.org_id: c for c in period.scorecards}
    return [a for a in found if can(actor, "scorecard.view", cards[a.org_id])]


def appeal_for(actor: Actor | None, appeal_id: int) -> Appeal:
    """An appeal the street above it may decide (404 / 403)."""
    return load_authorized(actor, Appeal, appeal_id, "appeal.decide")


def problems_of(card: Scorecard) -> list[Problem]:
    """A scorecard's problem list, in the order found."""
    return db.session.scalars(sa.select(Problem).where(Problem.period_id == card.period_id,
                                                       Problem.org_id == card.org_id).order_by(Problem.id)).all()


def count_problems(card: Scorecard) -> int:
    """How many problems a scorecard's list holds."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(Problem).where(
        Problem.period_id == card.period_id, Problem.org_id == card.org_id))


def problem_for(actor: Actor | None, problem_id: int) -> Problem:
    """A problem of a scorecard whose list the person keeps (404 / 403)."""
    problem = db.session.get(Problem, problem_id)
    if problem is None:
        raise NotFound("问题清单中没有这一条")
    scorecard_for(actor, problem.period_id, problem.org_id, "scorecard.problems")
    return problem


def meeting_org(actor: Actor | None, org_id: int) -> Org:
    """The org whose meetings the person records (its secretary or the street)."""
    return load_authorized(actor, Org, org_id, "org.organise")


def meetings_of(org: Org, limit: int = 200) -> list[Meeting]:
    """Organisational life recorded for an org, latest first."""
    return db.session.scalars(sa.select(Meeting).where(Meeting.org_id == org.id)
                              .order_by(Meeting.held_on.desc(), Meeting.id.desc()).limit(limit)).all()


def events_after(card: Scorecard, after: int, limit: int) -> list[ScoreEvent]:
    """Score changes of a scorecard after event `after`, oldest first."""
    return db.session.scalars(sa.select(ScoreEvent).where(
        ScoreEvent.period_id == card.period_id, ScoreEvent.org_id == card.org_id, ScoreEvent.id > after)
        .order_by(ScoreEvent.id).limit(limit)).all()


def add_evidence(actor: Actor, card: Scorecard, upload, field_name: str = "file") -> Evidence:
    """A photo or PDF for a score, by whoever may score the card now."""
    editable(actor, card)
    if upload is None:
        raise Invalid("请选择文件", code="evidence_empty", fields={field_name: ["请选择文件"]})
    return evidence.keep(evidence.receive(actor, card, upload, field_name))


def evidence_for(actor: Actor | None, evidence_id: int) -> Evidence:
    """An evidence file, to whoever sees the scorecard (or the meeting records) it belongs to."""
    found = db.session.get(Evidence, evidence_id)
    if found is None:
        raise NotFound("佐证材料不存在")
    if found.period_id is None:
        meeting_org(actor, found.org_id)   # a meeting's: to whoever keeps or checks the org's records
    else:
        scorecard_for(actor, found.period_id, found.org_id)
    return found


def last_event_id(period: RatingPeriod) -> int:
    """The newest score event of a campaign (0 before any): where a live board starts."""
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(ScoreEvent.id), 0))
                             .where(ScoreEvent.period_id == period.id))


def remind_appeal_deadlines(now: datetime | None = None) -> int:
    """Three working days before a campaign's appeal window closes, tell its communities'
    secretaries (once per campaign); how many were told."""
    day = (now.astimezone(local_zone()).date() if now else today())
    cfg = current_app.config
    told = 0
    periods = db.session.scalars(sa.select(RatingPeriod).where(RatingPeriod.phase == Phase.appeal.value,
                                                               RatingPeriod.appeal_deadline >= day)).all()
    for period in periods:
        warn_on = add_working_days(day, 3, cfg["RATING_HOLIDAYS"], cfg["RATING_EXTRA_WORKDAYS"])
        if warn_on < period.appeal_deadline or already_told("period", period.id, "appeal_deadline"):
            continue
        secretaries = role_holders([c.org_id for c in period.scorecards], [Role.secretary])
        _tell(secretaries, "appeal_deadline", period,
              f"{period.name}申诉期将于 {period.appeal_deadline:%m月%d日} 截止，如有异议请尽快申诉")
        told += len(secretaries)
    return told


# --- meeting records: evidence, the street's confirmation and strikes, corrections ----------------

def _new_meeting(actor: Actor, org: Org, fields: dict, replaces: Meeting | None = None) -> Meeting:
    """A record checked and not yet added: its date, its evidence (a correction keeps the
    replaced record's unless it brings its own), and whether it counts now."""
    held_on = fields["held_on"]
    if held_on > today():
        raise Invalid("会议日期不能晚于今天", code="meeting_in_future", fields={"held_on": ["会议日期不能晚于今天"]})
    found = _meeting_evidence(org, fields.get("evidence_id"))
    reason = (fields.get("no_evidence_reason") or "").strip() or None
    if found is None and reason is None and replaces is not None:
        found, reason = replaces.evidence, replaces.no_evidence_reason
    if found is None and reason is None:
        message = "请上传会议纪要或照片，或说明没有佐证材料的原因"
        raise Invalid(message, code="evidence_required", fields={"no_evidence_reason": [message]})
    meeting = Meeting(org_id=org.id, kind=fields["kind"], held_on=held_on, topic=fields["topic"],
                      attendance=fields["attendance"], evidence=found, no_evidence_reason=None if found else reason,
                      created_by_id=actor.person_id, status=MeetingStatus.counted.value)
    backdated = held_on < today() - timedelta(days=BACKDATE_DAYS)
    if replaces is not None and replaces.counts and (replaces.kind, replaces.held_on) == (meeting.kind, held_on):
        # Same meeting, same date: the street's earlier confirmation still holds.
        meeting.confirmed_by_id, meeting.confirmed_at = replaces.confirmed_by_id, replaces.confirmed_at
    elif backdated and can(actor, "org.confirm_meetings", org):
        meeting.confirmed_by_id, meeting.confirmed_at = actor.person_id, utcnow()
    elif backdated:
        meeting.status = MeetingStatus.pending.value
    return meeting


def _meeting_evidence(org: Org, evidence_id: int | None) -> Evidence | None:
    if evidence_id is None:
        return None
    found = db.session.get(Evidence, evidence_id)
    if found is None or found.period_id is not None or found.org_id != org.id:
        raise Invalid("佐证材料不存在", code="unknown_evidence", fields={"evidence_id": ["佐证材料不存在"]})
    if found.attached_at is None:
        found.attached_at = utcnow()
    return found


def _evidence_facts(found: Evidence | None) -> dict | None:
    return {"id": found.id, "sha256": found.sha256, "filename": found.filename} if found else None


def _meeting_facts(meeting: Meeting) -> dict:
    return {"id": meeting.id, "org_id": meeting.org_id, "kind": meeting.kind, "held_on": meeting.held_on,
            "topic": meeting.topic, "attendance": meeting.attendance, "status": meeting.status,
            "evidence": _evidence_facts(meeting.evidence), "no_evidence_reason": meeting.no_evidence_reason,
            "replaces_id": meeting.replaces_id}


def _meeting_cards(org_path: str, years: set[int]) -> list[Scorecard]:
    """Scorecards, in campaigns of `years` not yet final, of the org at `org_path` or above it."""
    return db.session.scalars(
        sa.select(Scorecard).join(RatingPeriod, RatingPeriod.id == Scorecard.period_id)
        .join(Org, Org.id == Scorecard.org_id)
        .where(RatingPeriod.year.in_(years), RatingPeriod.phase != Phase.final.value,
               sa.literal(org_path).startswith(Org.path)).order_by(Scorecard.id)).all()


def _ledger_meeting(kind: str, meeting: Meeting, actor: Actor, years: set[int] | None = None, **data) -> None:
    """An entry in the ledger of every campaign whose year the record falls in and which rates
    its org (or one above it)."""
    org_path = db.session.scalar(sa.select(Org.path).where(Org.id == meeting.org_id))
    for card in _meeting_cards(org_path, years or {meeting.held_on.year}):
        ledger.append(card.period, kind, org_id=card.org_id, actor_id=actor.person_id,
                      meeting=_meeting_facts(meeting), **data)


def _ledger_meetings_so_far(period: RatingPeriod, cards: list[Scorecard], actor: Actor) -> None:
    """A new campaign starts its ledger with the records of its year already made, per org:
    one read of the street's records, each handed to every rated org at or above its own."""
    found = db.session.execute(sa.select(Meeting, Org.path).join(Org, Org.id == Meeting.org_id).where(
        Org.path.startswith(period.run_by.path), *_in_year(period.year))
        .options(selectinload(Meeting.evidence)).order_by(Meeting.id)).all()
    per_org: dict[int, list[Meeting]] = {}
    for meeting, path in found:
        for org_id in (int(part) for part in path.strip("/").split("/")):
            per_org.setdefault(org_id, []).append(meeting)
    ledger.append_many(period, [("meetings_at_start", card.org_id, actor.person_id,
                                 {"meetings": [_meeting_facts(m) for m in per_org[card.org_id]]})
                                for card in cards if card.org_id in per_org])


def _in_year(year: int) -> tuple:
    return Meeting.held_on >= date(year, 1, 1), Meeting.held_on < date(year + 1, 1, 1)


def _lock_meeting(meeting: Meeting) -> Meeting:
    """Serialise decisions on one record: a confirmation, a strike and a correction sent
    together are taken one after the other, each seeing what the last one did."""
    db.session.execute(sa.select(Meeting.id).where(Meeting.id == meeting.id).with_for_update())
    db.session.refresh(meeting)
    return meeting


def _check_open(meeting: Meeting) -> None:
    if meeting.status not in (MeetingStatus.counted.value, MeetingStatus.pending.value):
        raise Conflict(f"这条记录{meeting.status_label}，不能再处理", code="meeting_closed")


def record_meeting_with_file(actor: Actor, org: Org, fields: dict, upload=None, field_name: str = "file") -> Meeting:
    """A meeting sent in one form with its photo or PDF: the file is written only once the
    record is accepted."""
    authorize(actor, "org.organise", org)
    received = evidence.receive_for(actor, None, org.id, upload, field_name) if upload is not None else None
    meeting = record_meeting(actor, org, {**fields, "evidence_id": received.id} if received else fields)
    if received is not None:
        evidence.keep(received)
    return meeting


def add_meeting_evidence(actor: Actor, org: Org, upload, field_name: str = "file") -> Evidence:
    """A photo or PDF of a meeting's minutes, by whoever records the org's meetings; its id
    then goes with the record as `evidence_id`."""
    authorize(actor, "org.organise", org)
    if upload is None:
        raise Invalid("请选择文件", code="evidence_empty", fields={field_name: ["请选择文件"]})
    return evidence.keep(evidence.receive_for(actor, None, org.id, upload, field_name))


def meeting_for(actor: Actor | None, meeting_id: int, action: str = "meeting.correct") -> Meeting:
    """A meeting record the person may `action` (404 / 403)."""
    return load_authorized(actor, Meeting, meeting_id, action)


def confirm_meeting(actor: Actor, meeting: Meeting) -> Meeting:
    """A street officer lets a record dated far back count; ledgered."""
    authorize(actor, "meeting.decide", meeting)
    meeting = _lock_meeting(meeting)
    if meeting.status != MeetingStatus.pending.value:
        raise Conflict("这条记录不需要确认", code="not_pending")
    meeting.status = MeetingStatus.counted.value
    meeting.confirmed_by_id, meeting.confirmed_at = actor.person_id, utcnow()
    db.session.flush()
    _ledger_meeting("meeting_confirmed", meeting, actor)
    return meeting


def strike_meeting(actor: Actor, meeting: Meeting, reason: str) -> Meeting:
    """A street officer strikes a record out with the reason; it stops counting at once and
    the ledger keeps it."""
    authorize(actor, "meeting.decide", meeting)
    meeting = _lock_meeting(meeting)
    _check_open(meeting)
    meeting.status = MeetingStatus.struck.value
    meeting.struck_by_id, meeting.struck_at, meeting.strike_reason = actor.person_id, utcnow(), reason
    db.session.flush()
    _ledger_meeting("meeting_struck", meeting, actor, reason=reason)
    return meeting


def correct_meeting(actor: Actor, meeting: Meeting, fields: dict, note: str) -> Meeting:
    """A correction: a new record naming the one it replaces, which stops counting. Nothing is
    edited; the ledger has both. A changed date or kind is judged like a new record (dated
    far back, it waits for the street); an unchanged one keeps its standing."""
    authorize(actor, "meeting.correct", meeting)
    meeting = _lock_meeting(meeting)
    _check_open(meeting)
    corrected = _new_meeting(actor, meeting.org, fields, replaces=meeting)
    corrected.replaces_id, corrected.correction_note = meeting.id, note
    meeting.status = MeetingStatus.corrected.value
    db.session.add(corrected)
    db.session.flush()
    _ledger_meeting("meeting_corrected", corrected, actor, years={meeting.held_on.year, corrected.held_on.year},
                    replaces=_meeting_facts(meeting), note=note)
    return corrected


def correct_meeting_with_file(actor: Actor, meeting: Meeting, fields: dict, note: str, upload=None,
                              field_name: str = "file") -> Meeting:
    """A correction sent in one form with a new photo or PDF."""
    authorize(actor, "meeting.correct", meeting)
    received = (evidence.receive_for(actor, None, meeting.org_id, upload, field_name)
                if upload is not None else None)
    corrected = correct_meeting(actor, meeting, {**fields, "evidence_id": received.id} if received else fields, note)
    if received is not None:
        evidence.keep(received)
    return corrected


def _campaign_meetings(period: RatingPeriod):
    paths = [card.org.path for card in period.scorecards]
    return (sa.select(Meeting).join(Org, Org.id == Meeting.org_id)
            .where(sa.or_(*[Org.path.startswith(path) for path in paths]), *_in_year(period.year)))


def campaign_meetings(actor: Actor, period: RatingPeriod, limit: int | None = 300) -> list[Meeting]:
    """The meeting records of the campaign's orgs in its year, those waiting for the street
    first (at most `limit`; None: all): what the street checks and strikes."""
    authorize(actor, "period.manage", period)
    return db.session.scalars(_campaign_meetings(period).order_by(
        Meeting.status != MeetingStatus.pending.value, Meeting.held_on.desc(), Meeting.id.desc())
        .limit(limit)).all()


def pending_meetings(period: RatingPeriod) -> int:
    """How many of the campaign's meeting records wait for a street officer's confirmation."""
    stmt = _campaign_meetings(period).where(Meeting.status == MeetingStatus.pending.value)
    return db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))


# --- the street's override of any criterion (街道核定) ------------------------------------------------

OVERRIDE_PHASES = (Phase.review, Phase.audit)


def _check_override(actor: Actor, card: Scorecard) -> None:
    if Phase(card.period.phase) not in OVERRIDE_PHASES:
        raise Conflict("只有街道初审和组织审核阶段可以核定评分", code="phase_closed")
    authorize(actor, "scorecard.review", card)


def may_override(actor: Actor, card: Scorecard) -> bool:
    """Whether `actor` may set or remove the street's override on `card` now."""
    try:
        _check_override(actor, card)
    except DomainError:
        return False
    return True


def _card_evidence(card: Scorecard, evidence_id: int | None) -> Evidence | None:
    found = db.session.get(Evidence, evidence_id) if evidence_id is not None else None
    if evidence_id is not None and (found is None or (found.period_id, found.org_id) != (card.period_id, card.org_id)):
        raise Invalid("佐证材料不存在", code="unknown_evidence", fields={"evidence_id": ["佐证材料不存在"]})
    return found


def override_criterion(actor: Actor, card: Scorecard, code: str, *, points: Decimal, note: str,
                       evidence_url: str | None = None, evidence_id: int | None = None) -> CriterionScore:
    """The street's value for any criterion — poll and metric ones too — in review or audit,
    with a note and evidence (a file, a link or both). It counts until the street removes it;
    the computed value keeps following the data beside it. Ledgered with both values."""
    card = engine.lock(card)
    _check_override(actor, card)
    row = criterion(card, code)
    found = _card_evidence(card, evidence_id)
    if found is None and not evidence_url:
        message = "核定须附佐证材料（文件或链接）"
        raise Invalid(message, code="evidence_required", fields={"evidence_file": [message]})
    value = engine.points(points)
    if value < 0 or value > row.max_points:
        message = f"得分应在 0 到 {engine.fmt(row.max_points)} 之间"
        raise Invalid(message, code="points_out_of_range", fields={"points": [message]})
    old = row.points
    row.override_basis, row.override_note, row.override_evidence_url = row.computed_points, note, evidence_url
    row.override_evidence, row.override_by_id, row.override_at = found, actor.person_id, utcnow()
    if found is not None and found.attached_at is None:
        found.attached_at = utcnow()
    engine.set_override(card, row, value, f"街道核定：{rubric_item(card, code)['title'][:40]}")
    ledger.append(card.period, "criterion_override", org_id=card.org_id, actor_id=actor.person_id, criterion=code,
                  computed=row.computed_points, old=old, new=value, note=note, evidence_url=evidence_url,
                  evidence=_evidence_facts(found), phase=card.period.phase)
    db.session.flush()
    return row


def override_with_file(actor: Actor, card: Scorecard, code: str, args: dict, upload=None, *,
                       keep_evidence: bool = True, field_name: str = "file") -> CriterionScore:
    """An override sent in one form with its photo or PDF: a new file replaces the override's
    evidence, or the one already there is kept unless `keep_evidence` is False."""
    _check_override(actor, card)
    kept = criterion(card, code).override_evidence_id
    received = evidence.receive(actor, card, upload, field_name) if upload is not None else None
    if received is not None:
        args["evidence_id"] = received.id
    elif kept is not None and keep_evidence:
        args["evidence_id"] = kept
    row = override_criterion(actor, card, code, **args)
    if received is not None:
        evidence.keep(received)
    return row


def _clear_override(row: CriterionScore) -> None:
    row.override_points = row.override_basis = row.override_note = row.override_evidence_url = None
    row.override_evidence = None
    row.override_by_id = row.override_at = None


def remove_override(actor: Actor, card: Scorecard, code: str, *, note: str) -> CriterionScore:
    """The street removes its override, saying why: the computed value counts again."""
    card = engine.lock(card)
    _check_override(actor, card)
    row = criterion(card, code)
    if not row.overridden:
        raise Conflict("这一项没有街道核定", code="not_overridden")
    old, was = row.points, row.override_points
    _clear_override(row)
    engine.set_override(card, row, None, f"街道撤销核定：{rubric_item(card, code)['title'][:40]}")
    ledger.append(card.period, "criterion_override_removed", org_id=card.org_id, actor_id=actor.person_id,
                  criterion=code, override=was, computed=row.computed_points, old=old, new=row.points, note=note,
                  phase=card.period.phase)
    db.session.flush()
    return row


# --- quota exceptions, the preliminary opinion (初评意见) ---------------------------------------------

def _check_quota_exception(actor: Actor, card: Scorecard) -> None:
    authorize(actor, "period.manage", card.period)
    if card.period.phase == Phase.final.value:
        raise Conflict("创评已定级，不能再调整名额例外", code="phase_closed")
    if card.period.rubric.body["kind"] != "stars":
        raise Conflict("这套评定标准不设星级名额", code="no_quota")


def set_quota_exception(actor: Actor, card: Scorecard, reason: str) -> Scorecard:
    """The street lets one org keep the stars it earns beyond the quota (原则上 15 % / 30 %),
    with the reason; it takes no place from the others. Ledgered; before finalisation."""
    _check_quota_exception(actor, card)
    card = engine.lock(card)
    was = card.quota_exception
    card.quota_exception, card.quota_exception_at = reason, utcnow()
    ledger.append(card.period, "quota_exception", org_id=card.org_id, actor_id=actor.person_id, reason=reason,
                  replaces=was)
    return card


def remove_quota_exception(actor: Actor, card: Scorecard, reason: str) -> Scorecard:
    """The street withdraws an org's quota exception, saying why; ledgered."""
    _check_quota_exception(actor, card)
    card = engine.lock(card)
    if card.quota_exception is None:
        raise Conflict("这个组织没有名额例外", code="no_exception")
    was = card.quota_exception
    card.quota_exception = card.quota_exception_at = None
    ledger.append(card.period, "quota_exception_removed", org_id=card.org_id, actor_id=actor.person_id,
                  reason=reason, was=was)
    return card


def save_review_opinion(actor: Actor, card: Scorecard, *, opinion: str, stars: int | None = None,
                        grade: str | None = None) -> Scorecard:
    """初评意见: the level the street proposes for the org at the end of review and its
    reasons, beside what the org claimed and what the scores give; ledgered."""
    if Phase(card.period.phase) != Phase.review:
        raise Conflict("初评意见在街道初审阶段填写", code="phase_closed")
    authorize(actor, "scorecard.review", card)
    card.review_stars, card.review_grade = _level(card, stars, grade, "")
    card.review_opinion, card.review_opinion_at = opinion, utcnow()
    ledger.append(card.period, "review_opinion", org_id=card.org_id, actor_id=actor.person_id,
                  stars=card.review_stars, grade=card.review_grade, opinion=opinion,
                  claimed={"stars": card.claimed_stars, "grade": card.claimed_grade},
                  computed={"total": card.total, "stars": card.stars, "grade": card.grade})
    return card


def review_opinions(period: RatingPeriod) -> int:
    """How many of the campaign's orgs have the street's preliminary opinion."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(Scorecard).where(
        Scorecard.period_id == period.id, Scorecard.review_opinion.is_not(None)))
