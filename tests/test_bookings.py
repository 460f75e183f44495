"""The booking engine's rules: capacity, waitlist order, overlap, windows, cut-off, no-shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from backend.bookings import service
from backend.bookings.models import Booking, Slot
from backend.core.errors import Conflict
from backend.core.timeutil import local_zone
from backend.extensions import db
from backend.notifications.models import Notification
from tests import factories as f

START = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
BEFORE = START - timedelta(days=2)


@pytest.fixture
def community(app):
    return f.tree()["a"]


def slot(community, *, capacity=2, waitlist=True, start=START, hours=2, **extra) -> Slot:
    made = service.create_slot(org_id=community.id, starts_at=start, ends_at=start + timedelta(hours=hours),
                               capacity=capacity, waitlist=waitlist, **extra)
    db.session.commit()
    return made


def people(n):
    return [f.person(f"志愿者{i}") for i in range(n)]


def statuses(s: Slot) -> list[str]:
    return db.session.scalars(sa.select(Booking.status).where(Booking.slot_id == s.id).order_by(Booking.id)).all()


def test_capacity_then_waitlist(community):
    s = slot(community, capacity=2)
    for p in people(4):
        service.sign_up(s, p.id, BEFORE)
    db.session.commit()
    assert statuses(s) == ["confirmed", "confirmed", "waitlisted", "waitlisted"]
    assert s.confirmed_count == 2 and s.places_left == 0


def test_full_without_waitlist(community):
    s = slot(community, capacity=1, waitlist=False)
    a, b = people(2)
    service.sign_up(s, a.id, BEFORE)
    with pytest.raises(Conflict) as caught:
        service.sign_up(s, b.id, BEFORE)
    assert caught.value.code == "full"
    db.session.commit()
    assert statuses(s) == ["confirmed"]


def test_cancel_promotes_the_first_waitlisted_and_tells_them(community):
    s = slot(community, capacity=1)
    first, second, third = people(3)
    booked = service.sign_up(s, first.id, BEFORE)
    service.sign_up(s, second.id, BEFORE)
    service.sign_up(s, third.id, BEFORE)
    promoted = service.cancel(booked, BEFORE)
    db.session.commit()
    assert promoted.person_id == second.id
    assert statuses(s) == ["cancelled", "confirmed", "waitlisted"]
    assert s.confirmed_count == 1
    note = db.session.scalar(sa.select(Notification).where(Notification.kind == "booking_promoted"))
    assert note.person_id == second.id and "候补成功" in note.message


def test_cancelling_a_waitlisted_booking_promotes_nobody(community):
    s = slot(community, capacity=1)
    a, b, c = people(3)
    service.sign_up(s, a.id, BEFORE)
    waiting = service.sign_up(s, b.id, BEFORE)
    service.sign_up(s, c.id, BEFORE)
    assert service.cancel(waiting, START) is None  # no cut-off for leaving the queue
    db.session.commit()
    assert statuses(s) == ["confirmed", "cancelled", "waitlisted"]


def test_one_active_booking_per_person_but_rebooking_after_cancel(community):
    s = slot(community)
    (p,) = people(1)
    booking = service.sign_up(s, p.id, BEFORE)
    with pytest.raises(Conflict) as caught:
        service.sign_up(s, p.id, BEFORE)
    assert caught.value.code == "duplicate"
    service.cancel(booking, BEFORE)
    assert service.sign_up(s, p.id, BEFORE).status == "confirmed"


def test_overlapping_confirmed_bookings_are_refused(community):
    morning = slot(community, start=START, hours=2)
    overlapping = slot(community, start=START + timedelta(hours=1), hours=2)
    afterwards = slot(community, start=START + timedelta(hours=2), hours=1)
    (p,) = people(1)
    service.sign_up(morning, p.id, BEFORE)
    with pytest.raises(Conflict) as caught:
        service.sign_up(overlapping, p.id, BEFORE)
    assert caught.value.code == "overlap"
    assert service.sign_up(afterwards, p.id, BEFORE).status == "confirmed"  # touching is not overlapping


def test_sign_up_window(community):
    s = slot(community, signup_opens_at=START - timedelta(days=1), signup_closes_at=START - timedelta(hours=12))
    (p,) = people(1)
    for when, code in ((START - timedelta(days=2), "signup_not_open"), (START - timedelta(hours=12), "signup_closed")):
        with pytest.raises(Conflict) as caught:
            service.sign_up(s, p.id, when)
        assert caught.value.code == code
    assert service.sign_up(s, p.id, START - timedelta(hours=13)).status == "confirmed"
    default = slot(community, start=START + timedelta(days=1))
    with pytest.raises(Conflict) as caught:
        service.sign_up(default, p.id, default.starts_at)
    assert caught.value.code == "signup_closed"


def test_cancellation_cut_off(community):
    s = slot(community, cancel_cutoff_minutes=120)
    a, b = people(2)
    late = service.sign_up(s, a.id, BEFORE)
    with pytest.raises(Conflict) as caught:
        service.cancel(late, START - timedelta(minutes=119))
    assert caught.value.code == "cancel_closed"
    early = service.sign_up(s, b.id, BEFORE)
    assert service.cancel(early, START - timedelta(minutes=120)) is None


def test_no_shows_and_the_block(app, community):
    app.config.update(NO_SHOW_LIMIT=2, NO_SHOW_WINDOW_DAYS=90, NO_SHOW_BLOCK_DAYS=30)
    (p,) = people(1)
    first = slot(community, start=START)
    second = slot(community, start=START + timedelta(days=7))
    service.sign_up(first, p.id, BEFORE)
    service.sign_up(second, p.id, BEFORE)
    assert service.mark_no_shows(START + timedelta(days=1)) == 1  # only the first has ended
    db.session.commit()
    assert service.blocked_until(p.id, START + timedelta(days=1)) is None
    assert service.mark_no_shows(START + timedelta(days=8)) == 1
    db.session.commit()
    assert statuses(first) == ["no_show"] and statuses(second) == ["no_show"]
    later = slot(community, start=START + timedelta(days=20))
    with pytest.raises(Conflict) as caught:
        service.sign_up(later, p.id, START + timedelta(days=9))
    assert caught.value.code == "blocked" and "前暂不能报名" in caught.value.message
    until = service.blocked_until(p.id, START + timedelta(days=9))
    assert until == second.ends_at + timedelta(days=30)
    assert service.blocked_until(p.id, until + timedelta(seconds=1)) is None


def test_capacity_is_guarded_by_the_database(community):
    s = slot(community, capacity=1)
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.update(Slot).where(Slot.id == s.id).values(confirmed_count=2))
        db.session.flush()
    db.session.rollback()


# --- through the API -----------------------------------------------------------------------

@pytest.fixture
def api(app, client):
    orgs = f.tree()
    f.person("李红梅", username="secretary", role="secretary", org=orgs["a"])
    f.person("刘志刚", username="volunteer", role="volunteer", org=orgs["a1"])
    f.person("马春花", username="resident", role="resident", org=orgs["a1"])
    f.person("林建军", username="other", role="party_member", org=orgs["b"])
    headers = {u: f.login(client, u) for u in ("secretary", "volunteer", "resident", "other")}
    return orgs, headers


def new_activity(client, orgs, headers, **extra):
    start = datetime.now(UTC) + timedelta(days=3)
    body = {"org_id": orgs["a"].id, "title": "敬老院理发", "location": "和平社区活动室",
            "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(),
            "capacity": 1, "waitlist": True, "skills": "理发", **extra}
    response = client.post("/api/v1/activities", json=body, headers=headers["secretary"])
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_activity_sign_up_and_cancel_api(client, api):
    orgs, headers = api
    activity = new_activity(client, orgs, headers)
    assert activity["places_left"] == 1 and activity["org_name"] == "和平社区"
    listed = client.get("/api/v1/activities?skill=理发", headers=headers["volunteer"]).get_json()
    assert [a["id"] for a in listed["items"]] == [activity["id"]]
    mine = client.post(f"/api/v1/activities/{activity['id']}/signups", headers=headers["volunteer"])
    assert mine.status_code == 201 and mine.get_json()["status"] == "confirmed"
    again = client.post(f"/api/v1/activities/{activity['id']}/signups", headers=headers["volunteer"])
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "duplicate"
    waiting = client.post(f"/api/v1/activities/{activity['id']}/signups", headers=headers["secretary"])
    assert waiting.get_json()["status"] == "waitlisted"
    assert client.delete(f"/api/v1/signups/{mine.get_json()['id']}", headers=headers["other"]).status_code == 404
    cancelled = client.delete(f"/api/v1/signups/{mine.get_json()['id']}", headers=headers["volunteer"])
    assert cancelled.status_code == 200
    assert cancelled.get_json()["booking"]["status"] == "cancelled"
    assert cancelled.get_json()["promoted"]["id"] == waiting.get_json()["id"]


def test_activity_list_filters_and_pages(client, api):
    """The list's filters bind their values: a skill's % and _ match themselves, a day is the
    local day, a second page is counted; one activity reads the same as it does in the list."""
    orgs, headers = api
    plain = new_activity(client, orgs, headers, skills="理发", title="周三理发")
    odd = new_activity(client, orgs, headers, skills="100%_理发", title="百分理发")
    later = new_activity(client, orgs, headers, skills="剪纸", title="周末剪纸",
                         starts_at=(datetime.now(UTC) + timedelta(days=9)).isoformat(),
                         ends_at=(datetime.now(UTC) + timedelta(days=9, hours=2)).isoformat())

    def ids(query):
        listed = client.get(f"/api/v1/activities?{query}", headers=headers["volunteer"])
        assert listed.status_code == 200, listed.get_json()
        return [a["id"] for a in listed.get_json()["items"]], listed.get_json()["total"]

    assert ids("skill=%25_") == ([odd["id"]], 1)
    assert ids("skill=_") == ([odd["id"]], 1)
    assert ids("skill=理发") == ([plain["id"], odd["id"]], 2)
    day = datetime.fromisoformat(later["starts_at"]).astimezone(local_zone()).date()
    assert ids(f"date={day.isoformat()}") == ([later["id"]], 1)
    assert ids(f"org_id={orgs['b'].id}") == ([], 0)
    assert ids("per_page=2&page=2") == ([later["id"]], 3)
    assert ids("per_page=2") == ([plain["id"], odd["id"]], 3)
    listed = client.get("/api/v1/activities", headers=headers["volunteer"]).get_json()["items"]
    one = client.get(f"/api/v1/activities/{odd['id']}", headers=headers["volunteer"]).get_json()
    assert one == odd == next(a for a in listed if a["id"] == odd["id"])
    assert client.get("/api/v1/activities", headers=headers["other"]).get_json() == {"items": [], "total": 0}


def test_activity_permissions(client, api):
    orgs, headers = api
    activity = new_activity(client, orgs, headers)
    assert client.post("/api/v1/activities", json={}, headers=headers["volunteer"]).status_code == 422
    refused = client.post("/api/v1/activities", json={
        "org_id": orgs["a"].id, "title": "x活动", "location": "某处", "starts_at": "2026-12-01T09:00:00+08:00",
        "ends_at": "2026-12-01T11:00:00+08:00", "capacity": 5}, headers=headers["volunteer"])
    assert refused.status_code == 403
    assert client.post(f"/api/v1/activities/{activity['id']}/signups", headers=headers["resident"]).status_code == 403
    assert client.get(f"/api/v1/activities/{activity['id']}", headers=headers["other"]).status_code == 404
    assert client.post(f"/api/v1/activities/{activity['id']}/signups", headers=headers["other"]).status_code == 404
    backwards = client.post("/api/v1/activities", json={
        "org_id": orgs["a"].id, "title": "x活动", "location": "某处", "starts_at": "2026-12-01T11:00:00+08:00",
        "ends_at": "2026-12-01T09:00:00+08:00", "capacity": 5}, headers=headers["secretary"])
    assert backwards.status_code == 422 and "ends_at" in backwards.get_json()["error"]["fields"]


def test_full_activity_without_waitlist_answers_409_full(client, api):
    orgs, headers = api
    activity = new_activity(client, orgs, headers, waitlist=False)
    assert client.post(f"/api/v1/activities/{activity['id']}/signups", headers=headers["volunteer"]).status_code == 201
    full = client.post(f"/api/v1/activities/{activity['id']}/signups", headers=headers["secretary"])
    assert full.status_code == 409 and full.get_json()["error"]["code"] == "full"
