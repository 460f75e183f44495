"""The volunteer's journey at the venue: check-out asks first and never before the start, an
organiser undoes a mistaken check-out in the hours book, a check-in page that is not open says
when it opens, cancelling is offered only before the cut-off, my hours one row per activity."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from backend.activities import service as activities
from backend.activities.models import CheckoutUndo
from backend.bookings import service as bookings
from backend.core.errors import Conflict, Forbidden, NotFound
from backend.extensions import db
from backend.hours import service as hours
from backend.hours.models import HoursEntry
from backend.notifications.models import Notification
from backend.people.actors import load_actor
from tests import factories as f
from tests.test_csrf_session import csrf_from, h5_login

START = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)


@pytest.fixture
def venue(app):
    orgs = f.tree()
    volunteer = f.person("刘志刚", username="volunteer", role="volunteer", org=orgs["a1"])
    secretary = f.person("李红梅", username="secretary", role="secretary", org=orgs["a"])
    f.person("林建军", username="other", role="secretary", org=orgs["b"])
    activity, code = f.activity(orgs["a"], START)
    db.session.commit()
    return orgs, activity, volunteer, secretary, code


def _at(activity, start_in: timedelta) -> None:
    """Move the activity so that it starts `start_in` from now."""
    activity.slot.starts_at = datetime.now(UTC) + start_in
    activity.slot.ends_at = activity.slot.starts_at + timedelta(hours=2)
    db.session.commit()


def test_check_out_before_the_start_is_refused_with_the_reason(app, venue):
    orgs, activity, volunteer, _, _ = venue
    bookings.sign_up(activity.slot, volunteer.id, START - timedelta(days=1))
    assert activities.scan(activity, volunteer, START - timedelta(minutes=20))[0] == "checked_in"
    with pytest.raises(Conflict) as caught:
        activities.scan(activity, volunteer, START - timedelta(minutes=19))
    assert caught.value.code == "checkout_before_start" and "开始后才能签退" in caught.value.message
    booking = activities.my_booking(activity, volunteer.id)
    assert booking.checked_out_at is None and booking.status == "attended"
    # a second tap on 签到 checks nobody out, even once the activity runs
    with pytest.raises(Conflict) as caught:
        activities.scan(activity, volunteer, START + timedelta(minutes=30), action="check_in")
    assert caught.value.code == "already_checked_in"
    assert activities.scan(activity, volunteer, START + timedelta(minutes=30), action="check_out")[0] == "checked_out"


def test_check_out_meant_before_checking_in_is_refused(app, venue):
    _, activity, volunteer, _, _ = venue
    bookings.sign_up(activity.slot, volunteer.id, START - timedelta(days=1))
    with pytest.raises(Conflict) as caught:
        activities.scan(activity, volunteer, START, action="check_out")
    assert caught.value.code == "not_checked_in"


def test_check_in_not_open_yet_says_when_it_opens(app, venue):
    _, activity, volunteer, _, _ = venue
    bookings.sign_up(activity.slot, volunteer.id, START - timedelta(days=1))
    with pytest.raises(Conflict) as caught:
        activities.scan(activity, volunteer, START - timedelta(hours=3))
    assert caught.value.code == "checkin_closed" and "12月05日 08:30 开始" in caught.value.message


def test_the_organiser_undoes_a_mistaken_check_out_in_the_hours_book(app, venue):
    orgs, activity, volunteer, secretary, _ = venue
    booking = bookings.sign_up(activity.slot, volunteer.id, START - timedelta(days=1))
    activities.scan(activity, volunteer, START)
    activities.scan(activity, volunteer, START + timedelta(minutes=90))
    db.session.commit()
    assert hours.balance("person", volunteer.id) == {"minutes": 90, "points": 15}

    undo = activities.undo_check_out(load_actor(secretary.id), booking.id, "点错了")
    db.session.commit()
    assert (undo.minutes, undo.points, undo.undone_by_id, undo.reason) == (90, 15, secretary.id, "点错了")
    assert activities.my_booking(activity, volunteer.id).checked_out_at is None
    assert hours.balance("person", volunteer.id) == {"minutes": 0, "points": 0}
    reversal = db.session.scalars(sa.select(HoursEntry).where(HoursEntry.source_type == "booking_undo")).all()
    assert {(e.account_kind, e.unit, e.amount) for e in reversal} == {
        ("person", "minutes", -90), ("org", "minutes", 90), ("person", "points", -15), ("org", "points", 15)}
    assert db.session.scalar(sa.select(Notification.message).where(Notification.kind == "checkout_undone"))

    # checked out again: credited once more, under the undo
    assert activities.scan(activity, volunteer, START + timedelta(minutes=110))[0] == "checked_out"
    db.session.commit()
    assert hours.balance("person", volunteer.id) == {"minutes": 110, "points": 18}
    assert hours.trial_balance() == {"minutes": 0, "points": 0}
    assert [(r["title"], r["minutes"], r["points"]) for r in activities.hours_by_activity(volunteer.id)] == [
        ("敬老院理发", 110, 18)]


def test_an_undo_needs_a_check_out_and_an_organiser(app, venue):
    orgs, activity, volunteer, secretary, _ = venue
    booking = bookings.sign_up(activity.slot, volunteer.id, START - timedelta(days=1))
    activities.scan(activity, volunteer, START)
    with pytest.raises(Conflict) as caught:
        activities.undo_check_out(load_actor(secretary.id), booking.id)
    assert caught.value.code == "not_checked_out"
    activities.scan(activity, volunteer, START + timedelta(minutes=5))
    db.session.commit()
    for who in (volunteer, f.person("王秀英", role="secretary", org=orgs["b"])):
        with pytest.raises((Forbidden, NotFound)):
            activities.undo_check_out(load_actor(who.id), booking.id)
    with pytest.raises(NotFound):
        activities.undo_check_out(load_actor(secretary.id), 999_999)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CheckoutUndo)) == 0


def test_undo_api(client, venue):
    orgs, activity, volunteer, secretary, code = venue
    _at(activity, timedelta(minutes=10))
    mine = f.login(client, "volunteer")
    booking = client.post(f"/api/v1/activities/{activity.id}/signups", headers=mine).get_json()
    _at(activity, timedelta(minutes=-10))
    assert client.post(f"/api/v1/activities/{activity.id}/checkin", json={"qr": code, "action": "check_in"},
                       headers=mine).get_json()["result"] == "checked_in"
    again = client.post(f"/api/v1/activities/{activity.id}/checkin", json={"qr": code, "action": "check_in"},
                        headers=mine)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_checked_in"
    assert client.post(f"/api/v1/activities/{activity.id}/checkin", json={"qr": code, "action": "check_out"},
                       headers=mine).get_json()["result"] == "checked_out"
    url = f"/api/v1/signups/{booking['id']}/checkout-undo"
    assert client.post(url, json={}, headers=mine).status_code == 403
    assert client.post(url, json={}, headers=f.login(client, "other")).status_code == 404
    done = client.post(url, json={"reason": "误点签退"}, headers=f.login(client, "secretary"))
    assert done.status_code == 201 and done.get_json()["reason"] == "误点签退"
    twice = client.post(url, json={}, headers=f.login(client, "secretary"))
    assert twice.status_code == 409 and twice.get_json()["error"]["code"] == "not_checked_out"


def test_check_in_page_before_it_opens_says_when_and_offers_sign_up(app, venue):
    orgs, activity, volunteer, _, code = venue
    _at(activity, timedelta(hours=5))
    phone = app.test_client()
    h5_login(phone, "volunteer")
    page = phone.get(f"/h5/a/{activity.id}/checkin", query_string={"qr": code}).get_data(as_text=True)
    assert "您还没有报名本活动" in page and ">报名</button>" in page
    signed = phone.post(f"/h5/activities/{activity.id}/signup", data={"csrf_token": csrf_from(phone.get(
        f"/h5/a/{activity.id}/checkin", query_string={"qr": code})), "qr": code})
    assert signed.headers["Location"] == f"/h5/a/{activity.id}/checkin?qr={code}"
    page = phone.get(signed.headers["Location"]).get_data(as_text=True)
    assert "签到 <strong>" in page and "开始（活动开始前 30 分钟）" in page
    assert 'value="check_in"' not in page and "签退" not in page


def test_check_out_asks_first_with_the_time_it_records(app, venue):
    _, activity, volunteer, _, code = venue
    _at(activity, timedelta(minutes=-60))
    phone = app.test_client()
    h5_login(phone, "volunteer")
    bookings.sign_up(activity.slot, volunteer.id, datetime.now(UTC) - timedelta(hours=2))
    db.session.commit()
    form = phone.get(f"/h5/a/{activity.id}/checkin", query_string={"qr": code})
    checked = phone.post(f"/h5/a/{activity.id}/checkin",
                         data={"csrf_token": csrf_from(form), "qr": code, "action": "check_in"})
    page = phone.get(checked.headers["Location"]).get_data(as_text=True)
    assert "签到成功" in page and 'value="check_out"' not in page  # 签退 is a link to a confirmation
    confirm = phone.get(f"/h5/a/{activity.id}/checkout", query_string={"qr": code}).get_data(as_text=True)
    now = datetime.now(UTC).astimezone(activities.format_local.__globals__["local_zone"]())
    assert "确认签退" in confirm and re.search(r"\d\d:\d\d（现在）", confirm)
    assert now.strftime("%H:") in confirm
    # a second tap on the check-in form checks nobody out
    again = phone.post(f"/h5/a/{activity.id}/checkin",
                       data={"csrf_token": csrf_from(form), "qr": code, "action": "check_in"})
    assert "无需重复签到" in phone.get(again.headers["Location"]).get_data(as_text=True)
    assert activities.my_booking(activity, volunteer.id).checked_out_at is None


def test_signed_out_scan_leads_to_the_volunteer_login(app, venue):
    _, activity, _, _, code = venue
    phone = app.test_client()
    scanned = phone.get(f"/h5/a/{activity.id}/checkin", query_string={"qr": code})
    assert scanned.status_code == 302 and "/h5/login" in scanned.headers["Location"]
    login = phone.get(scanned.headers["Location"]).get_data(as_text=True)
    assert "志愿者登录" in login and "工作人员登录" not in login
    assert "<h2 class=\"weui-form__title\">登录</h2>" in phone.get("/h5/login").get_data(as_text=True)


def test_cancel_is_offered_only_before_the_cut_off(app, venue):
    _, activity, volunteer, _, _ = venue
    _at(activity, timedelta(hours=5))
    bookings.sign_up(activity.slot, volunteer.id, datetime.now(UTC))
    db.session.commit()
    phone = app.test_client()
    h5_login(phone, "volunteer")
    page = phone.get(f"/h5/activities/{activity.id}").get_data(as_text=True)
    assert "取消报名</button>" in page
    _at(activity, timedelta(minutes=90))  # inside the 120-minute cut-off
    page = phone.get(f"/h5/activities/{activity.id}").get_data(as_text=True)
    assert "取消报名</button>" not in page
    closes = activity.slot.starts_at - timedelta(minutes=120)
    assert f"{activities.format_local(closes, '%m月%d日 %H:%M')} 前可以取消" in page
    assert "请联系活动组织方" in page


def test_my_hours_is_one_row_per_activity_dated_by_it(app, venue):
    orgs, activity, volunteer, _, _ = venue
    bookings.sign_up(activity.slot, volunteer.id, START - timedelta(days=1))
    activities.scan(activity, volunteer, START)
    activities.scan(activity, volunteer, START + timedelta(minutes=90))
    hours.post(person_id=volunteer.id, org_id=orgs["a"].id, source_type="wish", source_id=77, memo="微心愿：修水管",
               points=5)
    db.session.commit()
    rows = activities.hours_by_activity(volunteer.id)
    # the activity (next week) is dated by its day, not by when it was credited
    assert [(r["title"], r["minutes"], r["points"]) for r in rows] == [("敬老院理发", 90, 15), ("微心愿：修水管", 0, 5)]
    assert rows[0]["at"] == START
    phone = app.test_client()
    h5_login(phone, "volunteer")
    page = phone.get("/h5/me/hours").get_data(as_text=True)
    assert page.count("敬老院理发") == 1 and "1.5 小时<br>15 积分" in page and "2026年12月05日" in page
