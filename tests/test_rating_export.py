"""export.xlsx as the street reads it, on the demo campaign: named after the campaign, sources
and ledger kinds in Chinese, times on the local clock, and the ledger one entry a row with what
it did in columns (no JSON)."""

from __future__ import annotations

import io
from urllib.parse import quote
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from openpyxl import load_workbook

from backend.demo import DEMO_PASSWORD, DEMO_SCORES, load_demo
from backend.extensions import db
from backend.rating.models import SOURCE_LABELS, CampaignEntry, RatingPeriod
from backend.rating.rubrics import items_of
from tests import factories as f

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _export(client):
    load_demo()
    db.session.commit()
    period = db.session.scalar(sa.select(RatingPeriod))
    response = client.get(f"/api/v1/periods/{period.id}/export.xlsx", headers=f.login(client, "jiedao", DEMO_PASSWORD))
    assert response.status_code == 200
    return period, response


def test_the_file_is_named_after_the_campaign(client):
    period, response = _export(client)
    disposition = response.headers["Content-Disposition"]
    assert disposition == (f'attachment; filename="rating-{period.year}-{period.id}.xlsx"; '
                           f"filename*=UTF-8''{quote(period.name)}.xlsx")
    disposition.encode("ascii")   # the header itself stays ASCII: the name travels percent-encoded


def test_sources_and_ledger_kinds_are_chinese_and_times_local(client):
    period, response = _export(client)
    book = load_workbook(io.BytesIO(response.data))
    detail = list(book["评分明细"].iter_rows(values_only=True))
    sources = {line[4] for line in detail[1:]}
    assert "人工评分" in sources and sources <= set(SOURCE_LABELS.values())

    ledger = list(book["台账"].iter_rows(values_only=True))
    assert list(ledger[0]) == ["序号", "时间", "类型", "组织", "评分项", "原分", "新分", "原因或意见", "操作人", "详情",
                               "校验码"]
    rows = {line[0]: line for line in ledger[1:] if isinstance(line[0], int)}
    entries = db.session.scalars(sa.select(CampaignEntry).where(CampaignEntry.period_id == period.id)).all()
    assert len(rows) == len(entries) > 3
    for entry in entries:
        # Excel keeps no zone: the cell is the wall clock in Shanghai (8 hours ahead of the stored UTC)
        local = entry.created_at.astimezone(SHANGHAI).replace(tzinfo=None)
        assert abs((rows[entry.seq][1] - local).total_seconds()) < 0.01
    for line in rows.values():
        assert all(not (isinstance(cell, str) and ('{"' in cell or cell.startswith("{"))) for cell in line), line
        assert line[2] and not line[2].isascii(), line

    kinds = [line[2] for line in rows.values()]
    assert kinds[0] == "创评发布" and "阶段变更" in kinds and kinds.count("人工评分") == len(DEMO_SCORES)
    created = rows[1][9]
    assert created == f"{period.name}（{period.year} 年），“五化社区”党组织星级创评标准第 1 版，3 个参评组织"
    phase = next(line for line in rows.values() if line[2] == "阶段变更")
    assert phase[9].startswith("已发布 → 自我评定") and phase[8] == "王建国"
    titles = {code: item["title"] for code, item in items_of(period.rubric.body).items()}
    scored = [line for line in rows.values() if line[2] == "人工评分"]
    for line, (code, (points, note)) in zip(scored, DEMO_SCORES.items(), strict=True):
        assert line[3] == "和平社区" and line[4] == f"{code} {titles[code]}"
        assert (line[5], line[6], line[7], line[8]) == (0, points, note, "李红梅")
    assert ledger[-1][:2] == ("台账完整性", "已校验，未被改动")
