"""The secret iCalendar feed of a person's confirmed activities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
import pytest

from tests import factories as f

SOON = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)


@pytest.fixture
def world(app, client):
    orgs = f.tree()
    f.person("李红梅", username="secretary", role="secretary", org=orgs["a"])
    f.person("刘志刚", username="volunteer", role="volunteer", org=orgs["a1"])
    f.person("王芳", username="other", role="volunteer", org=orgs["a1"])
    headers = {u: f.login(client, u) for u in ("secretary", "volunteer", "other")}
    ids = []
    for i, (title, capacity) in enumerate([("敬老院理发，义务服务", 5), ("清理楼道", 5), ("满员活动", 1)]):
        start = SOON + timedelta(days=i)
        made = client.post("/api/v1/activities", headers=headers["secretary"], json={
            "org_id": orgs["a"].id, "title": title, "location": "和平社区敬老院", "capacity": capacity,
            "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat()})
        ids.append(made.get_json()["id"])
    return ids, headers


def events_of(body: bytes) -> list:
    return icalendar.Calendar.from_ical(body).walk("VEVENT")


def test_feed_lists_confirmed_activities_only(client, world):
    (barber, stairs, full), headers = world
    assert client.post(f"/api/v1/activities/{full}/signups", headers=headers["other"]).status_code == 201
    for activity_id in (barber, stairs, full):
        assert client.post(f"/api/v1/activities/{activity_id}/signups", headers=headers["volunteer"]).status_code == 201

    made = client.post("/api/v1/me/calendar-feed", headers=headers["volunteer"])
    assert made.status_code == 201
    feed = made.get_json()
    assert feed["url"].startswith("http") and feed["url"].endswith(".ics") and feed["webcal_url"].startswith("webcal://")
    path = "/" + feed["url"].split("/", 3)[3]
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Cache-Control"].startswith("private")
    events = events_of(response.data)
    # Waitlisted for the full one: not in the calendar.
    assert [str(e["SUMMARY"]) for e in events] == ["敬老院理发，义务服务", "清理楼道"]
    first = events[0]
    assert first.decoded("DTSTART") == SOON and first.decoded("DTEND") == SOON + timedelta(hours=2)
    assert str(first["LOCATION"]) == "和平社区敬老院" and f"/h5/activities/{barber}" in str(first["URL"])
    assert first.walk("VALARM")[0].decoded("TRIGGER") == timedelta(hours=-1)
    # Lines are folded at 75 octets even with Chinese text (RFC 5545 3.1).
    assert all(len(line) <= 75 for line in response.data.split(b"\r\n"))


def test_cancelling_removes_the_event(client, world):
    (barber, stairs, full), headers = world
    booking = client.post(f"/api/v1/activities/{barber}/signups", headers=headers["volunteer"]).get_json()
    url = client.post("/api/v1/me/calendar-feed", headers=headers["volunteer"]).get_json()["url"]
    path = "/" + url.split("/", 3)[3]
    assert len(events_of(client.get(path).data)) == 1
    assert client.delete(f"/api/v1/signups/{booking['id']}", headers=headers["volunteer"]).status_code == 200
    assert events_of(client.get(path).data) == []


def test_new_address_replaces_the_old_and_revoking_stops_it(client, world):
    ids, headers = world
    first = client.post("/api/v1/me/calendar-feed", headers=headers["volunteer"]).get_json()["url"]
    second = client.post("/api/v1/me/calendar-feed", headers=headers["volunteer"]).get_json()["url"]
    assert first != second
    assert client.get("/" + first.split("/", 3)[3]).status_code == 404
    assert client.get("/" + second.split("/", 3)[3]).status_code == 200
    assert client.delete("/api/v1/me/calendar-feed", headers=headers["volunteer"]).status_code == 204
    assert client.get("/" + second.split("/", 3)[3]).status_code == 404
    assert client.get("/cal/guess.ics").status_code == 404
    assert client.post("/api/v1/me/calendar-feed").status_code == 401
