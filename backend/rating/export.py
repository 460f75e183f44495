"""export.xlsx of a campaign: what the street files with the organisation department."""

from __future__ import annotations

from decimal import Decimal
from io import BytesIO

import sqlalchemy as sa
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from backend.extensions import db
from backend.rating import ledger
from backend.rating.models import Problem, RatingPeriod
from backend.rating.quotas import STAR_NAMES
from backend.rating.rubrics import items_of

BOLD = Font(bold=True)


def _sheet(book: Workbook, title: str, header: list[str], rows: list[list], first: bool = False):
    sheet = book.active if first else book.create_sheet()
    sheet.title = title
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = BOLD
    for row in rows:
        sheet.append([_cell(v) for v in row])
    sheet.freeze_panes = "A2"
    return sheet


def _cell(value):
    """A value a worksheet can hold: control characters are refused at input, but rows written
    before that may still carry them."""
    if isinstance(value, Decimal):
        return float(value)
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def workbook(period: RatingPeriod) -> bytes:
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
                          "受名额限制", "考核加分"],
           [[c.org.name, c.total, *[Decimal(c.standards.get(s, "0")) for s in standards], level(c),
             "是" if c.capped else "", c.bonus] for c in cards], first=True)
    _sheet(book, "评分明细", ["组织", "标准", "项目", "内容", "来源", "得分", "满分", "说明", "备注", "佐证"],
           [[c.org.name, names[row.standard_code], row.code, titles[row.code], row.source, row.points,
             row.max_points, row.explanation, row.note, row.evidence_url] for c in cards for row in c.criteria])
    problems = db.session.scalars(sa.select(Problem).where(Problem.period_id == period.id)
                                  .order_by(Problem.org_id, Problem.id)).all()
    org_names = {c.org_id: c.org.name for c in cards}
    _sheet(book, "问题清单", ["组织", "标准", "问题", "整改措施", "责任人", "完成时限", "状态"],
           [[org_names.get(p.org_id), names.get(p.standard_code or "", ""), p.problem, p.measure, p.owner,
             p.deadline, p.status_label] for p in problems])
    chain = ledger.verify(period)
    sheet = _sheet(book, "台账", ["序号", "类型", "组织", "时间", "内容", "哈希"],
                   [[e.seq, e.kind, org_names.get(e.org_id), ledger.as_dict(e)["at"], e.body, e.hash]
                    for e in db.session.scalars(ledger.entries(period))])
    sheet.append([])
    sheet.append(["台账末条哈希", period.ledger_head, "校验", "通过" if chain["ok"] else "未通过"])
    out = BytesIO()
    book.save(out)
    return out.getvalue()
