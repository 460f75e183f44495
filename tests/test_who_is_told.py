"""Who is told what, in their inbox: campaign phases and appeals, party-member polls opening,
booking reminders. Each reminder is written once however often its job runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from backend.bookings import service as bookings
from backend.extensions import db
from backend.notifications.models import Notification
from backend.polls import service as polls
from backend.rating import service as rating
from tests import factories as f
from tests.test_rating import start, world  # noqa: F401  (the rating world fixture)


def told(person, kind: str | None = None) -> list[Notification]:
    stmt = sa.select(Notification).where(Notification.person_id == person.id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    return list(db.session.scalars(stmt.order_by(Notification.id)))


def test_campaign_phases_and_appeals_reach_secretaries_and_the_street(app, client, world):  # noqa: F811
    orgs, people, headers = world
    period = start(client, world, to="appeal")
    phases = [n.message for n in told(people["sec_a"], "period_phase")]
    assert phases[0].endswith("已进入“自我评定”阶段") and phases[-1].endswith("已进入“结果反馈与申诉”阶段")
    assert len(told(people["sec_b"], "period_phase")) == len(phases) and not told(people["officer"], "period_phase")
    assert told(people["sec_a"], "period_phase")[-1].subject_id == period["id"]
    assert not told(people["leader"])

    filed = client.post(f"/api/v1/periods/{period['id']}/scorecards/{orgs['a'].id}/appeals", headers=headers["sec_a"],
                        json={"reasons": "组织生活记录漏计两次"})
    assert filed.status_code == 201
    assert [n.message for n in told(people["officer"], "appeal_filed")] == [
        "和平社区对2026 年度星级党组织创评的结果提出申诉，请在申诉期内处理"]
    decided = client.post(f"/api/v1/appeals/{filed.get_json()['id']}/decide", headers=headers["officer"],
                          json={"decision": "reject", "note": "记录已核实，无遗漏"})
    assert decided.status_code == 200
    assert [n.message for n in told(people["sec_a"], "appeal_decided")] == [
        "您对2026 年度星级党组织创评的申诉未采纳：记录已核实，无遗漏"]
    assert not told(people["sec_b"], "appeal_decided")


def test_appeal_deadline_warning_three_working_days_ahead_once(app, client, world):  # noqa: F811
    orgs, people, headers = world
    period = start(client, world, to="appeal")
    deadline = datetime.fromisoformat(period["appeal_deadline"]).replace(tzinfo=UTC)
    assert rating.remind_appeal_deadlines(deadline - timedelta(days=10)) == 0
    warn = deadline - timedelta(days=1)
    assert rating.remind_appeal_deadlines(warn) == 2
    assert rating.remind_appeal_deadlines(warn) == 0
    assert "申诉期将于" in told(people["sec_a"], "appeal_deadline")[0].message


def test_a_party_member_poll_opening_reaches_its_members_once(app):
    orgs = f.tree()
    member = f.person("张伟", username="member", role="party_member", org=orgs["a1"])
    outsider = f.person("赵强", username="outsider", role="party_member", org=orgs["b1"])
    resident = f.person("吴阿姨", username="resident", role="resident", org=orgs["a2"])
    now = datetime.now(UTC)
    body = {"title": "党员对社区班子的评价", "audience": "party_member", "opens_at": now + timedelta(hours=1),
            "closes_at": now + timedelta(days=3), "questions": [{"text": "总体评价", "kind": "rating5"}]}
    party = polls.create_poll(orgs["a"], body)
    polls.create_poll(orgs["a"], {**body, "title": "群众满意度", "audience": "mass"})
    db.session.commit()
    assert polls.announce_open(now) == 0
    assert polls.announce_open(now + timedelta(hours=2)) == 1
    assert polls.announce_open(now + timedelta(hours=3)) == 0
    db.session.commit()
    note, = told(member, "poll_opened")
    assert note.subject_id == party.id and note.message.startswith("党员对社区班子的评价已开始")
    assert not told(outsider) and not told(resident)


def test_booking_reminders_a_day_and_an_hour_before_once_each(app):
    orgs = f.tree()
    volunteer = f.person("刘志刚", username="volunteer", role="volunteer", org=orgs["a1"])
    start_at = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
    slot = bookings.create_slot(org_id=orgs["a"].id, starts_at=start_at, ends_at=start_at + timedelta(hours=2),
                                capacity=5)
    bookings.sign_up(slot, volunteer, now=start_at - timedelta(days=3))
    db.session.commit()
    assert bookings.remind_upcoming(start_at - timedelta(days=2)) == 0
    assert bookings.remind_upcoming(start_at - timedelta(hours=23)) == 1
    assert bookings.remind_upcoming(start_at - timedelta(hours=20)) == 0
    assert bookings.remind_upcoming(start_at - timedelta(minutes=50)) == 1
    assert bookings.remind_upcoming(start_at - timedelta(minutes=10)) == 0
    kinds = [n.kind for n in told(volunteer)]
    assert kinds == ["booking_reminder", "booking_reminder_soon"]
    assert "明天开始" in told(volunteer)[0].message and "1 小时后开始" in told(volunteer)[1].message
