"""Who is told what, in their inbox: campaign phases and appeals, party-member polls opening,
booking reminders. Each reminder is written once however often its job runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from backend.activities import service as activities
from backend.bookings import service as bookings
from backend.double_reports import service as reports
from backend.extensions import db
from backend.notifications import service as notifications
from backend.notifications.models import Notification
from backend.people.actors import load_actor
from backend.people.models import Person
from backend.polls import service as polls
from backend.rating import service as rating
from backend.services import service as services
from backend.wishes import service as wishes
from backend.wishes.models import Wish
from tests import factories as f
from tests.test_outbox import DAY, sms  # noqa: F401  (the fake SMS provider fixture)
from tests.test_rating import start, world  # noqa: F401  (the rating world fixture)
from tests.test_services import book, svc  # noqa: F401  (the service world fixture)
from tests.test_wishes import WISH, actor, submit, w  # noqa: F401  (the wish world fixture)


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
    bookings.sign_up(slot, volunteer.id, now=start_at - timedelta(days=3))
    db.session.commit()
    assert bookings.remind_upcoming(start_at - timedelta(days=2)) == 0
    assert bookings.remind_upcoming(start_at - timedelta(hours=23)) == 1
    assert bookings.remind_upcoming(start_at - timedelta(hours=20)) == 0
    assert bookings.remind_upcoming(start_at - timedelta(minutes=50)) == 1
    assert bookings.remind_upcoming(start_at - timedelta(minutes=10)) == 0
    kinds = [n.kind for n in told(volunteer)]
    assert kinds == ["booking_reminder", "booking_reminder_soon"]
    assert "明天开始" in told(volunteer)[0].message and "1 小时后开始" in told(volunteer)[1].message


# --- wishes: the grid's crew, the resident by SMS, the grid leader ----------------------------

def test_a_new_wish_reaches_the_grid_crew_and_progress_reaches_the_resident(app, client, w, sms):  # noqa: F811
    app.config["SMS_TEMPLATES"] = {"wish_claimed": "SMS_1", "wish_fulfilled": "SMS_2", "wish_confirm_reminder": "SMS_3"}
    volunteer = f.person("周小燕", username="vol", role="volunteer", org=w.orgs["a1"])
    body = submit(client, w, contact_phone="13812345678")
    wish = db.session.get(Wish, body["id"])
    assert [n.message for n in told(w.people["leader"], "wish_new")] == [f"第一网格新心愿：{wish.title}"]
    assert told(volunteer, "wish_new") and not told(w.people["leader_b"]) and not told(w.people["secretary"])

    wishes.claim(actor(w, "leader"), wish)
    wishes.fulfil(actor(w, "leader"), wish, "已联系物业更换灯泡")
    db.session.commit()
    resident = db.session.scalars(sa.select(Notification).where(Notification.person_id.is_(None))
                                  .order_by(Notification.id)).all()
    assert [n.kind for n in resident] == ["wish_claimed", "wish_fulfilled"]
    assert resident[1].message.endswith("已办好，请打开回执确认并评价")
    notifications.deliver_due(DAY)
    assert [m["phone"] for m in sms.delivered.values()] == ["13812345678", "13812345678"]

    fulfilled_at = wish.fulfilled_at
    days = app.config["WISH_AUTO_CONFIRM_DAYS"]
    assert wishes.remind_to_confirm(fulfilled_at + timedelta(days=days - 2)) == 0
    assert wishes.remind_to_confirm(fulfilled_at + timedelta(days=days - 1, minutes=1)) == 1
    assert wishes.remind_to_confirm(fulfilled_at + timedelta(days=days - 1, hours=2)) == 0


def test_a_wish_awaiting_review_reaches_its_reviewers_and_a_release_the_grid_leader(app, client, w):  # noqa: F811
    w.orgs["a"].wish_moderation = True
    db.session.commit()
    wish = db.session.get(Wish, submit(client, w)["id"])
    assert told(w.people["leader"], "wish_review") and told(w.people["secretary"], "wish_review")
    assert not told(w.people["member"], "wish_new")
    wishes.publish(actor(w, "leader"), wish)
    assert told(w.people["leader"], "wish_new")
    wishes.claim(actor(w, "member"), wish)
    wishes.release(actor(w, "member"), wish, "这周出差")
    db.session.commit()
    assert told(w.people["leader"], "wish_released")[0].message == f"心愿“{wish.title}”被退回待认领：这周出差"


def test_a_double_report_decision_reaches_the_party_member(app):
    orgs = f.tree()
    member = f.person("钱学军", username="dw", role="party_member", org=orgs["b"])
    secretary = f.person("李红梅", username="sec", role="secretary", org=orgs["a"])
    record = reports.report(member, orgs["a"], work_unit="区人民医院")
    reports.reject(record, secretary, "不住本社区")
    db.session.commit()
    assert told(member, "double_report_rejected")[0].message == "和平社区未通过您的双报到：不住本社区"
    again = reports.report(member, orgs["a"], work_unit="区人民医院", year=record.year + 1)
    reports.confirm(again, secretary)
    db.session.commit()
    assert told(member, "double_report_confirmed")[0].subject_id == again.id


def test_a_place_cancelled_by_the_organiser_is_told_to_the_volunteer(app, client):
    orgs = f.tree()
    volunteer = f.person("刘志刚", username="volunteer", role="volunteer", org=orgs["a1"])
    f.person("李红梅", username="sec", role="secretary", org=orgs["a"])
    start_at = datetime.now(UTC) + timedelta(days=3)
    officer = load_actor(f.person("周海", role="street_officer", org=orgs["street"]).id)
    activity = activities.create_activity(officer, {
        "org_id": orgs["a"].id, "title": "敬老院理发", "location": "活动室", "starts_at": start_at,
        "ends_at": start_at + timedelta(hours=2), "capacity": 5})
    own = bookings.sign_up(activity.slot, volunteer.id)
    db.session.commit()
    activities.cancel_by(load_actor(volunteer.id), own.id)
    assert not told(volunteer, "booking_cancelled")
    again = bookings.sign_up(activity.slot, volunteer.id)
    db.session.commit()
    cancelled = client.delete(f"/api/v1/signups/{again.id}", headers=f.login(client, "sec"))
    assert cancelled.status_code == 200
    assert told(volunteer, "booking_cancelled")[0].message.startswith("组织方取消了您在“敬老院理发”的报名")


def test_a_signed_in_resident_hears_of_their_wish_in_the_inbox_not_the_leader_who_wrote_one_down(
        app, client, w):  # noqa: F811
    resident = w.people["resident"]
    body = client.post("/api/v1/wishes", json={**WISH, "qr": w.qr}, headers=w.headers["resident"]).get_json()
    wish = db.session.get(Wish, body["id"])
    wishes.claim(actor(w, "leader"), wish)
    wishes.fulfil(actor(w, "leader"), wish, "已联系物业更换灯泡")
    db.session.commit()
    assert [(n.kind, n.subject_type) for n in told(resident)] == [
        ("wish_claimed", "resident_wish"), ("wish_fulfilled", "resident_wish")]
    assert notifications.link_of(told(resident)[0]) == f"/h5/me/wishes/{wish.id}"
    days = app.config["WISH_AUTO_CONFIRM_DAYS"]
    assert wishes.remind_to_confirm(wish.fulfilled_at + timedelta(days=days - 1, minutes=1)) == 1
    assert told(resident)[-1].kind == "wish_confirm_reminder"

    # a grid leader writing a wish down for a resident is not the resident
    leader = w.people["leader"]
    proxied = client.post("/api/v1/wishes", json={**WISH, "grid_id": w.orgs["a1"].id},
                          headers=w.headers["leader"]).get_json()
    assert proxied["channel"] == "staff_proxy"
    proxy = db.session.get(Wish, proxied["id"])
    wishes.claim(actor(w, "member"), proxy)
    db.session.commit()
    assert not told(leader, "wish_claimed")


def test_a_service_booking_is_reminded_the_day_before_in_the_inbox_and_by_sms(app, client, svc, sms):  # noqa: F811
    app.config["SMS_TEMPLATES"] = {"booking_reminder": "SMS_9"}
    orgs, headers, item, slot = svc
    volunteer = db.session.scalar(sa.select(Person).where(Person.username == "volunteer"))
    signed_in = client.post(f"/api/v1/slots/{slot['id']}/bookings", headers=headers["volunteer"],
                            json={"contact_name": "刘志刚", "consent": True})
    by_phone = book(client, slot["id"])
    assert signed_in.status_code == by_phone.status_code == 201
    starts = datetime.fromisoformat(slot["starts_at"])
    assert services.remind_upcoming(starts - timedelta(days=2)) == 0
    assert services.remind_upcoming(starts - timedelta(hours=20)) == 2
    assert services.remind_upcoming(starts - timedelta(hours=2)) == 0          # once each
    db.session.commit()
    [note] = told(volunteer, "booking_reminder")
    assert "老年人理发" in note.message and notifications.link_of(note) == (
        f"/h5/me/service-bookings/{note.subject_id}")
    notifications.deliver_due(DAY)   # a daytime hour after the booking (no SMS in the quiet hours)
    assert [m["phone"] for m in sms.delivered.values()] == ["13812345678"]
