"""export.xlsx of a campaign: what the street files with the organisation department."""

from __future__ import annotations

import json
from decimal import Decimal
from io import BytesIO
from typing import NamedTuple
from urllib.parse import quote

import sqlalchemy as sa
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from backend.core.timeutil import local_zone
from backend.extensions import db
from backend.people.models import Person
from backend.rating import anchors, ledger
from backend.rating.models import (
    MEETING_LABELS,
    PHASE_LABELS,
    SOURCE_LABELS,
    CampaignEntry,
    MeetingKind,
    Phase,
    Problem,
    RatingPeriod,
    Source,
)
from backend.rating.quotas import STAR_NAMES
from backend.rating.rubrics import items_of

BOLD = Font(bold=True)
#: What a spreadsheet reads as the start of a formula (or of DDE) in a cell typed by hand.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Excel keeps no time zone: times are written as the app's wall clock, in this format.
TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
LEDGER_HEADER = ["序号", "时间", "类型", "组织", "评分项", "原分", "新分", "原因或意见", "操作人", "详情", "校验码"]


def filename(period: RatingPeriod) -> str:
    """The Content-Disposition of the download: the campaign's name (RFC 5987 `filename*`), and
    an ASCII name for clients that cannot read it."""
    name = "".join(ch for ch in period.name if ch not in '\\/:*?"<>|\r\n') or "创评"
    return f"attachment; filename=\"rating-{period.year}-{period.id}.xlsx\"; filename*=UTF-8''{quote(name)}.xlsx"


def _append(sheet, values: list) -> None:
    """One row. Text is always text: openpyxl stores a string starting with "=" as a live
    formula, so a problem list or note written as "=HYPERLINK(…)" would run in the reader's
    spreadsheet; such a cell is typed as a string instead."""
    sheet.append([_cell(v) for v in values])
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str) and cell.value.startswith(FORMULA_START):
            cell.data_type = "s"


def _sheet(book: Workbook, title: str, header: list[str], rows: list[list], first: bool = False):
    sheet = book.active if first else book.create_sheet()
    sheet.title = title
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = BOLD
    for row in rows:
        _append(sheet, row)
    sheet.freeze_panes = "A2"
    return sheet


def _cell(value):
    """A value a worksheet can hold: control characters are refused at input, but rows written
    before that may still carry them."""
    if isinstance(value, Decimal):
        return float(value)
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def workbook(period: RatingPeriod, meetings: list) -> bytes:
    """The campaign's workbook; `meetings` are its records of the year (`service.campaign_meetings`)."""
    rubric = period.rubric.body
    standards = [s["code"] for s in rubric["standards"]]
    names = {s["code"]: s["title"] for s in rubric["standards"]}
    titles = {code: c["title"] for code, c in items_of(rubric).items()}
    cards = sorted(period.scorecards, key=lambda c: (-c.total, c.org_id))
    book = Workbook()
    stars = rubric["kind"] == "stars"
    level = (lambda c: STAR_NAMES[c.final_stars if c.final_stars is not None else c.stars]) if stars \
        else (lambda c: c.grade)
    _sheet(book, "汇总", ["组织", "总分", *[names[s] for s in standards], "星级" if stars else "等级",
                          "受名额限制", "考核加分", "自我定级", "初评档次", "初评意见", "名额例外"],
           [[c.org.name, c.total, *[Decimal(c.standards.get(s, "0")) for s in standards], level(c),
             "是" if c.capped else "", c.bonus, _level(c.claimed_stars, c.claimed_grade),
             _level(c.review_stars, c.review_grade), c.review_opinion, c.quota_exception] for c in cards], first=True)
    # A criterion the street overrode shows both values: what counts and what the source gives.
    _sheet(book, "评分明细", ["组织", "标准", "项目", "内容", "来源", "得分", "满分", "说明", "备注", "佐证",
                              "计算得分", "街道核定", "核定理由"],
           [[c.org.name, names[row.standard_code], row.code, titles[row.code], SOURCE_LABELS[Source(row.source)],
             row.points, row.max_points, row.explanation, row.note, row.evidence_url, row.computed_points,
             row.override_points, row.override_note] for c in cards for row in c.criteria])
    _meetings_sheet(book, cards, meetings)
    problems = db.session.scalars(sa.select(Problem).where(Problem.period_id == period.id)
                                  .order_by(Problem.org_id, Problem.id)).all()
    org_names = {c.org_id: c.org.name for c in cards}
    _sheet(book, "问题清单", ["组织", "标准", "问题", "整改措施", "责任人", "完成时限", "状态"],
           [[org_names.get(p.org_id), names.get(p.standard_code or "", ""), p.problem, p.measure, p.owner,
             p.deadline, p.status_label] for p in problems])
    _ledger_sheet(book, period, org_names, titles)
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def _level(stars: int | None, grade: str | None) -> str | None:
    return STAR_NAMES[stars] if stars is not None else grade


def _meetings_sheet(book: Workbook, cards: list, meetings: list) -> None:
    """The year's meeting records of each rated org (and the orgs below it): what R2 and O2
    counted, what waits for the street, what it struck and why."""
    rows = []
    for card in cards:
        found = sorted((m for m in meetings if m.org.path.startswith(card.org.path)), key=lambda m: (m.held_on, m.id))
        rows += [[card.org.name, m.org.name, m.kind_label, m.held_on, m.topic, m.attendance, m.status_label,
                  m.evidence.sha256 if m.evidence else m.no_evidence_reason, m.correction_note, m.strike_reason]
                 for m in found]
    _sheet(book, "组织生活记录", ["参评组织", "记录单位", "类型", "日期", "议题", "人数", "状态",
                               "佐证（SHA-256）或无佐证原因", "更正说明", "删除理由"], rows)


class _Names(NamedTuple):
    """What the ledger's entries name by code or id, by name."""

    orgs: dict[int, str]
    criteria: dict[str, str]
    people: dict[int, str]
    rubric: str


def _body(entry: CampaignEntry) -> dict:
    """An entry's JSON; one that no longer reads (a tampered row) exports as its bare facts, the
    check below the rows saying what is wrong."""
    try:
        body = json.loads(entry.body)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _ledger_sheet(book: Workbook, period: RatingPeriod, org_names: dict[int, str], titles: dict[str, str]) -> None:
    """台账, one entry a row with what it did in columns (not its JSON), then the check of the
    chain in words."""
    found = [(e, _body(e)) for e in db.session.scalars(ledger.entries(period))]
    actors = {body.get("actor_id") for _, body in found} - {None}
    people = dict(db.session.execute(sa.select(Person.id, Person.name).where(Person.id.in_(actors))).all())
    names = _Names(org_names, titles, people, period.rubric.body.get("title", ""))
    rows = [_ledger_row(e, body, names) for e, body in found]
    sheet = _sheet(book, "台账", LEDGER_HEADER, rows)
    for (cell,) in sheet.iter_rows(min_row=2, min_col=2, max_col=2):
        cell.number_format = TIME_FORMAT
    sheet.column_dimensions["B"].width = 20
    chain = anchors.verified(period)
    sheet.append([])
    _append(sheet, ["台账完整性", "已校验，未被改动" if chain["ok"] else "校验未通过，台账可能被改动",
                    "外部存证", f"{len(chain['anchors'])} 份", "末条校验码", period.ledger_head])


def _ledger_row(entry: CampaignEntry, body: dict, names: _Names) -> list:
    data = body.get("data") or {}
    criterion = data.get("criterion")
    scored = entry.kind in ("manual_score", "criterion_override", "criterion_override_removed")
    actor = body.get("actor_id")
    describe = _DETAILS.get(entry.kind)
    return [entry.seq, entry.created_at.astimezone(local_zone()).replace(tzinfo=None),
            ledger.KIND_LABELS.get(entry.kind, entry.kind), names.orgs.get(entry.org_id),
            f"{criterion} {names.criteria.get(criterion, '')}".strip() if criterion else None,
            _points(data.get("old")) if scored else None, _points(data.get("new")) if scored else None,
            _reason(data), names.people.get(actor, "系统" if actor is None else None),
            describe(data, names) if describe else None, entry.hash]


def _points(value) -> float | None:
    return None if value is None else float(Decimal(str(value)))


def _reason(data: dict) -> str | None:
    return next((data[k] for k in ("note", "reason", "reasons", "opinion") if data.get(k)), None)


def _stars(value) -> str:
    return STAR_NAMES.get(value, "") if isinstance(value, int) else str(value or "")


def _phase(value) -> str:
    return PHASE_LABELS[Phase(value)] if value in Phase._value2member_map_ else str(value)


def _meeting(facts: dict) -> str:
    kind = MEETING_LABELS[MeetingKind(facts["kind"])] if facts.get("kind") in MeetingKind._value2member_map_ else ""
    return f"{facts.get('held_on')} {kind}：{facts.get('topic') or ''}（{facts.get('attendance')} 人）"


def _created(data: dict, names: _Names) -> str:
    version = (data.get("rubric") or {}).get("version")
    return (f"{data.get('name')}（{data.get('year')} 年），{names.rubric}第 {version} 版，"
            f"{len(data.get('org_ids') or [])} 个参评组织")


def _changes(data: dict, names: _Names) -> str:
    changes = data.get("changes") or []
    moved = "；".join(f"{c['criterion']} {names.criteria.get(c['criterion'], '')} {_points(c.get('old'))} → "
                     f"{_points(c.get('new'))}" for c in changes)
    return ("已采纳" if data.get("decision") == "accepted" else "未采纳") + (f"，改分：{moved}" if moved else "")


_DETAILS = {
    "period_created": _created,
    "phase_changed": lambda d, _: f"{_phase(d.get('old'))} → {_phase(d.get('new'))}"
                                  + (f"，申诉截止 {d['appeal_deadline']}" if d.get("appeal_deadline") else ""),
    "manual_score": lambda d, _: f"佐证：{d['evidence']['filename']}" if d.get("evidence") else d.get("evidence_url"),
    "criterion_override": lambda d, _: f"计算得分 {_points(d.get('computed'))}",
    "criterion_override_removed": lambda d, _: f"原核定 {_points(d.get('override'))}，恢复为计算得分 "
                                               f"{_points(d.get('computed'))}",
    "self_report": lambda d, _: f"自我定级：{_stars(d.get('claimed_stars')) or d.get('claimed_grade') or '未填'}；"
                                f"系统计算 {_points((d.get('computed') or {}).get('total'))} 分",
    "appeal_filed": lambda d, _: f"申诉材料：{d['material_url']}" if d.get("material_url") else None,
    "appeal_decided": _changes,
    "quota_cap": lambda d, _: f"按分数为{_stars(d.get('stars_earned'))}，受名额限制定为{_stars(d.get('stars'))}",
    "final_result": lambda d, _: f"总分 {_points(d.get('total'))}，"
                                 f"{_stars(d.get('stars')) if d.get('stars') is not None else d.get('grade') or ''}"
                                 + (f"，{d['title']}" if d.get("title") else ""),
    "review_opinion": lambda d, _: f"初评档次：{_stars(d.get('stars')) or d.get('grade') or '未定'}",
    "meetings_at_start": lambda d, _: f"已有 {len(d.get('meetings') or [])} 条记录",
    "meeting_recorded": lambda d, _: _meeting(d.get("meeting") or {}),
    "meeting_confirmed": lambda d, _: _meeting(d.get("meeting") or {}),
    "meeting_struck": lambda d, _: _meeting(d.get("meeting") or {}),
    "meeting_corrected": lambda d, _: _meeting(d.get("meeting") or {}),
    "score_drift": lambda d, _: f"{len(d.get('drift') or [])} 项分数与来源不符，已按来源修复",
}
