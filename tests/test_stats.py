"""Micro-power and micro-service figures for the star rating, and the community leaderboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from backend.activities import service as activity_service
from backend.activities.models import Activity
from backend.bookings import service as bookings
from backend.bookings.models import Booking
from backend.double_reports import service as reports
from backend.extensions import db
from backend.people.actors import load_actor
from backend.services import service as services
from backend.teams.service import create_team
from backend.wishes import service as wishes
from tests import factories as f
from tests.test_csrf_session import h5_login

NOW = datetime.now(UTC)


def held_activity(org, title, attendees, *, hours=2, partner=None):
    """An activity that ended an hour ago, each attendee checked in at the start and credited."""
    start = NOW - timedelta(hours=hours + 1)
    slot = bookings.create_slot(org_id=org.id, starts_at=start, ends_at=start + timedelta(hours=hours), capacity=10)
    activity = Activity(org_id=org.id, slot_id=slot.id, title=title, location="活动室", partner_unit=partner)
    db.session.add(activity)
    db.session.flush()
    for person in attendees:
        booking = Booking(slot_id=slot.id, person_id=person.id, status="attended", checked_in_at=start)
        db.session.add(booking)
        db.session.flush()
        activity_service.check_out(activity, booking, slot.ends_at)
    db.session.commit()
    return activity


def fulfilled_wish(grid, claimant):
    wish = wishes.submit(grid=grid, title="帮忙修水龙头", content="厨房水龙头漏水", category="生活帮扶",
                         consent=True, contact_name="吴阿姨").wish
    db.session.commit()
    actor = load_actor(claimant.id)
    wishes.claim(actor, wish)
    wishes.fulfil(actor, wish, "已修好")
    db.session.commit()
    return wish


@pytest.fixture
def world(app, client):
    orgs = f.tree()
    orgs["unit"] = f.org("东湖医院", "unit", orgs["street"])
    p = {
        "secretary": f.person("李红梅", username="secretary", role="secretary", org=orgs["a"]),
        "leader": f.person("王建国", username="leader", role="grid_leader", org=orgs["a1"]),
        "party": f.person("张伟", username="party", role="party_member", org=orgs["a1"]),
        "volunteer": f.person("刘志刚", username="volunteer", role="volunteer", org=orgs["a2"]),
        "reporter": f.person("陈志远", role="party_member", org=orgs["unit"]),
        "unreported": f.person("马丽", is_party_member=True, is_in_service=True, home_community_id=orgs["a"].id),
        "far": f.person("赵强", role="volunteer", org=orgs["b1"]),
    }
    create_team(orgs["a"], name="红马甲志愿服务队", leader=p["leader"], grid=orgs["a1"])
    confirmed = reports.report(p["reporter"], orgs["a"], work_unit="东湖医院")
    reports.confirm(confirmed, p["secretary"])
    db.session.commit()
    held_activity(orgs["a"], "敬老院理发", [p["party"], p["volunteer"]], partner=orgs["unit"])
    held_activity(orgs["a"], "清理楼道", [p["volunteer"]], hours=1)
    held_activity(orgs["a"], "无人到场", [])
    held_activity(orgs["b"], "幸福义诊", [p["far"]], hours=3)
    item = services.create_item(load_actor(p["secretary"].id), {
        "org_id": orgs["a"].id, "name": "老年人理发", "category": "理发", "location": "活动室"})
    slot = services.add_slot(item, starts_at=NOW + timedelta(days=1), ends_at=NOW + timedelta(days=1, hours=2),
                             capacity=5)
    records = [services.book(slot, contact_name=name, contact_phone=None, consent=True).service_booking
               for name in ("吴阿姨", "王大爷", "未完成")]
    slot.slot.starts_at = NOW - timedelta(hours=1)   # booked ahead; the time has now begun
    db.session.flush()
    for record, rating in zip(records, (4, 5), strict=False):
        services.complete(record)
        services.rate(record, rating, None)
    fulfilled_wish(orgs["a2"], p["volunteer"])
    fulfilled_wish(orgs["a1"], p["party"])
    fulfilled_wish(orgs["a1"], p["party"])
    db.session.commit()
    return orgs, p, {name: f.login(client, name) for name in ("secretary", "party", "volunteer")}


def test_community_figures(client, world):
    orgs, p, headers = world
    stats = client.get(f"/api/v1/orgs/{orgs['a'].id}/micro-stats", headers=headers["secretary"])
    assert stats.status_code == 200, stats.get_json()
    body = stats.get_json()
    expected = {
        "activities_held": 2, "co_organised_activities": 1,
        "volunteer_hours": 5.0,  # 2 + 2 at the barber's visit, 1 on the stairs
        "party_members": 2, "party_member_hours": 2.0, "hours_per_party_member": 1.0,
        "in_service_party_members": 2, "double_reported": 1, "double_report_share": 0.5,
        "communities": 1, "teams": 1, "teams_per_community": 1.0, "grids": 2, "grids_staffed": 1,
        "service_bookings_delivered": 2, "service_ratings": 2, "mean_service_rating": 4.5,
    }
    assert {k: body[k] for k in expected} == expected


def test_a_delivery_marked_before_its_time_counts_for_nothing(client, world):
    """A booking marked delivered before its slot began (the rule refused nothing then) and
    rated 1: it used to count as delivered and pull the mean rating down to 3.33."""
    orgs, p, headers = world
    item = services.create_item(load_actor(p["secretary"].id), {
        "org_id": orgs["a"].id, "name": "家电维修", "category": "维修", "location": "活动室"})
    slot = services.add_slot(item, starts_at=NOW + timedelta(days=3), ends_at=NOW + timedelta(days=3, hours=1),
                             capacity=2)
    record = services.book(slot, contact_name="吴阿姨", contact_phone=None, consent=True).service_booking
    db.session.execute(sa.update(Booking).where(Booking.id == record.booking_id)
                       .values(status="attended", checked_in_at=NOW, rating=1))
    record.delivered_at = record.rated_at = NOW
    db.session.commit()
    body = client.get(f"/api/v1/orgs/{orgs['a'].id}/micro-stats", headers=headers["secretary"]).get_json()
    assert (body["service_bookings_delivered"], body["service_ratings"], body["mean_service_rating"]) == (2, 2, 4.5)


def test_street_adds_up_its_communities(client, world):
    orgs, p, headers = world
    officer = f.person("周海", username="officer", role="street_officer", org=orgs["street"])
    body = client.get(f"/api/v1/orgs/{orgs['street'].id}/micro-stats", headers=f.login(client, officer.username))
    body = body.get_json()
    assert body["activities_held"] == 3 and body["volunteer_hours"] == 8.0
    assert body["communities"] == 2 and body["teams_per_community"] == 0.5 and body["grids"] == 4


def test_period_outside_counts_nothing(client, world):
    orgs, p, headers = world
    body = client.get(f"/api/v1/orgs/{orgs['a'].id}/micro-stats?from=2020-01-01&to=2020-12-31",
                      headers=headers["secretary"]).get_json()
    assert body["activities_held"] == 0 and body["volunteer_hours"] == 0 and body["service_bookings_delivered"] == 0
    assert body["mean_service_rating"] is None and body["double_reported"] == 0


def test_figures_are_for_staff(client, world):
    orgs, p, headers = world
    assert client.get(f"/api/v1/orgs/{orgs['a'].id}/micro-stats", headers=headers["volunteer"]).status_code == 403
    assert client.get(f"/api/v1/orgs/{orgs['b'].id}/micro-stats", headers=headers["secretary"]).status_code == 404


def test_leaderboard_by_hours_and_by_wishes(client, world):
    orgs, p, headers = world
    url = f"/api/v1/orgs/{orgs['a'].id}/leaderboard"
    by_hours = client.get(url, headers=headers["secretary"]).get_json()
    assert [(r["rank"], r["name"], r["hours"], r["fulfilled_wishes"]) for r in by_hours] == [
        (1, "刘志刚", 3.0, 1), (2, "张伟", 2.0, 2)]
    by_wishes = client.get(f"{url}?by=wishes", headers=headers["secretary"]).get_json()
    assert [r["name"] for r in by_wishes] == ["张伟", "刘志刚"]
    # Volunteers see others masked and themselves in full; other communities' people never appear.
    seen = client.get(url, headers=headers["volunteer"]).get_json()
    assert [r["name"] for r in seen] == ["刘志刚", "张*"]
    assert client.get(f"{url}?by=claims", headers=headers["secretary"]).status_code == 422


def test_claimed_but_not_fulfilled_does_not_count(client, world):
    orgs, p, headers = world
    wish = wishes.submit(grid=orgs["a1"], title="陪同就医", content="需要人陪同去医院", category="医疗健康",
                         consent=True, contact_name="吴阿姨").wish
    db.session.commit()
    wishes.claim(load_actor(p["leader"].id), wish)
    db.session.commit()
    board = client.get(f"/api/v1/orgs/{orgs['a'].id}/leaderboard?by=wishes", headers=headers["secretary"]).get_json()
    assert "王建国" not in {r["name"] for r in board}


def test_equal_figures_share_a_rank(client, world):
    orgs, p, headers = world
    held_activity(orgs["a"], "植树", [p["party"]], hours=1)
    board = client.get(f"/api/v1/orgs/{orgs['a'].id}/leaderboard", headers=headers["secretary"]).get_json()
    assert [(r["rank"], r["hours"]) for r in board] == [(1, 3.0), (2, 3.0)]
    ties = client.get(f"/api/v1/orgs/{orgs['a'].id}/leaderboard?by=wishes", headers=headers["secretary"]).get_json()
    assert [(r["name"], r["rank"]) for r in ties] == [("张伟", 1), ("刘志刚", 2)]


def test_the_leaderboard_page_masks_names_like_the_api(client, world):
    orgs, p, headers = world
    api = client.get(f"/api/v1/orgs/{orgs['a'].id}/leaderboard", headers=headers["volunteer"]).get_json()
    h5_login(client, "volunteer")
    page = client.get(f"/h5/orgs/{orgs['a'].id}/leaderboard").get_data(as_text=True)
    board = page.split('data-testid="leaderboard"')[1]
    assert [r["name"] for r in api] == ["刘志刚", "张*"]
    assert "刘志刚" in board and "张*" in board and "张伟" not in board
    assert client.get(f"/h5/orgs/{orgs['b'].id}/leaderboard").status_code == 404
    assert client.get(f"/api/v1/orgs/{orgs['b'].id}/leaderboard", headers=headers["volunteer"]).status_code == 404
