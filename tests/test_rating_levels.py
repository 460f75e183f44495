"""Levels beside the score: quotas that hold 原则上 (the street may record an exception for
one org, with its reason), "名额 0" explained, the level a community claims in its
self-evaluation (自我定级) and the street's preliminary opinion (初评意见) — all ledgered,
on the pages and in the export."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa
from openpyxl import load_workbook

from backend.extensions import db
from backend.people.actors import load_actor
from backend.rating import engine, service
from backend.rating.models import CampaignEntry, RatingPeriod
from backend.rating.quotas import Candidate, apply_quotas, place_note
from tests import factories as f
from tests import test_rating
from tests.test_csrf_session import csrf_from
from tests.test_rating import card_url, start
from tests.test_rating_pages import logged_in

world = test_rating.world
QUOTAS = [(5, 0.15), (4, 0.30)]


def five_star(org_id: int, total: str, exempt: bool = False) -> Candidate:
    rest = Decimal(total) - 16
    return Candidate(org_id, f"社区{org_id}", Decimal(total), 5,
                     {"G": Decimal(16), "R": rest / 4, "T": rest / 4, "S": rest / 4, "O": rest / 4}, exempt=exempt)


# --- the rule --------------------------------------------------------------------------------

def test_an_excepted_org_keeps_its_stars_and_takes_no_place():
    # Seven five-star orgs: one five-star place (floor 7 × 15 %), two four-star places.
    field = [five_star(i, str(100 - i)) for i in range(1, 8)]
    plain = {o.org_id: o.stars for o in apply_quotas(field, QUOTAS)}
    assert plain == {1: 5, 2: 4, 3: 4, 4: 3, 5: 3, 6: 3, 7: 3}
    # An exception for the sixth: it keeps five stars; nobody else's level changes.
    excepted = [five_star(i, str(100 - i), exempt=i == 6) for i in range(1, 8)]
    outcomes = {o.org_id: o for o in apply_quotas(excepted, QUOTAS)}
    assert {k: o.stars for k, o in outcomes.items()} == {**plain, 6: 5}
    assert not outcomes[6].capped
    # An exception for the first: the place it would have held goes to the next in line.
    first = [five_star(i, str(100 - i), exempt=i == 1) for i in range(1, 8)]
    assert {o.org_id: o.stars for o in apply_quotas(first, QUOTAS)} == {1: 5, 2: 5, 3: 4, 4: 4, 5: 3, 6: 3, 7: 3}


def test_place_note_explains_a_quota_of_none():
    assert place_note(5, 0.15, 3) == "五星名额 0 个：3 个组织 × 15% = 0.45，向下取整为 0（不足 1 个）"
    assert place_note(4, 0.30, 7) == "四星名额 2 个：7 个组织 × 30% = 2.1，向下取整为 2"
    assert place_note(5, 0.15, 20) == "五星名额 3 个：20 个组织 × 15% = 3"


# --- a campaign --------------------------------------------------------------------------------

def _all_full(period: RatingPeriod) -> None:
    """Every org at full points: all earn five stars."""
    for card in period.scorecards:
        for row in card.criteria:
            row.points = row.computed_points = row.max_points
        engine._store_totals(card, engine.standards_of(card))


def test_the_street_records_a_quota_exception_and_finalisation_keeps_it(app, client, world):
    orgs, people, headers = world
    third = f.org("光明社区", "community", orgs["street"])
    db.session.commit()
    officer = load_actor(people["officer"].id)
    period = service.create_period(officer, name="名额例外", year=date.today().year, rubric_code="wuhua-2019",
                                   org_ids=[orgs["a"].id, orgs["b"].id, third.id])
    _all_full(period)
    db.session.commit()
    url = f"/api/v1/periods/{period.id}/scorecards/{orgs['b'].id}/quota-exception"
    reason = "经街道党委会研究，幸福社区党建示范点成效突出，报县委组织部备案"
    assert client.put(url, headers=headers["sec_b"], json={"reason": reason}).status_code == 403
    short = client.put(url, headers=headers["officer"], json={"reason": "好"})
    assert short.status_code == 422
    saved = client.put(url, headers=headers["officer"], json={"reason": reason})
    assert saved.status_code == 200 and saved.get_json()["quota_exception"] == reason

    overview = logged_in(app, "officer").get(f"/h5/rating/{period.id}").get_data(as_text=True)
    assert "五星名额 0 个：3 个组织 × 15% = 0.45，向下取整为 0（不足 1 个）" in overview
    assert "本次不设五星" in overview and reason in overview

    period = db.session.get(RatingPeriod, period.id)
    period.phase = "appeal"
    period.appeal_deadline = date.today() - timedelta(days=1)
    db.session.commit()
    service.advance(officer, period)
    db.session.commit()
    finals = {c.org_id: (c.final_stars, c.capped) for c in period.scorecards}
    # No five- or four-star place among three: the others drop to three stars, the excepted one keeps five.
    assert finals == {orgs["a"].id: (3, True), orgs["b"].id: (5, False), third.id: (3, True)}
    entries = db.session.scalars(sa.select(CampaignEntry).where(CampaignEntry.period_id == period.id)
                                 .order_by(CampaignEntry.seq)).all()
    assert any(e.kind == "quota_exception" and reason in e.body for e in entries)
    final_b = next(e for e in entries if e.kind == "final_result" and e.org_id == orgs["b"].id)
    assert reason in final_b.body
    after = client.delete(url, headers=headers["officer"], json={"reason": "定级后不能撤销"})
    assert after.status_code == 409 and after.get_json()["error"]["code"] == "phase_closed"

    book = load_workbook(io.BytesIO(client.get(f"/api/v1/periods/{period.id}/export.xlsx",
                                               headers=headers["officer"]).data))
    summary = {line[0]: line for line in book["汇总"].iter_rows(values_only=True)}
    assert summary[orgs["b"].name][-1] == reason and summary[orgs["a"].name][-1] is None


def test_a_quota_exception_can_be_withdrawn_with_a_reason(client, world):
    orgs, _, headers = world
    period = start(client, world)
    url = f"{card_url(period, orgs['a'])}/quota-exception"
    none = client.delete(url, headers=headers["officer"], json={"reason": "没有例外可撤销"})
    assert none.status_code == 409 and none.get_json()["error"]["code"] == "no_exception"
    client.put(url, headers=headers["officer"], json={"reason": "示范点，街道党委会研究同意"})
    gone = client.delete(url, headers=headers["officer"], json={"reason": "复核后不再例外"})
    assert gone.status_code == 200 and gone.get_json()["quota_exception"] is None
    kinds = [e["kind"] for e in client.get(f"/api/v1/periods/{period['id']}/ledger",
                                           headers=headers["officer"]).get_json()]
    assert kinds[-2:] == ["quota_exception", "quota_exception_removed"]
    grades = start(client, world, rubric="zhengxian-community")
    no_quota = client.put(f"{card_url(grades, orgs['a'])}/quota-exception", headers=headers["officer"],
                          json={"reason": "等级制不设名额"})
    assert no_quota.status_code == 409 and no_quota.get_json()["error"]["code"] == "no_quota"


def test_self_claimed_level_and_preliminary_opinion_beside_the_computed_one(app, client, world):
    orgs, _, headers = world
    period = start(client, world)
    url = card_url(period, orgs["a"])
    report = {"evaluation": "对照五化标准逐项自评", "problems": "联席会不够经常", "measures": "每季度固定召开",
              "next_steps": "争创五星"}
    missing = client.put(f"{url}/self-report", headers=headers["sec_a"], json=report)
    assert missing.status_code == 422 and missing.get_json()["error"]["code"] == "level_required"
    assert "claimed_stars" in missing.get_json()["error"]["fields"]
    bad = client.put(f"{url}/self-report", headers=headers["sec_a"], json={**report, "claimed_stars": 6})
    assert bad.status_code == 422
    saved = client.put(f"{url}/self-report", headers=headers["sec_a"], json={**report, "claimed_stars": 4})
    assert saved.status_code == 200 and saved.get_json()["claimed_stars"] == 4
    entry = client.get(f"/api/v1/periods/{period['id']}/ledger", headers=headers["officer"]).get_json()[-1]
    assert entry["kind"] == "self_report" and entry["data"]["claimed_stars"] == 4
    assert entry["data"]["computed"]["stars"] == 0
    page = logged_in(app, "sec_a").get(f"/h5/rating/{period['id']}/orgs/{orgs['a'].id}").get_data(as_text=True)
    assert "自我定级 四星" in page and "目前无星级" in page

    opinion = {"stars": 2, "opinion": "联席会记录不全，测评满意度一般，建议定为二星"}
    early = client.put(f"{url}/review-opinion", headers=headers["officer"], json=opinion)
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "phase_closed"
    client.post(f"/api/v1/periods/{period['id']}/advance", headers=headers["officer"],
                json={"from": "self_evaluation", "to": "review"})
    assert client.put(f"{url}/review-opinion", headers=headers["sec_a"], json=opinion).status_code == 403
    no_level = client.put(f"{url}/review-opinion", headers=headers["officer"], json={"opinion": opinion["opinion"]})
    assert no_level.status_code == 422 and "stars" in no_level.get_json()["error"]["fields"]
    given = client.put(f"{url}/review-opinion", headers=headers["officer"], json=opinion)
    assert given.status_code == 200 and (given.get_json()["review_stars"], given.get_json()["review_opinion"]) == (
        2, opinion["opinion"])
    entry = client.get(f"/api/v1/periods/{period['id']}/ledger", headers=headers["officer"]).get_json()[-1]
    assert entry["kind"] == "review_opinion" and entry["data"]["claimed"]["stars"] == 4
    officer = logged_in(app, "officer")
    overview = officer.get(f"/h5/rating/{period['id']}").get_data(as_text=True)
    assert "自评 四星 · 初评 二星" in overview and "1/2 个组织已填写" in overview

    book = load_workbook(io.BytesIO(client.get(f"/api/v1/periods/{period['id']}/export.xlsx",
                                               headers=headers["officer"]).data))
    summary = {line[0]: line for line in book["汇总"].iter_rows(values_only=True)}
    assert summary[orgs["a"].name][-4:-1] == ("四星", "二星", opinion["opinion"])

    # By the pages: the opinion form in review, and a grade rubric takes a grade.
    form = officer.get(f"/h5/rating/{period['id']}/orgs/{orgs['b'].id}/review-opinion")
    assert "拟定档次" in form.get_data(as_text=True)
    refused = officer.post(f"/h5/rating/{period['id']}/orgs/{orgs['b'].id}/review-opinion",
                           data={"csrf_token": csrf_from(form), "level": "", "opinion": "测评样本不足，暂定三星"})
    assert refused.status_code == 422 and "请选择星级" in refused.get_data(as_text=True)
    assert officer.post(f"/h5/rating/{period['id']}/orgs/{orgs['b'].id}/review-opinion",
                        data={"csrf_token": csrf_from(form), "level": "3", "opinion": "测评样本不足，暂定三星"}
                        ).status_code == 302
    grades = start(client, world, rubric="zhengxian-community")
    wrong = client.put(f"{card_url(grades, orgs['a'])}/self-report", headers=headers["sec_a"],
                       json={**report, "claimed_grade": "五星"})
    assert wrong.status_code == 422 and "claimed_grade" in wrong.get_json()["error"]["fields"]
    assert client.put(f"{card_url(grades, orgs['a'])}/self-report", headers=headers["sec_a"],
                      json={**report, "claimed_grade": "良好"}).get_json()["claimed_grade"] == "良好"
