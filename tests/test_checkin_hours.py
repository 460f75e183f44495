"""Check-in by venue QR, hours and points credited through the double-entry ledger."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.activities import service as activities
from backend.activities.models import Activity
from backend.bookings import service as bookings
from backend.core.errors import Conflict
from backend.extensions import db
from backend.hours import service as hours
from backend.hours.models import HoursEntry
from backend.people.actors import load_actor
from backend.people.models import Person
from backend.qrcodes.service import create_code
from backend.wishes import service as wishes
from tests import factories as f
from tests.test_csrf_session import h5_login

START = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)


@pytest.fixture
def setup(app):
    orgs = f.tree()
    volunteer = f.person("刘志刚", username="volunteer", role="volunteer", org=orgs["a1"])
    member = f.person("陈淑芬", username="member", role="party_member", org=orgs["a"])
    f.person("李红梅", username="secretary", role="secretary", org=orgs["a"])
    f.person("林建军", username="other", role="party_member", org=orgs["b"])
    activity, code = f.activity(orgs["a"], START)
    db.session.commit()
    return orgs, activity, volunteer, member, code


def test_check_in_window_then_out_credits_capped_time(app, setup):
    orgs, activity, volunteer, member, _ = setup
    bookings.sign_up(activity.slot, volunteer.id, START - timedelta(days=1))
    with pytest.raises(Conflict) as caught:
        activities.scan(activity, volunteer, START - timedelta(minutes=31))
    assert caught.value.code == "checkin_closed"
    result, booking = activities.scan(activity, volunteer, START - timedelta(minutes=20))
    assert result == "checked_in" and booking.status == "attended"
    result, booking = activities.scan(activity, volunteer, START + timedelta(minutes=90))
    assert result == "checked_out"
    db.session.commit()
    # counted from the start, not from the early arrival; volunteers earn 10 points an hour
    assert hours.balance("person", volunteer.id) == {"minutes": 90, "points": 15}
    assert hours.balance("org", orgs["a"].id) == {"minutes": -90, "points": -15}
    with pytest.raises(Conflict) as caught:
        activities.scan(activity, volunteer, START + timedelta(minutes=100))
    assert caught.value.code == "already_checked_out"
    with pytest.raises(Conflict) as caught:
        activities.scan(activity, member, START)
    assert caught.value.code == "not_signed_up"
    with pytest.raises(Conflict) as caught:
        activities.scan(activity, volunteer, START + timedelta(hours=2, seconds=1))
    assert caught.value.code == "checkin_closed"


def test_party_member_rate_and_automatic_check_out_at_the_end(app, setup):
    orgs, activity, volunteer, member, _ = setup
    bookings.sign_up(activity.slot, member.id, START - timedelta(days=1))
    activities.scan(activity, member, START + timedelta(minutes=30))
    db.session.commit()
    assert activities.auto_check_out(START + timedelta(hours=1)) == 0  # not over yet
    assert activities.auto_check_out(START + timedelta(hours=3)) == 1
    db.session.commit()
    assert hours.balance("person", member.id) == {"minutes": 90, "points": 18}  # 12 points an hour
    assert activities.auto_check_out(START + timedelta(hours=4)) == 0


def test_confirmed_wish_credits_its_claimant_once(app, client, setup):
    orgs, activity, volunteer, member, _ = setup

    grid = orgs["a1"]
    made = wishes.submit(grid=grid, title="楼道灯坏了", content="3号楼灯不亮", category="环境改善", consent=True)
    wishes.claim(load_actor(member.id), made.wish)
    wishes.fulfil(load_actor(member.id), made.wish, "已更换")
    wishes.confirm(made.wish, 5)
    db.session.commit()
    assert hours.balance("person", member.id) == {"minutes": 0, "points": app.config["WISH_POINTS"]}
    with pytest.raises(Conflict):
        hours.post(person_id=member.id, org_id=orgs["a"].id, source_type="wish", source_id=made.wish.id,
                    memo="again", points=5)
    db.session.rollback()


def test_checkin_and_hours_api(client, setup):
    orgs, activity, volunteer, member, code = setup
    headers = f.login(client, "volunteer")
    activity.slot.starts_at = datetime.now(UTC) + timedelta(minutes=10)
    activity.slot.ends_at = activity.slot.starts_at + timedelta(hours=2)
    db.session.commit()
    assert client.post(f"/api/v1/activities/{activity.id}/signups", headers=headers).status_code == 201
    wrong = client.post(f"/api/v1/activities/{activity.id}/checkin", json={"qr": "nope"}, headers=headers)
    assert wrong.status_code == 404
    done = client.post(f"/api/v1/activities/{activity.id}/checkin", json={"qr": code}, headers=headers)
    assert done.status_code == 200 and done.get_json()["result"] == "checked_in"
    hours = client.get(f"/api/v1/people/{volunteer.id}/hours", headers=headers).get_json()
    assert hours["minutes"] == 0 and hours["entries"] == []
    assert client.get(f"/api/v1/people/{volunteer.id}/hours", headers=f.login(client, "other")).status_code == 404
    scan_url = client.get(f"/q/{code}").headers["Location"]
    assert scan_url == f"/h5/a/{activity.id}/checkin?qr={code}"


def test_a_code_made_for_something_else_is_refused_alike_by_api_and_page(app, client, setup):
    """Another activity's venue code (or a building's) checks nobody in, by either face: 422
    wrong_code, where the page used to answer 404 and the API 422."""
    orgs, activity, volunteer, member, code = setup
    _, foreign = f.activity(orgs["a"], START, hours=1, title="另一场活动", location="活动室")
    building = create_code("wish", orgs["a1"].id, orgs["a1"], None).code
    db.session.commit()
    headers = f.login(client, "volunteer")
    phone = app.test_client()
    h5_login(phone, "volunteer")
    for wrong in (foreign, building):
        refused = client.post(f"/api/v1/activities/{activity.id}/checkin", json={"qr": wrong}, headers=headers)
        assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "wrong_code"
        page = phone.get(f"/h5/a/{activity.id}/checkin", query_string={"qr": wrong})
        assert page.status_code == 422 and "这不是本活动的签到码" in page.get_data(as_text=True)
    assert phone.get(f"/h5/a/{activity.id}/checkin", query_string={"qr": code}).status_code == 200


# --- the ledger always balances ----------------------------------------------------------------

operation = st.one_of(
    st.tuples(st.just("sign_up"), st.integers(0, 2), st.integers(0, 1)),
    st.tuples(st.just("scan"), st.integers(0, 2), st.integers(0, 1), st.integers(-40, 150)),
    st.tuples(st.just("cancel"), st.integers(0, 2), st.integers(0, 1)),
    st.tuples(st.just("auto"), st.integers(0, 300)),
    st.tuples(st.just("wish_points"), st.integers(0, 2), st.integers(1, 20)),
    st.tuples(st.just("undo"), st.integers(0, 2), st.integers(0, 1)),
)
_wish_ids = itertools.count(1)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, max_size=25))
def test_balances_sum_to_zero_after_any_sequence(app, setup, ops):
    orgs, first, volunteer, member, _ = setup
    secretary = db.session.scalar(sa.select(Person).where(Person.name == "李红梅"))
    extra = f.person("高志伟", role="party_member", org=orgs["a"])
    slot = bookings.create_slot(org_id=orgs["a"].id, starts_at=START + timedelta(hours=1),
                                ends_at=START + timedelta(hours=2), capacity=1)
    second = Activity(org_id=orgs["a"].id, slot_id=slot.id, title="垃圾分类宣传", location="和平广场")
    db.session.add(second)
    db.session.flush()
    people, acts = [volunteer, member, extra], [first, second]
    for op in ops:
        try:
            if op[0] == "sign_up":
                bookings.sign_up(acts[op[2]].slot, people[op[1]].id, START - timedelta(days=1))
            elif op[0] == "scan":
                activities.scan(acts[op[2]], people[op[1]], START + timedelta(minutes=op[3]))
            elif op[0] == "cancel":
                booking = db.session.scalar(sa.select(bookings.Booking).where(
                    bookings.Booking.person_id == people[op[1]].id,
                    bookings.Booking.slot_id == acts[op[2]].slot_id, bookings.Booking.status.in_(bookings.ACTIVE)))
                if booking is not None:
                    bookings.cancel(booking, START - timedelta(days=1))
            elif op[0] == "undo":
                booking = activities.my_booking(acts[op[2]], people[op[1]].id)
                if booking is not None:
                    activities.undo_check_out(load_actor(secretary.id), booking.id)
            elif op[0] == "auto":
                activities.auto_check_out(START + timedelta(minutes=op[1]))
            else:
                hours.post(person_id=people[op[1]].id, org_id=orgs["a"].id, source_type="wish",
                            source_id=next(_wish_ids) + 10_000, memo="微心愿", points=op[2])
        except Conflict:
            pass
    db.session.flush()
    assert hours.trial_balance() == {"minutes": 0, "points": 0}
    for entry_txn in db.session.scalars(sa.select(HoursEntry.txn_id).distinct()):
        per_unit = db.session.execute(sa.select(HoursEntry.unit, sa.func.sum(HoursEntry.amount))
                                      .where(HoursEntry.txn_id == entry_txn).group_by(HoursEntry.unit)).all()
        assert all(total == 0 for _, total in per_unit)
    accounts = db.session.execute(sa.select(HoursEntry.account_kind, HoursEntry.account_id).distinct()).all()
    totals = [hours.balance(kind, account) for kind, account in accounts]
    assert sum(t["minutes"] for t in totals) == 0 and sum(t["points"] for t in totals) == 0
    for person in people:
        minutes = sum(e.amount for e in db.session.scalars(hours.entries("person", person.id)) if e.unit == "minutes")
        assert hours.balance("person", person.id)["minutes"] == minutes
        assert 0 <= minutes <= 60 * 3  # never more than the slots' lengths, undos netted
    db.session.rollback()
