"""The star rating: rubrics as data, how criterion scores are made, live recompute from
operations, the campaign's phases and who may act in each, appeals, quotas at finalisation,
and the hash-chained ledger the database will not let anyone rewrite."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from backend.core.db import commit
from backend.core.errors import DomainError
from backend.extensions import db
from backend.people.actors import load_actor
from backend.polls import service as polls
from backend.rating import engine, ledger, live, rubrics, service
from backend.rating.metrics import Context
from backend.rating.models import CampaignEntry, CriterionScore, Meeting, RatingPeriod, Scorecard, ScoreEvent
from backend.teams.service import create_team
from backend.wishes import service as wishes
from tests import factories as f

D = Decimal


# --- rubrics -----------------------------------------------------------------------------------

def test_shipped_rubrics_load_and_add_up(client, world):
    headers = world[2]["officer"]
    listed = client.get("/api/v1/rubrics", headers=headers).get_json()
    assert [r["code"] for r in listed] == ["wuhua-2019", "zhengxian-community", "zhengxian-liangxin"]
    assert all(r["version"] == 1 for r in listed)
    wuhua = client.get("/api/v1/rubrics/wuhua-2019", headers=headers).get_json()
    assert [s["code"] for s in wuhua["standards"]] == ["G", "R", "T", "S", "O"]
    assert all(sum(c["max_points"] for c in s["criteria"]) == 20 for s in wuhua["standards"])
    s3 = next(c for s in wuhua["standards"] for c in s["criteria"] if c["code"] == "S3")
    assert [p["metric"] for p in s3["rule"]["parts"]] == ["teams", "activities_held"]
    community = client.get("/api/v1/rubrics/zhengxian-community", headers=headers).get_json()
    assert [s["max_points"] for s in community["standards"]] == [10, 6, 19, 12, 12, 14, 24, 3]
    assert client.get("/api/v1/rubrics/nope", headers=headers).status_code == 404


def _tiny(**change) -> dict:
    body = {"code": "t", "title": "t", "kind": "stars",
            "rules": {"star_threshold": 16, "quotas": [], "bonus": {}},
            "standards": [{"code": "A", "title": "A", "max_points": 100, "criteria": [
                {"code": "A1", "title": "a", "max_points": 60, "source": "manual"},
                {"code": "A2", "title": "b", "max_points": 40, "source": "metric",
                 "parts": [{"metric": "teams", "full_at": 2, "zero_at": 0}]}]}]}
    criteria = body["standards"][0]["criteria"]
    for key, value in change.items():
        target, field = key.split("__")
        criteria[int(target)][field] = value
    return body


@pytest.mark.parametrize(("change", "message"), [
    ({"0__max_points": 50}, "criteria add up to 90"),
    ({"1__code": "A1"}, "repeated"),
    ({"1__source": "guess"}, "unknown source"),
    ({"1__parts": [{"metric": "stars_in_sky", "full_at": 1, "zero_at": 0}]}, "unknown metric"),
    ({"1__parts": [{"metric": "teams", "full_at": 1, "zero_at": 1}]}, "must differ"),
    ({"0__deductions": [{"text": "x", "points": 61}]}, "deduction"),
])
def test_rubric_validation_names_the_problem(change, message):
    with pytest.raises(rubrics.RubricError, match=message):
        rubrics.validate(_tiny(**change))


def test_a_changed_rubric_file_is_a_new_version(app, monkeypatch):
    first = rubrics.ensure("wuhua-2019")
    changed = {**rubrics.files()["wuhua-2019"], "title": "修订版"}
    monkeypatch.setattr(rubrics, "files", lambda: {"wuhua-2019": changed})
    second = rubrics.ensure("wuhua-2019")
    assert (first.version, second.version) == (1, 2) and first.body["title"] != second.body["title"]
    assert rubrics.ensure("wuhua-2019").id == second.id


# --- how points are made -----------------------------------------------------------------------

WUHUA = rubrics.files()["wuhua-2019"]


@pytest.mark.parametrize(("standards", "stars"), [
    ({"G": "16.00", "R": "15.99", "T": "0", "S": "0", "O": "0"}, 1),
    ({"G": "15.90", "R": "0", "T": "0", "S": "0", "O": "0"}, 0),
    ({"G": "16", "R": "16", "T": "16", "S": "16", "O": "16"}, 5),
    ({"G": "20", "R": "20", "T": "20", "S": "20", "O": "15.99"}, 4),
])
def test_a_standard_at_16_earns_a_star(standards, stars):
    assert engine.stars_for(WUHUA, {k: D(v) for k, v in standards.items()}) == stars


def _tally(count, top_two, audience="mass", weight=1.0, poll=1):
    return {"question_id": poll, "poll_id": poll, "audience": audience, "weight": weight, "count": count,
            "top_two": top_two}


S5 = next(c for s in WUHUA["standards"] for c in s["criteria"] if c["code"] == "S5")


@pytest.mark.parametrize(("tallies", "points", "provisional", "says"), [
    ([], "0.00", None, "暂无测评答卷"),
    ([_tally(143, 132)], "4.62", None, "满意率 92.3%（143 份）→ 4.62/5 分"),
    ([_tally(40, 40)], "5.00", None, "→ 5/5 分"),
    ([_tally(40, 24)], "0.00", None, "满意率 60.0%"),
    ([_tally(12, 12)], "0.00", "5.00", "样本不足 30 份"),
    # Weighted: 100 % at weight 1 and 70 % at weight 3 → 77.5 % → (0.775−0.6)/0.35 × 5 = 2.5.
    ([_tally(30, 30), _tally(30, 21, weight=3.0)], "2.50", None, "满意率 77.5%"),
    # S5 is the masses' item: party-member answers never feed it, whatever their number.
    ([_tally(10, 10, "party_member"), _tally(20, 0)], "0.00", "0.00", "满意率 0.0%（20 份，样本不足 30 份）"),
    ([_tally(40, 40, "party_member", poll=2)], "0.00", None, "暂无测评答卷"),
    # Pooled per answer, not averaged per poll: (180 + 30) / 330 = 63.6 %, not (60 % + 100 %) / 2.
    ([_tally(300, 180), _tally(30, 30, poll=2)], "0.52", None, "满意率 63.6%（2 次测评合并 330 份）→ 0.52/5 分"),
])
def test_poll_points(tallies, points, provisional, says):
    computed = engine.poll_points(S5, WUHUA, tallies)
    assert computed.points == D(points) and computed.provisional == (D(provisional) if provisional else None)
    assert says in computed.explanation


# --- the campaign over HTTP --------------------------------------------------------------------

@pytest.fixture
def world(app, client):
    orgs = f.tree()
    people = {
        "officer": f.person("周海", username="officer", role="street_officer", org=orgs["street"]),
        "sec_a": f.person("李红梅", username="sec_a", role="secretary", org=orgs["a"]),
        "sec_b": f.person("王芳", username="sec_b", role="secretary", org=orgs["b"]),
        "leader": f.person("张建华", username="leader", role="grid_leader", org=orgs["a1"]),
    }
    return orgs, people, {name: f.login(client, name) for name in people}


def start(client, world, rubric="wuhua-2019", to="self_evaluation") -> dict:
    orgs, _, headers = world
    made = client.post("/api/v1/periods", headers=headers["officer"], json={
        "name": "2026 年度星级党组织创评", "year": date.today().year, "rubric_code": rubric,
        "org_ids": [orgs["a"].id, orgs["b"].id]})
    assert made.status_code == 201, made.get_json()
    period = made.get_json()
    for left, phase in zip(["open", *_phases_until(to)], _phases_until(to), strict=False):
        moved = client.post(f"/api/v1/periods/{period['id']}/advance", headers=headers["officer"],
                            json={"from": left, "to": phase})
        assert moved.status_code == 200, moved.get_json()
    return moved.get_json() if to != "open" else period


def _phases_until(to: str) -> list[str]:
    order = ["self_evaluation", "review", "audit", "appeal", "final"]
    return [] if to == "open" else order[:order.index(to) + 1]


def card_url(period, org) -> str:
    return f"/api/v1/periods/{period['id']}/scorecards/{org.id}"


def test_secretary_fills_a_manual_criterion_and_the_total_follows(client, world):
    orgs, people, headers = world
    period = start(client, world)
    url = card_url(period, orgs["a"])
    before = client.get(url, headers=headers["sec_a"]).get_json()
    g1 = next(c for c in before["criteria"] if c["code"] == "G1")
    assert g1["points"] == 0 and g1["explanation"] == "待评分（满分 5 分）"
    put = client.put(f"{url}/criteria/G1", headers=headers["sec_a"],
                     json={"points": 4.5, "note": "四级架构健全，功能党小组待补", "evidence_url": "https://example.cn/a.pdf"})
    assert put.status_code == 200, put.get_json()
    after = put.get_json()
    assert after["total"] == before["total"] + 4.5 and after["standards"]["G"] == before["standards"]["G"] + 4.5
    row = next(c for c in after["criteria"] if c["code"] == "G1")
    assert row["note"] == "四级架构健全，功能党小组待补" and row["explanation"] == "评定 4.5/5 分"
    events = client.get(f"{url}/events", headers=headers["sec_a"]).get_json()
    assert events[-1]["criterion"] == "G1" and (events[-1]["old"], events[-1]["new"]) == (0, 4.5)
    assert events[-1]["cause"].startswith("自我评定评分")
    too_much = client.put(f"{url}/criteria/G1", headers=headers["sec_a"], json={"points": 6, "note": "满分"})
    assert too_much.status_code == 422 and too_much.get_json()["error"]["code"] == "points_out_of_range"
    computed = client.put(f"{url}/criteria/S1", headers=headers["sec_a"], json={"points": 5, "note": "满分"})
    assert computed.status_code == 409 and computed.get_json()["error"]["code"] == "not_manual"
    # Other communities' secretaries and grid staff do not see it; the street does.
    assert client.get(url, headers=headers["sec_b"]).status_code == 404
    assert client.get(url, headers=headers["leader"]).status_code == 404
    assert client.get(url, headers=headers["officer"]).status_code == 200
    rows = client.get(f"/api/v1/periods/{period['id']}/scorecards", headers=headers["sec_a"]).get_json()
    assert [r["org_id"] for r in rows] == [orgs["a"].id]


@pytest.mark.parametrize(("phase", "who", "status"), [
    ("open", "sec_a", 409), ("self_evaluation", "sec_a", 200), ("self_evaluation", "officer", 403),
    ("review", "sec_a", 403), ("review", "officer", 200), ("audit", "officer", 200),
    ("appeal", "officer", 409), ("final", "officer", 409), ("final", "sec_a", 409),
])
def test_who_may_edit_in_which_phase(client, world, app, phase, who, status):
    orgs, _, headers = world
    period = start(client, world, to="audit" if phase in ("appeal", "final") else phase)
    if phase in ("appeal", "final"):
        _advance_past_appeals(client, world, period, to=phase)
    put = client.put(f"{card_url(period, orgs['a'])}/criteria/G1", headers=headers[who],
                     json={"points": 3, "note": "按检查结果评分"})
    assert put.status_code == status, put.get_json()
    if status == 409:
        assert put.get_json()["error"]["code"] == "phase_closed"


def _advance_past_appeals(client, world, period, to):
    headers = world[2]
    assert client.post(f"/api/v1/periods/{period['id']}/advance", headers=headers["officer"],
                       json={"from": "audit"}).status_code == 200
    if to == "final":
        row = db.session.get(RatingPeriod, period["id"])
        row.appeal_deadline = date.today() - timedelta(days=1)
        db.session.commit()
        moved = client.post(f"/api/v1/periods/{period['id']}/advance", headers=headers["officer"],
                            json={"from": "appeal"})
        assert moved.status_code == 200, moved.get_json()


def test_phases_are_advanced_by_the_street_in_order(client, world):
    orgs, _, headers = world
    period = start(client, world, to="open")
    url = f"/api/v1/periods/{period['id']}/advance"
    assert client.post(url, headers=headers["sec_a"], json={"from": "open"}).status_code == 403
    skipped = client.post(url, headers=headers["officer"], json={"from": "open", "to": "review"})
    assert skipped.status_code == 409 and skipped.get_json()["error"]["code"] == "invalid_phase"
    assert client.post(url, headers=headers["officer"], json={"from": "open", "to": "self_evaluation"}).get_json()[
        "phase"] == "self_evaluation"


def test_deductions_ticked_set_the_points(client, world):
    orgs, _, headers = world
    period = start(client, world, rubric="zhengxian-community")
    url = card_url(period, orgs["a"])
    item = rubrics.files()["zhengxian-community"]["standards"][0]["criteria"][0]
    ticked = client.put(f"{url}/criteria/{item['code']}", headers=headers["sec_a"],
                        json={"deductions": [1], "note": "今年未开展摸底排查"})
    assert ticked.status_code == 200, ticked.get_json()
    row = next(c for c in ticked.get_json()["criteria"] if c["code"] == item["code"])
    expected = item["max_points"] - item["deductions"][1]["points"]
    assert row["points"] == expected and row["deductions"] == [1]
    assert row["explanation"].startswith(f"扣分：{item['deductions'][1]['text']}")
    assert ticked.get_json()["grade"] == "软弱涣散"
    bad = client.put(f"{url}/criteria/{item['code']}", headers=headers["sec_a"], json={"deductions": [99],
                                                                                     "note": "错误"})
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "unknown_deduction"


def test_self_report_is_the_secretarys_in_self_evaluation(client, world):
    orgs, _, headers = world
    period = start(client, world)
    url = f"{card_url(period, orgs['a'])}/self-report"
    report = {"evaluation": "对照五化标准逐项自评", "problems": "联席会召开不够经常", "measures": "每季度固定召开",
              "next_steps": "争创五星", "claimed_stars": 4}
    assert client.put(url, headers=headers["officer"], json=report).status_code == 403
    saved = client.put(url, headers=headers["sec_a"], json=report)
    assert saved.status_code == 200 and saved.get_json()["self_report"]["measures"] == "每季度固定召开"


# --- live scores ------------------------------------------------------------------------------

def test_a_confirmed_wish_moves_s1_in_the_same_request(client, world):
    orgs, people, headers = world
    period = start(client, world)
    url = card_url(period, orgs["a"])
    submitted = client.post("/api/v1/wishes", headers=headers["sec_a"], json={
        "grid_id": orgs["a1"].id, "title": "楼道灯坏了", "content": "三单元二楼楼道灯不亮", "category": "生活帮扶",
        "consent": True})
    assert submitted.status_code == 201, submitted.get_json()
    wish = submitted.get_json()
    s1 = lambda: next(c for c in client.get(url, headers=headers["sec_a"]).get_json()["criteria"]  # noqa: E731
                      if c["code"] == "S1")
    assert s1()["points"] == 0 and "0.0%" in s1()["explanation"]
    for action, body in (("claim", {}), ("fulfil", {"note": "已更换灯泡"})):
        assert client.post(f"/api/v1/wishes/{wish['id']}/{action}", headers=headers["leader"],
                           json=body).status_code == 200
    confirmed = client.post(f"/api/v1/wishes/{wish['id']}/confirm",
                            json={"receipt": wish["receipt"], "rating": 5})
    assert confirmed.status_code == 200
    assert s1()["points"] == 5 and s1()["explanation"] == "微心愿办结率 100.0% → 5/5 分"
    causes = [e["cause"] for e in client.get(f"{url}/events", headers=headers["sec_a"]).get_json()]
    assert "微心愿「楼道灯坏了」已完成" in causes
    # Community B's card did not move.
    assert not db.session.scalars(sa.select(ScoreEvent).where(ScoreEvent.org_id == orgs["b"].id)).all()


def test_a_meeting_moves_r2_and_a_poll_answer_moves_s5(client, world):
    orgs, _, headers = world
    period = start(client, world)
    url = card_url(period, orgs["a"])
    met = client.post(f"/api/v1/orgs/{orgs['a'].id}/meetings", headers=headers["sec_a"], json={
        "kind": "joint", "held_on": date.today().isoformat(), "topic": "共建项目推进", "attendance": 12,
        "no_evidence_reason": "纪要正在整理"})
    assert met.status_code == 201, met.get_json()
    r2 = next(c for c in client.get(url, headers=headers["sec_a"]).get_json()["criteria"] if c["code"] == "R2")
    assert r2["points"] > 0 and r2["inputs"]["joint_meeting_quarter_share"]["quarters_met"] == 1
    poll = client.post("/api/v1/polls", headers=headers["officer"], json={
        "org_id": orgs["a"].id, "title": "群众满意度测评", "audience": "mass", "modes": ["device"],
        "opens_at": (date.today() - timedelta(days=1)).isoformat() + "T00:00:00+08:00",
        "closes_at": (date.today() + timedelta(days=7)).isoformat() + "T00:00:00+08:00",
        "questions": [{"text": "总体满意度", "kind": "rating5", "criterion_code": "S5", "weight": 1}]}).get_json()
    assert poll["period_id"] == period["id"]
    answered = client.post(f"/api/v1/polls/{poll['id']}/responses", json={
        "device": "phone-0000000001", "answers": [{"question_id": poll["questions"][0]["id"], "value": 5}]})
    assert answered.status_code == 201
    s5 = next(c for c in client.get(url, headers=headers["sec_a"]).get_json()["criteria"] if c["code"] == "S5")
    assert s5["points"] == 0 and s5["provisional"] == 5 and "样本不足 30 份" in s5["explanation"]


def _year_of_meetings(org, year, kinds):
    for month in range(1, 13):
        for kind in kinds:
            if kind in ("general", "lecture") and month % 3:
                continue
            db.session.add(Meeting(org_id=org.id, kind=kind, held_on=date(year, month, 10), topic="会议",
                                   attendance=8))
    db.session.flush()


def test_o2_counts_party_group_meetings_each_month(app, world):
    """三会一课 is 党员大会, 支委会, 党小组会 and 党课 (seed 004 附件3: 党小组会一般每月召开1至2次):
    a year with every other required meeting but no 党小组会 is not full marks."""
    orgs = world[0]
    o2 = next(c for s in WUHUA["standards"] for c in s["criteria"] if c["code"] == "O2")
    year = date.today().year - 1
    ctx = lambda: Context(org=orgs["a"], year=year, now=datetime.now(UTC))  # noqa: E731
    _year_of_meetings(orgs["a"], year, ["theme_day", "committee", "general", "lecture"])
    without = engine.metric_points(o2, ctx())
    assert without.inputs["required_meetings_share"]["kinds"]["group"] == {"met": 0, "due": 12}
    assert (without.inputs["required_meetings_share"]["met"], without.inputs["required_meetings_share"]["due"]) \
        == (32, 44)
    assert without.points == D("4.36")   # 32/44 × 6
    _year_of_meetings(orgs["a"], year, ["group"])
    assert engine.metric_points(o2, ctx()).points == D("6.00")


_RUN = itertools.count()
#: Manual criteria of the community rubric that are scored by deductions: every kind is there.
DEDUCTED = sorted(code for code, c in rubrics.items_of(rubrics.files()["zhengxian-community"]).items()
                  if c.get("deductions"))
OPS = st.lists(st.one_of(
    st.tuples(st.sampled_from(["wish", "claim", "fulfil", "confirm", "meeting", "team", "poll", "party"]),
              st.integers(0, 3)),
    # A manual entry on community B's deduction card: ticks drawn from the seed (every kind),
    # or points given with ticks as their reasons.
    st.tuples(st.sampled_from(["deduct", "judge"]), st.tuples(st.sampled_from(DEDUCTED), st.integers(0, 7 ** 4)))),
    max_size=14)
#: The shipped rubric with samples small enough for a short run to cross them: O5 then pools
#: a mass poll and a party-member poll, each audience counting from its own minimum.
SMALL_SAMPLES = {**WUHUA, "poll": {**WUHUA["poll"], "min_answers": {"mass": 3, "party_member": 2}}}


@pytest.mark.slow
# Each example writes to the database; a failure is reported as found rather than shrunk for minutes.
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@example(ops=[("deduct", ("C5.1", 5 * 7 * 7 + 1)), ("deduct", ("C3.2", 7 * 2 + 1)), ("judge", ("C5.1", 3)),
              ("meeting", 1)])
@given(ops=OPS)
# Both audiences past their samples, so O5 pools the two polls.
@example(ops=[("poll", 0), ("party", 3), ("poll", 1), ("poll", 0), ("party", 0), ("poll", 1)])
def test_incremental_scores_equal_a_full_recompute(app, world, monkeypatch, ops):
    """After any sequence of operations, each committed with its live recompute, a full
    recompute changes nothing — also on the manual criteria scored by deduction ticks of
    every kind (once, per count, one of), and on poll items pooled over a mass and a
    party-member poll."""
    orgs, people, _ = world
    shipped = rubrics.files()
    monkeypatch.setattr(rubrics, "files", lambda: {**shipped, "wuhua-2019": SMALL_SAMPLES})
    db.session.execute(sa.delete(ScoreEvent))
    officer = load_actor(people["officer"].id)
    # Created first, so that the poll below feeds the wuhua campaign, the newest rating A.
    deducted = service.create_period(officer, name="扣分性质测试", year=date.today().year,
                                     rubric_code="zhengxian-community", org_ids=[orgs["b"].id])
    service.advance(officer, deducted, "self_evaluation")
    period = service.create_period(officer, name="性质测试", year=date.today().year,
                                   rubric_code="wuhua-2019", org_ids=[orgs["a"].id])
    db.session.commit()
    deducted_card = service.scorecard(deducted, orgs["b"].id)
    secretary_b = load_actor(people["sec_b"].id)
    leader = load_actor(people["leader"].id)
    window = {"opens_at": polls.utcnow() - timedelta(hours=1), "closes_at": polls.utcnow() + timedelta(days=1)}
    mass = polls.create_poll(orgs["a"], {
        "title": "群众测评", "audience": "mass", "modes": ["device"], **window,
        "questions": [{"text": "满意度", "kind": "rating5", "criterion_code": "S5"},
                      {"text": "运转规范", "kind": "rating5", "criterion_code": "O5", "weight": 2}]})
    party = polls.create_poll(orgs["a"], {
        "title": "党员测评", "audience": "party_member", "modes": ["code"], **window,
        "questions": [{"text": "班子评价", "kind": "rating5", "criterion_code": "T5"},
                      {"text": "运转规范", "kind": "rating5", "criterion_code": "O5"}]})
    assert mass.period_id == party.period_id == period.id
    codes = [c.code for c in polls.generate_codes(party, 14)]
    db.session.commit()
    made, run = [], next(_RUN)
    for n, (op, pick) in enumerate(ops):
        try:
            if op in ("deduct", "judge"):
                _enter(op, *pick, secretary_b, deducted_card)
            else:
                _operate(op, pick, n, run, made, orgs, leader, (mass, party, codes))
        except DomainError:
            db.session.rollback()   # a refused operation (e.g. too many claims) changes nothing
            continue
        db.session.commit()
    for period_id in (period.id, deducted.id):
        card = db.session.scalar(sa.select(Scorecard).where(Scorecard.period_id == period_id))
        stored = {c.code: (c.points, c.provisional, c.explanation) for c in card.criteria}
        assert engine.recompute(card, full=True) == []
        assert {c.code: (c.points, c.provisional, c.explanation) for c in card.criteria} == stored
        assert card.total == sum(stored[c][0] for c in stored)
    db.session.rollback()


def _ticks(criterion: dict, seed: int) -> list:
    """Ticks for every deduction of `criterion`, one base-7 digit of `seed` each."""
    ticks = []
    for index, option in enumerate(criterion["deductions"]):
        seed, digit = divmod(seed, 7)
        kind = option.get("kind", "once")
        if kind == "per_count" and digit % (option["max_count"] + 1):
            ticks.append({"index": index, "count": digit % (option["max_count"] + 1)})
        elif kind == "one_of" and digit % (len(option["choices"]) + 1):
            ticks.append({"index": index, "choice": digit % (len(option["choices"]) + 1) - 1})
        elif kind == "once" and digit % 2:
            ticks.append(index)
    return ticks


def _enter(op, code, seed, secretary, card):
    criterion = rubrics.items_of(card.period.rubric.body)[code]
    ticks = _ticks(criterion, seed)
    left = engine.deduction_points(criterion, D(str(criterion["max_points"])), ticks).points
    given = D(seed % (int(left) + 1)) if op == "judge" else None   # judged within what the ticks leave
    service.enter_score(secretary, card, code, points=given, deductions=ticks, note="对照标准自查")


def _operate(op, pick, n, run, made, orgs, leader, poll_set):
    target = made[pick % len(made)] if made else None
    mass, party, codes = poll_set
    if op == "wish":
        made.append(wishes.submit(grid=orgs["a1"], title=f"心愿{n}", content="内容内容", category="生活帮扶",
                                  consent=True, submit_token=f"token-{run}-{n}").wish)
    elif op == "claim" and target is not None and target.status == "open":
        wishes.claim(leader, target)
    elif op == "fulfil" and target is not None and target.status == "claimed":
        wishes.fulfil(leader, target, "完成")
    elif op == "confirm" and target is not None and target.status == "fulfilled":
        wishes.confirm(target, 1 + pick)
    elif op == "meeting":
        db.session.add(Meeting(org_id=orgs["a"].id, kind=["joint", "theme_day", "committee", "lecture"][pick],
                               held_on=date.today(), topic="会议", attendance=5))
    elif op == "team":
        create_team(orgs["a"], name=f"服务队{run}-{n}")
    elif op == "poll":
        respondent = polls.respondent_for(mass, actor=None, code=None, device=f"device-{run:06d}-{n:06d}")
        polls.submit(mass, respondent, [{"question_id": mass.questions[0].id, "value": 1 + pick},
                                        {"question_id": mass.questions[1].id, "value": 5 - pick}], ip=f"10.0.{n}.1")
    elif op == "party":
        respondent = polls.respondent_for(party, actor=None, code=codes[n], device=None)
        polls.submit(party, respondent, [{"question_id": party.questions[0].id, "value": 2 + pick},
                                         {"question_id": party.questions[1].id, "value": 5 - pick}], ip=f"10.1.{n}.1")


# --- appeals, quotas, final --------------------------------------------------------------------

def test_appeal_window_decision_and_finalisation(client, world, app):
    orgs, _, headers = world
    period = start(client, world, to="audit")
    pid = period["id"]
    published = client.post(f"/api/v1/periods/{pid}/advance", headers=headers["officer"],
                            json={"from": "audit"}).get_json()
    assert published["phase"] == "appeal" and published["appeal_deadline"] > published["published_on"]
    url = f"{card_url(period, orgs['a'])}/appeals"
    assert client.post(url, headers=headers["officer"], json={"reasons": "街道不能替社区申诉"}).status_code == 403
    filed = client.post(url, headers=headers["sec_a"], json={"reasons": "第三季度联席会记录漏报，补充会议纪要",
                                                             "material_url": "https://example.cn/minutes.pdf"})
    assert filed.status_code == 201, filed.get_json()
    again = client.post(url, headers=headers["sec_a"], json={"reasons": "再申诉一次试试看"})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "appeal_pending"
    early = client.post(f"/api/v1/periods/{pid}/advance", headers=headers["officer"], json={"from": "appeal"})
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "appeals_pending"
    decided = client.post(f"/api/v1/appeals/{filed.get_json()['id']}/decide", headers=headers["officer"], json={
        "decision": "accept", "note": "材料属实", "changes": [{"code": "R2", "points": 5}]})
    assert decided.status_code == 200 and decided.get_json()["status"] == "accepted"
    card = client.get(card_url(period, orgs["a"]), headers=headers["sec_a"]).get_json()
    assert card["standards"]["R"] >= 5
    still_open = client.post(f"/api/v1/periods/{pid}/advance", headers=headers["officer"], json={"from": "appeal"})
    assert still_open.status_code == 409 and still_open.get_json()["error"]["code"] == "appeal_window_open"
    row = db.session.get(RatingPeriod, pid)
    row.appeal_deadline = date.today() - timedelta(days=1)
    db.session.commit()
    late = client.post(url, headers=headers["sec_a"], json={"reasons": "过了申诉期再申诉"})
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "appeal_window_closed"
    final = client.post(f"/api/v1/periods/{pid}/advance", headers=headers["officer"], json={"from": "appeal"})
    assert final.status_code == 200 and final.get_json()["phase"] == "final"
    rows = client.get(f"/api/v1/periods/{pid}/scorecards", headers=headers["officer"]).get_json()
    assert all(r["final_stars"] == 0 and r["bonus"] == 0 for r in rows)
    problems = client.get(f"{card_url(period, orgs['a'])}/problems", headers=headers["sec_a"]).get_json()
    assert len(problems) == 5 and problems[0]["problem"].startswith("组织网格化得分")
    fixed = client.patch(f"/api/v1/problems/{problems[0]['id']}", headers=headers["sec_a"], json={
        "measure": "补齐功能型党小组", "owner": "李红梅", "deadline": "2027-03-31", "status": "in_progress"})
    assert fixed.status_code == 200 and fixed.get_json()["status"] == "in_progress"
    kinds = [e["kind"] for e in client.get(f"/api/v1/periods/{pid}/ledger", headers=headers["officer"]).get_json()]
    assert kinds[0] == "period_created" and kinds.count("final_result") == 2
    assert {"appeal_filed", "appeal_decided", "phase_changed"} <= set(kinds)
    workbook = client.get(f"/api/v1/periods/{pid}/export.xlsx", headers=headers["officer"])
    assert workbook.status_code == 200 and workbook.data[:2] == b"PK"


def test_quotas_cap_the_seventh_five_star_org(app, world):
    """Seven five-star communities: floor(7 × 15 %) = 1 keeps five stars, floor(7 × 30 %) = 2
    keep four, the rest drop to three, each with a ledger entry saying why."""
    orgs, people, _ = world
    communities = [orgs["a"], orgs["b"]] + [f.org(f"社区{i}", "community", orgs["street"]) for i in range(5)]
    db.session.commit()
    officer = load_actor(people["officer"].id)
    period = service.create_period(officer, name="名额测试", year=date.today().year, rubric_code="wuhua-2019",
                                   org_ids=[c.id for c in communities])
    for i, card in enumerate(period.scorecards):
        for row in card.criteria:
            row.points = row.max_points - (D("0.5") if row.code == "G1" and i else 0) - D(i) / 10 * (row.code == "T1")
        engine._store_totals(card, engine.standards_of(card))
    period.phase = "appeal"
    period.appeal_deadline = date.today() - timedelta(days=1)
    db.session.commit()
    service.advance(officer, period)
    db.session.commit()
    finals = sorted(((c.final_stars, c.capped) for c in period.scorecards), reverse=True)
    assert finals == [(5, False), (4, True), (4, True), (3, True), (3, True), (3, True), (3, True)]
    caps = db.session.scalars(sa.select(CampaignEntry).where(CampaignEntry.kind == "quota_cap")).all()
    assert len(caps) == 6 and "五星名额 1 个（7 个组织 × 15%）" in caps[0].body
    assert {c.bonus for c in period.scorecards} == {10, 8, 5}


# --- the ledger ---------------------------------------------------------------------------------

def test_ledger_refuses_changes_and_verify_finds_tampering(client, world, app):
    orgs, _, headers = world
    period = start(client, world)
    client.put(f"{card_url(period, orgs['a'])}/criteria/G1", headers=headers["sec_a"],
               json={"points": 4, "note": "初评"})
    client.put(f"{card_url(period, orgs['a'])}/criteria/G2", headers=headers["sec_a"],
               json={"points": 3, "note": "初评"})
    verify = f"/api/v1/periods/{period['id']}/ledger/verify"
    good = client.get(verify, headers=headers["officer"]).get_json()
    assert good["ok"] and good["entries"] == 4     # created, self-evaluation opened, G1, G2
    assert client.get(verify, headers=headers["sec_a"]).status_code == 403
    for statement in ("UPDATE campaign_ledger SET body = '{}' WHERE seq = 3", "DELETE FROM campaign_ledger"):
        with pytest.raises(sa.exc.DatabaseError):
            db.session.execute(sa.text(statement))
        db.session.rollback()
    with f.ledger_unguarded() as conn:
        conn.exec_driver_sql("UPDATE campaign_ledger SET body = replace(body, '\"new\":\"4.00\"', '\"new\":\"5.00\"') "
                             "WHERE seq = 3")
    bad = client.get(verify, headers=headers["officer"]).get_json()
    assert not bad["ok"] and bad["first_bad"]["seq"] == 3 and "改动" in bad["first_bad"]["reason"]


@pytest.mark.slow
def test_simultaneous_score_entries_keep_one_chain_and_every_point(client, world, app):
    """Eight manual scores entered at the same moment over HTTP: every one counts in the total
    (scorecard lock) and the ledger stays one chain numbered without gaps (campaign lock)."""
    orgs, _, headers = world
    period = start(client, world)
    url = card_url(period, orgs["a"])
    codes = ["G1", "G2", "G4", "R1", "T1", "T2", "T3", "T4"]
    db.session.close()
    start_line, statuses = threading.Barrier(len(codes)), []

    def enter(code):
        own = app.test_client()
        start_line.wait(timeout=10)
        statuses.append(own.put(f"{url}/criteria/{code}", headers=headers["sec_a"],
                                json={"points": 1, "note": "同时评分"}).status_code)

    threads = [threading.Thread(target=enter, args=(code,)) for code in codes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * len(codes)
    card = client.get(url, headers=headers["sec_a"]).get_json()
    assert card["total"] == sum(c["points"] for c in card["criteria"])
    assert sum(c["points"] for c in card["criteria"] if c["code"] in codes) == len(codes)
    chain = client.get(f"/api/v1/periods/{period['id']}/ledger/verify", headers=headers["officer"]).get_json()
    assert chain["ok"] and chain["entries"] == 2 + len(codes)
    entries = client.get(f"/api/v1/periods/{period['id']}/ledger", headers=headers["officer"]).get_json()
    assert [e["seq"] for e in entries] == list(range(1, 3 + len(codes)))
    assert sorted(e["data"]["criterion"] for e in entries if e["kind"] == "manual_score") == sorted(codes)


def test_two_scorecards_scored_at_once_append_to_the_ledger_in_turn(client, world, app, monkeypatch):
    """Two secretaries enter a score on their own scorecards at the same moment. Each entry's
    score event refers to the campaign, so by the time the ledger locks the campaign's row to
    append, both transactions hold a key-share lock on it (the foreign key check). A lock
    that conflicts with key share (FOR UPDATE) would leave each waiting on the other, and
    PostgreSQL would end one with a deadlock error (found by bench/crash.py): both must be
    entered, one ledger entry after the other."""
    if db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite writers take the database's write lock at BEGIN: they queue and cannot deadlock")
    orgs, _, headers = world
    period = start(client, world)
    urls = {who: card_url(period, orgs[k]) for k, who in (("a", "sec_a"), ("b", "sec_b"))}
    db.session.close()
    both_in, append, statuses = threading.Barrier(2), ledger.append, []

    def append_when_both_hold_key_share(period, kind, **data):
        db.session.flush()   # the score event's insert: the key-share lock on the campaign
        both_in.wait(timeout=10)
        return append(period, kind, **data)

    monkeypatch.setattr(ledger, "append", append_when_both_hold_key_share)

    def enter(who):
        statuses.append(app.test_client().put(f"{urls[who]}/criteria/G1", headers=headers[who],
                                              json={"points": 3, "note": "同时评分"}).status_code)

    threads = [threading.Thread(target=enter, args=(who,)) for who in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200, 200]
    chain = client.get(f"/api/v1/periods/{period['id']}/ledger/verify", headers=headers["officer"]).get_json()
    assert chain["ok"] and chain["entries"] == 4


def test_a_scorecard_the_request_holds_shows_what_its_commit_recomputed(app, client, world):
    """The live recompute writes past the ORM; a request's commit keeps what it loaded (the
    answer is made from it), so the scorecard and criteria it holds must show what was written."""
    orgs, _, _ = world
    start(client, world)
    with app.test_request_context():
        card = db.session.scalar(sa.select(Scorecard).where(Scorecard.org_id == orgs["a"].id))
        s3 = next(row for row in card.criteria if row.code == "S3")
        assert (s3.points, card.total) == (0, 0)
        create_team(orgs["a"], name="新服务队")
        commit()
        assert s3.points > 0 and card.total == sum(row.points for row in card.criteria) == s3.points
        assert card.standards[s3.standard_code] == str(s3.points)


def test_scores_of_a_final_campaign_no_longer_follow_the_data(app, world):
    orgs, people, _ = world
    officer = load_actor(people["officer"].id)
    period = service.create_period(officer, name="冻结测试", year=date.today().year, rubric_code="wuhua-2019",
                                   org_ids=[orgs["a"].id])
    period.phase = "final"
    db.session.commit()
    create_team(orgs["a"], name="新服务队")
    db.session.commit()
    assert live.live_scorecards(orgs["a"].id) == []
    s3 = db.session.scalar(sa.select(CriterionScore).where(CriterionScore.code == "S3"))
    assert s3.points == 0
