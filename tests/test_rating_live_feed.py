"""The live board's feed: one row per change and per burst of answers, answers past the
minimum sample still reported (count and rate move while the points stay)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from backend.extensions import db
from backend.polls.presets import PRESETS
from backend.rating import dashboard
from backend.rating.models import ScoreEvent
from tests import test_rating
from tests.test_csrf_session import h5_login
from tests.test_rating import card_url, start

world = test_rating.world

NAMES = {"S5": "群众满意度", "R5": "群众对共建工作的满意度", "O5": "党员群众对运行规范的评价", "G1": "组织体系"}
NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def _event(i: int, code: str, cause: str, seconds: float, old="0", new="0", stars=(1, 1)) -> ScoreEvent:
    return ScoreEvent(id=i, criterion=code, cause=cause, old=Decimal(old), new=Decimal(new), total=Decimal("50"),
                      stars_before=stars[0], stars_after=stars[1], created_at=NOW + timedelta(seconds=seconds))


def test_a_burst_of_answers_is_one_row_and_other_causes_break_it():
    answers = [_event(10 * n + k, code, f"群众满意度测评第 {n} 份答卷", n)
               for n in range(1, 6) for k, code in enumerate(("S5", "R5", "O5"))]
    meeting = _event(100, "G1", "记录支委会", 10, "0", "1.5", stars=(1, 2))
    later = [_event(200, "S5", "群众满意度测评第 6 份答卷", 10 + dashboard.BURST_SECONDS + 1)]
    newest_first = sorted([*answers, meeting, *later], key=lambda e: -e.id)
    rows = dashboard.feed(newest_first, NAMES, short={"S5", "R5", "O5"})
    assert [r["cause"] for r in rows] == ["群众满意度测评第 6 份答卷", "记录支委会",
                                          "群众满意度测评第 1–5 份答卷（5 份）"]
    burst = rows[2]
    assert burst["events"] == 15 and burst["title"] == "群众满意度、群众对共建工作的满意度、党员群众对运行规范的评价"
    assert burst["delta"] == "样本不足，暂计 0 分"
    assert rows[1]["delta"] == "+1.5 分" and (rows[1]["stars_before"], rows[1]["stars_after"]) == (1, 2)
    # Past the sample, answers that leave the points where they were say so.
    assert dashboard.feed(later, NAMES, short=set())[0]["delta"] == "分数不变"


def _answer(client, poll: dict, code: str, value: int = 5) -> None:
    rated = [q["id"] for q in poll["questions"] if q["kind"] == "rating5"]
    made = client.post(f"/api/v1/polls/{poll['id']}/responses",
                       json={"code": code, "answers": [{"question_id": q, "value": value} for q in rated]})
    assert made.status_code == 201, made.get_json()


def _mass_poll(client, world, codes: int) -> tuple[dict, list[str]]:
    """The street's counted mass poll of community a, open now, and `codes` one-time codes for it."""
    orgs, _, headers = world
    poll = client.post("/api/v1/polls", headers=headers["officer"], json={
        **PRESETS["mass"], "org_id": orgs["a"].id, "modes": ["code"],
        "opens_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "closes_at": (datetime.now(UTC) + timedelta(days=7)).isoformat()}).get_json()
    made = client.post(f"/api/v1/polls/{poll['id']}/codes", headers=headers["officer"], json={"count": codes})
    return poll, [c["code"] for c in made.get_json()]


def test_answers_past_the_sample_still_move_the_board(app, client, world):
    orgs, _, headers = world
    period = start(client, world)
    poll, codes = _mass_poll(client, world, 32)
    for code in codes[:30]:
        _answer(client, poll, code)
    url = card_url(period, orgs["a"])
    s5 = next(c for c in client.get(url, headers=headers["sec_a"]).get_json()["criteria"] if c["code"] == "S5")
    assert s5["points"] == 5 and s5["provisional"] is None   # every answer at the top: full points
    # The burst is over: what came before is minutes old.
    for event in db.session.scalars(sa.select(ScoreEvent)):
        event.created_at -= timedelta(minutes=10)
    db.session.commit()
    last = max(e["id"] for e in client.get(f"{url}/events", headers=headers["sec_a"]).get_json())

    _answer(client, poll, codes[30])
    events = client.get(f"{url}/events?after={last}", headers=headers["sec_a"]).get_json()
    # The points stay (5 of 5) but the answer is news: one event per criterion it feeds.
    assert {e["criterion"] for e in events} == {"S5", "R5", "O5"}
    assert all(e["old"] == e["new"] and e["cause"] == "群众满意度测评第 31 份答卷" for e in events)
    _answer(client, poll, codes[31], value=4)

    h5_login(client, "sec_a")
    board = client.get(f"/h5/rating/{period['id']}/orgs/{orgs['a'].id}/live?part=1").get_data(as_text=True)
    rows = re.findall(r'data-events="(\d+)"><div class="weui-cell__bd"><p><span data-when></span> (.*?) '
                      r'<strong>(.*?)</strong></p><p class="weui-cell__desc">(.*?)</p>', board)
    assert rows[0] == ("6", "群众对共建工作的满意度、群众满意度、党员群众对运行规范的评价", "分数不变",
                       "群众满意度测评第 31–32 份答卷（2 份）")
    assert "第 1–30 份答卷（30 份）" in rows[1][3]
    # The poll section says how many answered and the rate, and links to the criterion's page.
    s5_row = re.search(r'data-poll="S5"[^>]*href="([^"]+)"><div class="weui-cell__bd"><p>群众满意度</p>'
                       r'<p class="weui-cell__desc">(.*?)</p>', board)
    assert s5_row and s5_row[2] == "满意率 100.0%（32 份）→ 5/5 分"
    assert s5_row[1] == f"/h5/rating/{period['id']}/orgs/{orgs['a'].id}/criteria/S5"


def test_poll_criterion_page_shows_answers_rate_sample_and_formula_to_whoever_sees_the_card(app, client, world):
    orgs, _, headers = world
    period = start(client, world)
    poll, codes = _mass_poll(client, world, 3)
    for code, value in zip(codes, (5, 5, 3), strict=True):
        _answer(client, poll, code, value)
    page_url = f"/h5/rating/{period['id']}/orgs/{orgs['a'].id}/criteria/S5"

    secretary = app.test_client()
    h5_login(secretary, "sec_a")
    page = secretary.get(page_url)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "群众满意度" in text and "66.7%" in text and "3 份答卷中" in text
    assert "群众满意度测评" in text and "最低 30 份" in text and "还差 27 份" in text
    assert "得分 = 5 × (满意率 − 60.0%) ÷ (95.0% − 60.0%)" in text
    assert "5 × (66.7% − 60.0%) ÷ 35.0% = 0.95 分（样本达到后计入）" in text
    assert "样本不足，暂计 0 分" in text and "不显示任何一份答卷" in text
    # The scorecard links to it.
    card = secretary.get(f"/h5/rating/{period['id']}/orgs/{orgs['a'].id}").get_data(as_text=True)
    assert f'href="{page_url}" data-detail' in card

    officer = app.test_client()
    h5_login(officer, "officer")
    assert officer.get(page_url).status_code == 200

    # Another community's secretary and grid staff: not found, said in Chinese.
    for username in ("sec_b", "leader"):
        other = app.test_client()
        h5_login(other, username)
        refused = other.get(page_url)
        assert refused.status_code == 404 and "群众满意度" not in refused.get_data(as_text=True)
        assert re.search(r'<h2 class="weui-msg__title">[^<a-zA-Z]*[\u4e00-\u9fff]', refused.get_data(as_text=True))
    # Signed out: the login page.
    assert app.test_client().get(page_url).status_code == 302
    # A manual criterion still opens the scoring form for the secretary, an unknown code is 404.
    assert "保存评分" in secretary.get(page_url.replace("S5", "G1")).get_data(as_text=True)
    assert secretary.get(page_url.replace("S5", "Z9")).status_code == 404
