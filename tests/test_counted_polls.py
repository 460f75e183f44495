"""Polls that feed a star rating: every poll item reachable from the page, each fed only by
the audience the rubric names, satisfaction pooled per answer, and counted polls run by the
street — one per audience per community per campaign — never by the secretary they rate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from backend.core.db import conflict_for
from backend.extensions import db
from backend.polls import service as polls
from backend.polls.models import Poll
from backend.polls.presets import PRESETS
from backend.rating import engine, rubrics
from backend.rating.models import Scorecard
from tests import test_rating
from tests.test_csrf_session import csrf_from, h5_login
from tests.test_rating import card_url, start

world = test_rating.world   # the same street, communities and people as the rating API tests
NOW = datetime.now(UTC)
WINDOW = {"opens_at": (NOW - timedelta(hours=1)).isoformat(), "closes_at": (NOW + timedelta(days=7)).isoformat()}


def _criterion(client, headers, period, org, code) -> dict:
    card = client.get(card_url(period, org), headers=headers).get_json()
    return next(c for c in card["criteria"] if c["code"] == code)


def _poll(client, headers, org, audience="mass", questions=None, **extra):
    return client.post("/api/v1/polls", headers=headers, json={
        "org_id": org.id, "title": "测评", "audience": audience, "modes": ["code"], **WINDOW,
        "questions": questions or [{"text": "总体满意度", "kind": "rating5", "criterion_code": "S5"}], **extra})


def _answer_all(poll, codes, values):
    """One answer sheet per code through the service, every rated question at `values[i]`."""
    for code, value in zip(codes, values, strict=True):
        respondent = polls.respondent_for(poll, actor=None, code=code, device=None)
        polls.submit(poll, respondent, [{"question_id": q.id, "value": value}
                                        for q in poll.questions if q.kind == "rating5"])


# --- 1. every poll item is reachable ------------------------------------------------------------

@pytest.mark.parametrize("code", sorted(rubrics.files()))
def test_every_poll_item_has_a_preset_question_of_its_audience(code):
    """What the page offers (its presets) reaches every poll item of every shipped rubric, from
    a poll of each audience the item names."""
    offered = {(p["audience"], q.get("criterion_code")) for p in PRESETS.values() for q in p["questions"]}
    for _, criterion in rubrics.criteria_of(rubrics.files()[code]):
        if criterion["source"] == "poll":
            for audience in criterion["audience"]:
                assert (audience, criterion["code"]) in offered, (criterion["code"], audience)


def test_the_street_starts_both_counted_polls_from_the_page_and_o5_scores(app, client, world):
    orgs, _, headers = world
    period = start(client, world)
    officer = app.test_client()
    h5_login(officer, "officer")
    form = officer.get("/h5/polls/new")
    assert 'name="counted" value="1" id="counted" checked' in form.get_data(as_text=True)
    made = {}
    for preset in ("mass", "party_member"):
        done = officer.post("/h5/polls/new", data={
            "csrf_token": csrf_from(form), "org_id": orgs["a"].id, "preset": preset, "counted": "1",
            "from_day": (NOW - timedelta(days=1)).date().isoformat(),
            "to_day": (NOW + timedelta(days=7)).date().isoformat(), "modes": ["code"]})
        assert done.status_code == 302, done.get_data(as_text=True)
        made[preset] = db.session.scalar(sa.select(Poll).where(Poll.audience == preset))
        assert made[preset].period_id == period["id"]
        assert "O5" in {q.criterion_code for q in made[preset].questions}
    shown = officer.get(f"/h5/polls/{made['mass'].id}/results").get_data(as_text=True)
    assert ("计入星级创评评分（S5 群众满意度、R5 群众对共建工作的满意度、O5 党员群众对运行规范的评价），"
            "由街道组织") in shown
    before = _criterion(client, headers["sec_a"], period, orgs["a"], "O5")
    assert before["points"] == 0 and before["explanation"] == "暂无测评答卷 → 0/3 分"
    mass = made["mass"]
    _answer_all(mass, [c.code for c in polls.generate_codes(mass, 30)], [5] * 30)
    db.session.commit()
    o5 = _criterion(client, headers["sec_a"], period, orgs["a"], "O5")
    assert (o5["points"], o5["explanation"]) == (3, "满意率 100.0%（30 份）→ 3/3 分")


# --- 2. each item is fed by its audience only ---------------------------------------------------

@pytest.mark.parametrize(("audience", "code", "error", "says"), [
    ("party_member", "S5", "wrong_audience", "S5 只由群众满意度测评计分，党员测评的答卷不能计入"),
    ("mass", "T5", "wrong_audience", "T5 只由党员测评计分"),
    ("mass", "S1", "not_a_poll_item", "S1 不是本次创评标准中由测评计分的项目"),
    ("mass", "Z9", "not_a_poll_item", "Z9 不是"),
])
def test_a_question_maps_only_to_a_poll_item_of_its_audience(client, world, audience, code, error, says):
    orgs, _, headers = world
    start(client, world)
    refused = _poll(client, headers["officer"], orgs["a"], audience, [
        {"text": "班子评价", "kind": "rating5"}, {"text": "评价", "kind": "rating5", "criterion_code": code}])
    body = refused.get_json()["error"]
    assert refused.status_code == 422 and body["code"] == error
    assert body["fields"] == {"questions.1.criterion_code": [body["message"]]} and says in body["message"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Poll)) == 0


def test_party_member_answers_never_feed_the_mass_item(client, world):
    """A party-member poll mapped to S5 before items named their audience: its ten answers
    at 100 % leave S5 alone; thirty mass answers at 60 % are what S5 reads."""
    orgs, _, headers = world
    legacy = polls.create_poll(orgs["a"], {
        "title": "党员测评", "audience": "party_member", "modes": ["code"], "opens_at": NOW - timedelta(hours=1),
        "closes_at": NOW + timedelta(days=1), "questions": [{"text": "满意度", "kind": "rating5",
                                                              "criterion_code": "S5"}]})
    period = start(client, world)
    legacy.period_id = period["id"]
    db.session.commit()
    _answer_all(legacy, [c.code for c in polls.generate_codes(legacy, 10)], [5] * 10)
    db.session.commit()
    s5 = _criterion(client, headers["sec_a"], period, orgs["a"], "S5")
    assert (s5["points"], s5["provisional"], s5["explanation"]) == (0, None, "暂无测评答卷 → 0/5 分")
    assert [q["count"] for q in s5["inputs"]["left_out"]] == [10]
    mass = _poll(client, headers["officer"], orgs["a"]).get_json()
    mass = db.session.get(Poll, mass["id"])
    _answer_all(mass, [c.code for c in polls.generate_codes(mass, 30)], [5] * 18 + [3] * 12)
    db.session.commit()
    s5 = _criterion(client, headers["sec_a"], period, orgs["a"], "S5")
    assert (s5["points"], s5["explanation"]) == (0, "满意率 60.0%（30 份）→ 0/5 分")


# --- 3. pooled per answer -----------------------------------------------------------------------

def test_o5_pools_every_answer_of_both_polls(client, world):
    """Forty mass answers at 60 % and ten party-member answers at 100 %: O5 reads 34 of 50 in
    the top two (68 %), not the mean of the two polls (80 %); live and full recompute agree."""
    orgs, _, headers = world
    period = start(client, world)
    o5 = {"text": "运转规范", "kind": "rating5", "criterion_code": "O5"}
    mass = db.session.get(Poll, _poll(client, headers["officer"], orgs["a"], "mass", [o5]).get_json()["id"])
    party = db.session.get(Poll, _poll(client, headers["officer"], orgs["a"], "party_member", [o5]).get_json()["id"])
    _answer_all(mass, [c.code for c in polls.generate_codes(mass, 40)], [4] * 24 + [2] * 16)
    db.session.commit()
    _answer_all(party, [c.code for c in polls.generate_codes(party, 10)], [5] * 10)
    db.session.commit()
    row = _criterion(client, headers["sec_a"], period, orgs["a"], "O5")
    # 3 × (0.68 − 0.60) / 0.35 = 0.69
    assert row["points"] == 0.69
    assert row["explanation"] == "满意率 68.0%（党员测评 10 份、群众满意度测评 40 份，合并 50 份）→ 0.69/3 分"
    assert (row["inputs"]["pooled"], row["inputs"]["sheets"]) == (50, {"mass": 40, "party_member": 10})
    card = db.session.scalar(sa.select(Scorecard).where(Scorecard.period_id == period["id"],
                                                        Scorecard.org_id == orgs["a"].id))
    assert engine.recompute(card) == []


def test_an_audience_short_of_its_sample_is_left_out_of_the_pool(client, world):
    orgs, _, headers = world
    period = start(client, world)
    o5 = {"text": "运转规范", "kind": "rating5", "criterion_code": "O5"}
    mass = db.session.get(Poll, _poll(client, headers["officer"], orgs["a"], "mass", [o5]).get_json()["id"])
    party = db.session.get(Poll, _poll(client, headers["officer"], orgs["a"], "party_member", [o5]).get_json()["id"])
    _answer_all(mass, [c.code for c in polls.generate_codes(mass, 5)], [1] * 5)
    _answer_all(party, [c.code for c in polls.generate_codes(party, 4)], [5] * 4)
    db.session.commit()
    row = _criterion(client, headers["sec_a"], period, orgs["a"], "O5")
    assert (row["points"], row["provisional"]) == (0, 0)   # pooled 4 of 9: 44.4 %, below 60 %
    assert row["explanation"].startswith(
        "满意率 44.4%（党员测评 4 份，样本不足 10 份；群众满意度测评 5 份，样本不足 30 份）→ 暂计 0 分")
    _answer_all(party, [c.code for c in polls.generate_codes(party, 6)], [5] * 6)
    db.session.commit()
    row = _criterion(client, headers["sec_a"], period, orgs["a"], "O5")
    assert (row["points"], row["provisional"]) == (3, None)
    assert row["explanation"] == ("满意率 100.0%（党员测评 10 份；群众满意度测评 5 份，样本不足 30 份，未计入）"
                                  "→ 3/3 分")


# --- 8. counted polls are run by the street ------------------------------------------------------

def test_a_secretary_runs_only_polls_that_feed_no_score(client, world):
    orgs, _, headers = world
    period = start(client, world)
    counted = _poll(client, headers["sec_a"], orgs["a"])
    error = counted.get_json()["error"]
    assert counted.status_code == 403 and error["code"] == "counted_poll_by_street"
    assert "由街道组织" in error["message"]
    own = _poll(client, headers["sec_a"], orgs["a"], questions=[{"text": "总体满意度", "kind": "rating5"}])
    assert own.status_code == 201 and own.get_json()["period_id"] is None
    for action, body in (("codes", {"count": 2}), ("close", None)):
        done = client.post(f"/api/v1/polls/{own.get_json()['id']}/{action}", headers=headers["sec_a"], json=body)
        assert done.status_code in (200, 201), done.get_json()
    nothing = _poll(client, headers["officer"], orgs["a"], questions=[{"text": "总体满意度", "kind": "rating5"}],
                    period_id=period["id"])
    assert nothing.status_code == 422 and nothing.get_json()["error"]["code"] == "nothing_counted"


def test_the_street_runs_one_counted_poll_per_audience(client, world):
    orgs, _, headers = world
    period = start(client, world)
    made = _poll(client, headers["officer"], orgs["a"], title="和平社区群众满意度测评")
    assert made.status_code == 201 and made.get_json()["period_id"] == period["id"]
    poll_id = made.get_json()["id"]
    for action, body in (("codes", {"count": 2}), ("open", None), ("close", None)):
        refused = client.post(f"/api/v1/polls/{poll_id}/{action}", headers=headers["sec_a"], json=body)
        assert refused.status_code == 403, (action, refused.get_json())
        assert refused.get_json()["error"]["code"] == "counted_poll_by_street"
    assert client.get(f"/api/v1/polls/{poll_id}/results", headers=headers["sec_a"]).status_code == 200
    assert client.post(f"/api/v1/polls/{poll_id}/codes", headers=headers["officer"],
                       json={"count": 2}).status_code == 201
    second = _poll(client, headers["officer"], orgs["a"])
    error = second.get_json()["error"]
    assert second.status_code == 409 and error["code"] == "counted_poll_exists"
    assert "已有计分的群众满意度测评「和平社区群众满意度测评」" in error["message"]
    party = _poll(client, headers["officer"], orgs["a"], "party_member",
                  [{"text": "班子评价", "kind": "rating5", "criterion_code": "T5"}])
    other = _poll(client, headers["officer"], orgs["b"])
    assert (party.status_code, other.status_code) == (201, 201)
    assert client.post(f"/api/v1/polls/{poll_id}/close", headers=headers["officer"]).status_code == 200


def test_the_database_keeps_one_counted_poll_per_audience(client, world):
    """Two requests racing past the service's check meet the unique constraint: a 409."""
    orgs, _, headers = world
    period = start(client, world)
    first = db.session.get(Poll, _poll(client, headers["officer"], orgs["a"]).get_json()["id"])
    twin = Poll(org_id=orgs["a"].id, period_id=period["id"], title="测评", audience="mass",
                opens_at=first.opens_at, closes_at=first.closes_at)
    db.session.add(twin)
    with pytest.raises(IntegrityError) as raised:
        db.session.flush()
    assert conflict_for(raised.value).code == "counted_poll_exists"
    db.session.rollback()


def test_the_secretary_form_makes_a_poll_that_counts_nowhere(app, client, world):
    orgs, _, _ = world
    start(client, world)
    secretary = app.test_client()
    h5_login(secretary, "sec_a")
    form = secretary.get("/h5/polls/new")
    page = form.get_data(as_text=True)
    assert 'name="counted"' not in page and "计分的党员测评和群众测评由街道组织" in page
    fields = {"csrf_token": csrf_from(form), "org_id": orgs["a"].id, "preset": "mass",
              "from_day": NOW.date().isoformat(), "to_day": (NOW + timedelta(days=7)).date().isoformat(),
              "modes": ["code"]}
    forged = secretary.post("/h5/polls/new", data={**fields, "counted": "1"})
    assert forged.status_code == 403 and "由街道组织" in forged.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Poll)) == 0
    done = secretary.post("/h5/polls/new", data=fields)
    assert done.status_code == 302
    poll = db.session.scalar(sa.select(Poll))
    assert poll.period_id is None and not any(q.criterion_code for q in poll.questions)
    shown = secretary.get(done.headers["Location"]).get_data(as_text=True)
    assert "不计入星级创评评分" in shown and "生成测评码纸条" in shown


# --- the rubric names each poll item's audience --------------------------------------------------

def _with_poll_item(**item) -> dict:
    body = {"code": "t", "title": "t", "kind": "stars", "rules": {"star_threshold": 16, "quotas": [], "bonus": {}},
            "poll": {"low": 0.6, "high": 0.95, "min_answers": {"mass": 30}},
            "standards": [{"code": "A", "title": "A", "max_points": 100, "criteria": [
                {"code": "A1", "title": "a", "max_points": 60, "source": "manual"},
                {"code": "A2", "title": "b", "max_points": 40, "source": "poll", "audience": ["mass"]}]}]}
    body["standards"][0]["criteria"][1].update(item)
    return body


@pytest.mark.parametrize(("item", "message"), [
    ({"audience": None}, "A2: a poll criterion needs audience"),
    ({"audience": []}, "A2: a poll criterion needs audience"),
    ({"audience": "mass"}, "A2: a poll criterion needs audience"),
    ({"audience": ["mass", "mass"]}, "A2: a poll criterion needs audience"),
    ({"audience": ["residents"]}, "A2: a poll criterion needs audience"),
    ({"audience": ["party_member"]}, "A2: audience 'party_member' has no \\[poll\\] min_answers"),
])
def test_a_poll_item_names_its_audience(item, message):
    rubrics.validate(_with_poll_item())
    with pytest.raises(rubrics.RubricError, match=message):
        rubrics.validate(_with_poll_item(**item))


def test_only_a_poll_item_has_an_audience():
    body = _with_poll_item()
    body["standards"][0]["criteria"][0]["audience"] = ["mass"]
    with pytest.raises(rubrics.RubricError, match="A1: only a poll criterion has an audience"):
        rubrics.validate(body)
