"""export.xlsx of a campaign: what the street files with the organisation department."""

from __future__ import annotations

from decimal import Decimal
from io import BytesIO

import sqlalchemy as sa
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from backend.extensions import db
from backend.rating import anchors, ledger
from backend.rating.models import Problem, RatingPeriod
from backend.rating.quotas import STAR_NAMES
from backend.rating.rubrics import items_of

BOLD = Font(bold=True)
#: What a spreadsheet reads as the start of a formula (or of DDE) in a cell typed by hand.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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
           [[c.org.name, names[row.standard_code], row.code, titles[row.code], row.source, row.points,
             row.max_points, row.explanation, row.note, row.evidence_url, row.computed_points,
             row.override_points, row.override_note] for c in cards for row in c.criteria])
    _meetings_sheet(book, cards, meetings)
    problems = db.session.scalars(sa.select(Problem).where(Problem.period_id == period.id)
                                  .order_by(Problem.org_id, Problem.id)).all()
    org_names = {c.org_id: c.org.name for c in cards}
    _sheet(book, "问题清单", ["组织", "标准", "问题", "整改措施", "责任人", "完成时限", "状态"],
           [[org_names.get(p.org_id), names.get(p.standard_code or "", ""), p.problem, p.measure, p.owner,
             p.deadline, p.status_label] for p in problems])
    chain = anchors.verified(period)
    sheet = _sheet(book, "台账", ["序号", "类型", "组织", "时间", "内容", "哈希"],
                   [[e.seq, e.kind, org_names.get(e.org_id), ledger.as_dict(e)["at"], e.body, e.hash]
                    for e in db.session.scalars(ledger.entries(period))])
    sheet.append([])
    _append(sheet, ["台账末条哈希", period.ledger_head, "校验", "通过" if chain["ok"] else "未通过",
                  "外部存证", f"{len(chain['anchors'])} 份"])
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
