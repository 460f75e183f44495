"""Star rating pages over HTTP: who sees which page, refusals that keep what was typed and
change nothing, manual scores by points or ticked deductions, the street's phase advance
and appeal decisions, the self-report, problem list and meetings record. The phone flow
itself is in tests/browser/test_rating_flow.py."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from backend.extensions import db
from backend.rating import service as rating_service
from backend.rating.models import CampaignEntry, Meeting, Problem
from tests import test_rating
from tests.test_csrf_session import csrf_from, h5_login
from tests.test_rating import card_url, start

world = test_rating.world   # the same street, communities and people as the rating API tests


def entries() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(CampaignEntry))


def page_of(period, org) -> str:
    return f"/h5/rating/{period['id']}/orgs/{org.id}"


def logged_in(app, username):
    phone = app.test_client()
    assert h5_login(phone, username).status_code == 302
    return phone


def criterion(client, world, period, org, code):
    card = client.get(card_url(period, org), headers=world[2]["officer"]).get_json()
    return card, next(c for c in card["criteria"] if c["code"] == code)


def test_each_person_sees_only_their_campaign_pages(app, client, world):
    orgs, _, _ = world
    secretary = logged_in(app, "sec_a")
    assert "还没有创评" in secretary.get("/h5/rating/").get_data(as_text=True)
    period = start(client, world)
    listed = secretary.get("/h5/rating/").get_data(as_text=True)
    assert orgs["a"].name in listed and orgs["b"].name not in listed
    # A secretary with one card goes straight to it from the campaign page.
    assert secretary.get(f"/h5/rating/{period['id']}").headers["Location"].endswith(page_of(period, orgs["a"]))
    assert secretary.get(page_of(period, orgs["a"])).status_code == 200
    assert secretary.get(page_of(period, orgs["b"])).status_code == 404   # not theirs: not even there
    assert secretary.get(f"/h5/rating/{period['id']}/appeals").status_code == 403
    assert secretary.get("/h5/rating/new").status_code == 403
    assert logged_in(app, "leader").get("/h5/rating/").status_code == 403
    assert app.test_client().get("/h5/rating/").headers["Location"].startswith("/h5/login")
    officer = logged_in(app, "officer")
    overview = officer.get(f"/h5/rating/{period['id']}").get_data(as_text=True)
    assert orgs["a"].name in overview and orgs["b"].name in overview and "进入下一阶段" in overview


def test_manual_score_form_refuses_then_saves_and_the_total_follows(app, client, world):
    orgs, _, _ = world
    period = start(client, world)
    secretary = logged_in(app, "sec_a")
    url = f"{page_of(period, orgs['a'])}/criteria/G1"
    form = secretary.get(url)
    before = entries()
    refused = secretary.post(url, data={"csrf_token": csrf_from(form), "points": "", "note": "架构图已上墙"})
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "请填写得分" in body and "架构图已上墙" in body
    too_many = secretary.post(url, data={"csrf_token": csrf_from(form), "points": "9", "note": "架构图已上墙"})
    assert too_many.status_code == 422 and "得分应在 0 到 5 之间" in too_many.get_data(as_text=True)
    assert entries() == before and criterion(client, world, period, orgs["a"], "G1")[1]["points"] == 0
    saved = secretary.post(url, data={"csrf_token": csrf_from(form), "points": "4.5", "note": "架构图已上墙",
                                      "evidence_url": "https://example.org/g1"})
    assert saved.status_code == 302 and saved.headers["Location"].endswith("#c-G1")
    card, g1 = criterion(client, world, period, orgs["a"], "G1")
    assert g1["points"] == 4.5 and g1["evidence_url"] == "https://example.org/g1"
    assert card["total"] == sum(c["points"] for c in card["criteria"]) and entries() == before + 1
    shown = secretary.get(page_of(period, orgs["a"])).get_data(as_text=True)
    assert "G1 已评分，总分已更新" in shown and "架构图已上墙" in shown
    # Computed criteria have no form.
    assert secretary.get(f"{page_of(period, orgs['a'])}/criteria/G3").status_code == 403


def test_deduction_ticks_give_the_points(app, client, world):
    orgs, _, _ = world
    period = start(client, world, rubric="zhengxian-community")
    secretary = logged_in(app, "sec_a")
    url = f"{page_of(period, orgs['a'])}/criteria/C1.1"
    form = secretary.get(url)
    assert "未进行摸底排查" in form.get_data(as_text=True)
    token = csrf_from(form)
    unknown = secretary.post(url, data={"csrf_token": token, "deductions": ["9"], "note": "摸底未做"})
    assert unknown.status_code == 422 and "扣分项不存在" in unknown.get_data(as_text=True)
    assert secretary.post(url, data={"csrf_token": token, "deductions": ["1", "2"], "note": "摸底和兜底管理都未做"}
                          ).status_code == 302
    assert criterion(client, world, period, orgs["a"], "C1.1")[1]["points"] == 0
    again = secretary.get(url).get_data(as_text=True)
    assert 'value="1" id="d-1" data-points="1" checked' in again
    # Ticking nothing is full points.
    assert secretary.post(url, data={"csrf_token": token, "note": "已补做摸底和兜底管理"}).status_code == 302
    row = criterion(client, world, period, orgs["a"], "C1.1")[1]
    assert row["points"] == 2 and row["deductions"] == []


def test_a_count_and_a_choice_on_the_deduction_page(app, client, world):
    orgs, _, _ = world
    period = start(client, world, rubric="zhengxian-community")
    secretary = logged_in(app, "sec_a")
    url = f"{page_of(period, orgs['a'])}/criteria/C5.1"
    form = secretary.get(url)
    shown = form.get_data(as_text=True)
    assert 'name="count-2"' in shown and 'max="6"' in shown and "每项扣 1 分，最多 6 项" in shown
    token = csrf_from(form)
    too_many = secretary.post(url, data={"csrf_token": token, "count-2": "7", "note": "大讲堂缺三项"})
    assert too_many.status_code == 422 and "最多计 6 项" in too_many.get_data(as_text=True)
    not_a_number = secretary.post(url, data={"csrf_token": token, "count-2": "三", "note": "大讲堂缺三项"})
    said = not_a_number.get_data(as_text=True)
    assert not_a_number.status_code == 422 and "大讲堂缺三项" in said
    assert '<p class="app-field-error" role="alert">应为整数' in said
    assert secretary.post(url, data={"csrf_token": token, "count-2": "3", "note": "大讲堂缺三项"}).status_code == 302
    assert criterion(client, world, period, orgs["a"], "C5.1")[1]["points"] == 2
    assert 'value="3" data-per="1"' in secretary.get(url).get_data(as_text=True)

    url = f"{page_of(period, orgs['a'])}/criteria/C3.2"
    shown = secretary.get(url).get_data(as_text=True)
    assert 'name="choice-1" value="" id="d-1-none" checked' in shown and "以下情况只选一种" in shown
    assert secretary.post(url, data={"csrf_token": token, "deductions": ["0"], "choice-1": "1",
                                     "note": "班子成员全年没有集中培训"}).status_code == 302
    row = criterion(client, world, period, orgs["a"], "C3.2")[1]
    assert row["points"] == 0 and row["deductions"] == [0, {"index": 1, "choice": 1}]
    assert 'value="1" id="d-1-1" data-points="2" checked' in secretary.get(url).get_data(as_text=True)
    # 无此情况 takes the alternative back.
    assert secretary.post(url, data={"csrf_token": token, "choice-1": "", "note": "已补训"}).status_code == 302
    assert criterion(client, world, period, orgs["a"], "C3.2")[1]["points"] == 3


def test_judged_points_beside_the_ticks_where_the_method_says_so(app, client, world):
    """C3.5: 未建立困难党员台账扣1分;未开展党内表彰活动扣1分,帮扶活动成效…酌情给分."""
    orgs, _, _ = world
    period = start(client, world, rubric="zhengxian-community")
    secretary = logged_in(app, "sec_a")
    assert 'name="points"' not in secretary.get(f"{page_of(period, orgs['a'])}/criteria/C1.1").get_data(as_text=True)
    url = f"{page_of(period, orgs['a'])}/criteria/C3.5"
    form = secretary.get(url)
    assert "酌情评定" in form.get_data(as_text=True)
    token = csrf_from(form)
    above = secretary.post(url, data={"csrf_token": token, "deductions": ["0"], "points": "2.5",
                                      "note": "帮扶记录不全"})
    assert above.status_code == 422 and "按所选扣分项最多 2 分" in above.get_data(as_text=True)
    assert secretary.post(url, data={"csrf_token": token, "deductions": ["0"], "points": "1.5",
                                     "note": "帮扶记录不全"}).status_code == 302
    row = criterion(client, world, period, orgs["a"], "C3.5")[1]
    assert row["points"] == 1.5 and row["deductions"] == [0] and row["inputs"] == {"by": "points"}
    assert 'value="1.5" placeholder="不填则按扣分项计算"' in secretary.get(url).get_data(as_text=True)
    # Left empty, the ticks decide again, and the box stays empty on the next visit.
    assert secretary.post(url, data={"csrf_token": token, "deductions": ["0"], "note": "帮扶活动正常"}
                          ).status_code == 302
    assert criterion(client, world, period, orgs["a"], "C3.5")[1]["points"] == 2
    assert 'value="" placeholder="不填则按扣分项计算"' in secretary.get(url).get_data(as_text=True)


def test_street_advances_by_page_and_a_stale_click_changes_nothing(app, client, world):
    orgs, _, _ = world
    period = start(client, world)
    officer = logged_in(app, "officer")
    page = officer.get(f"/h5/rating/{period['id']}")
    token = csrf_from(page)
    moved = officer.post(f"/h5/rating/{period['id']}/advance", data={"csrf_token": token, "to": "review"})
    assert moved.status_code == 302
    assert "已进入“街道初审”阶段" in officer.get(moved.headers["Location"]).get_data(as_text=True)
    stale = officer.post(f"/h5/rating/{period['id']}/advance", data={"csrf_token": token, "to": "review"})
    assert "当前阶段只能进入" in officer.get(stale.headers["Location"]).get_data(as_text=True)
    assert client.get(f"/api/v1/periods/{period['id']}", headers=world[2]["officer"]).get_json()["phase"] == "review"
    # Review is the street's: the secretary's form is closed, the officer's open.
    secretary = logged_in(app, "sec_a")
    assert secretary.get(f"{page_of(period, orgs['a'])}/criteria/G1").status_code == 403
    assert officer.get(f"{page_of(period, orgs['a'])}/criteria/G1").status_code == 200
    own_token = csrf_from(secretary.get(f"/h5/rating/orgs/{orgs['a'].id}/meetings"))
    assert secretary.post(f"/h5/rating/{period['id']}/advance", data={"csrf_token": own_token}).status_code == 403


def test_appeal_filed_by_page_and_accepted_with_a_score_change(app, client, world):
    orgs, _, _ = world
    period = start(client, world, to="appeal")
    secretary = logged_in(app, "sec_a")
    url = f"{page_of(period, orgs['a'])}/appeal"
    form = secretary.get(url)
    assert "提交申诉" in form.get_data(as_text=True)
    short = secretary.post(url, data={"csrf_token": csrf_from(form), "reasons": "不服"})
    assert short.status_code == 422 and "不服" in short.get_data(as_text=True)
    filed = secretary.post(url, data={"csrf_token": csrf_from(form), "reasons": "G1 四级架构已健全，见街道批复文件"})
    assert filed.status_code == 302
    after = secretary.get(url).get_data(as_text=True)
    assert "待处理" in after and "提交申诉" not in after   # one pending appeal at a time
    report = {"evaluation": "补交报告", "problems": "暂无问题", "measures": "暂无措施", "next_steps": "继续保持"}
    late = secretary.post(f"{page_of(period, orgs['a'])}/self-report", data={"csrf_token": csrf_from(form), **report})
    assert late.status_code == 409 and "只有自我评定阶段可以填写自我评价报告" in late.get_data(as_text=True)

    officer = logged_in(app, "officer")
    listing = officer.get(f"/h5/rating/{period['id']}/appeals")
    text = listing.get_data(as_text=True)
    assert "G1 四级架构已健全" in text
    appeal_id = client.get(f"/api/v1/periods/{period['id']}/appeals", headers=world[2]["officer"]).get_json()[0]["id"]
    no_note = officer.post(f"/h5/rating/appeals/{appeal_id}/decide",
                           data={"csrf_token": csrf_from(listing), "decision": "accept", "note": ""})
    assert "app-flash_warn" in officer.get(no_note.headers["Location"]).get_data(as_text=True)
    assert client.get(f"/api/v1/periods/{period['id']}/appeals", headers=world[2]["officer"]).get_json()[0][
        "status"] == "pending"
    half = officer.post(f"/h5/rating/appeals/{appeal_id}/decide", data={
        "csrf_token": csrf_from(listing), "decision": "accept", "note": "材料属实", "code": "G1", "points": ""})
    assert "改分请同时选择项目和填写分数" in officer.get(half.headers["Location"]).get_data(as_text=True)
    decided = officer.post(f"/h5/rating/appeals/{appeal_id}/decide", data={
        "csrf_token": csrf_from(listing), "decision": "accept", "note": "材料属实", "code": "G1", "points": "5"})
    assert "申诉处理完毕：已采纳" in officer.get(decided.headers["Location"]).get_data(as_text=True)
    assert criterion(client, world, period, orgs["a"], "G1")[1]["points"] == 5
    assert "已采纳" in secretary.get(url).get_data(as_text=True)


def test_self_report_problems_and_meetings_pages(app, client, world):
    orgs, _, _ = world
    period = start(client, world)
    secretary = logged_in(app, "sec_a")
    url = f"{page_of(period, orgs['a'])}/self-report"
    token = csrf_from(secretary.get(url))
    part = secretary.post(url, data={"csrf_token": token, "evaluation": "五项标准总体达标"})
    assert part.status_code == 422 and "五项标准总体达标" in part.get_data(as_text=True)
    full = {"evaluation": "五项标准总体达标", "problems": "服务智慧化不足", "measures": "上线预约",
            "next_steps": "扩大志愿队", "claimed": "3"}
    assert secretary.post(url, data={"csrf_token": token, **full}).status_code == 302
    assert "已提交" in secretary.get(page_of(period, orgs["a"])).get_data(as_text=True)

    problems_url = f"{page_of(period, orgs['a'])}/problems"
    token = csrf_from(secretary.get(problems_url))
    assert secretary.post(problems_url, data={"csrf_token": token, "problem": "智慧服务平台使用率低",
                                              "standard_code": "S", "owner": "李红梅"}).status_code == 302
    problem = db.session.scalar(sa.select(Problem))
    assert problem.owner == "李红梅" and problem.standard_code == "S"
    deadline = (date.today() + timedelta(days=60)).isoformat()
    secretary.post(f"/h5/rating/problems/{problem.id}", data={
        "csrf_token": token, "measure": "每周培训", "owner": "李红梅", "deadline": deadline, "status": "in_progress"})
    db.session.refresh(problem)
    assert problem.status == "in_progress" and problem.deadline.isoformat() == deadline
    other = logged_in(app, "sec_b")
    other_token = csrf_from(other.get(f"/h5/rating/orgs/{orgs['b'].id}/meetings"))
    assert other.post(f"/h5/rating/problems/{problem.id}",
                      data={"csrf_token": other_token, "status": "done"}).status_code == 404
    db.session.refresh(problem)
    assert problem.status == "in_progress"

    meetings_url = f"/h5/rating/orgs/{orgs['a'].id}/meetings"
    token = csrf_from(secretary.get(meetings_url))
    future = secretary.post(meetings_url, data={"csrf_token": token, "kind": "joint", "topic": "联席会议",
                                                "held_on": (rating_service.today() + timedelta(days=1)).isoformat(),
                                                "attendance": "10", "no_evidence_reason": "纪要待归档"})
    assert future.status_code == 422 and "会议日期不能晚于今天" in future.get_data(as_text=True)
    assert secretary.post(meetings_url, data={"csrf_token": token, "kind": "joint", "topic": "联席会议",
                                              "held_on": rating_service.today().isoformat(), "attendance": "10",
                                              "no_evidence_reason": "纪要待归档"}).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Meeting)) == 1
    assert criterion(client, world, period, orgs["a"], "R2")[1]["points"] > 0
    assert logged_in(app, "leader").get(meetings_url).status_code == 403


def test_a_party_group_meeting_recorded_by_page_moves_o2(app, client, world):
    orgs, _, _ = world
    period = start(client, world)
    secretary = logged_in(app, "sec_a")
    meetings_url = f"/h5/rating/orgs/{orgs['a'].id}/meetings"
    form = secretary.get(meetings_url)
    assert "党小组会每月1至2次" in form.get_data(as_text=True)
    assert secretary.post(meetings_url, data={"csrf_token": csrf_from(form), "kind": "group", "topic": "楼栋党小组学习",
                                              "held_on": rating_service.today().isoformat(), "attendance": "6",
                                              "no_evidence_reason": "会议记录本在党群服务中心"}
                          ).status_code == 302
    o2 = criterion(client, world, period, orgs["a"], "O2")[1]
    assert o2["inputs"]["required_meetings_share"]["kinds"]["group"]["met"] == 1 and o2["points"] > 0


def test_street_starts_a_campaign_by_page(app, client, world):
    orgs, _, _ = world
    officer = logged_in(app, "officer")
    form = officer.get("/h5/rating/new")
    text = form.get_data(as_text=True)
    assert orgs["a"].name in text and "村(社区)党组织创先争优活动评定标准" in text
    token = csrf_from(form)
    none_ticked = officer.post("/h5/rating/new", data={"csrf_token": token, "name": "2026年度创评",
                                                       "year": str(date.today().year), "rubric_code": "wuhua-2019"})
    assert none_ticked.status_code == 422 and "请选择参评社区" in none_ticked.get_data(as_text=True)
    made = officer.post("/h5/rating/new", data={"csrf_token": token, "name": "2026年度创评",
                                                "year": str(date.today().year), "rubric_code": "wuhua-2019",
                                                "org_ids": [str(orgs["a"].id), str(orgs["b"].id)]})
    assert made.status_code == 302
    overview = officer.get(made.headers["Location"]).get_data(as_text=True)
    assert "2026年度创评" in overview and "已发布" in overview


def test_a_stranger_on_any_staff_page_is_sent_to_log_in(app, world):
    stranger = app.test_client()
    for url in ("/h5/rating/", "/h5/rating/1/orgs/2", "/h5/polls", "/h5/teams", "/h5/orgs"):
        response = stranger.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/h5/login?next="), url
