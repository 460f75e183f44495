"""Micro-services: catalogue, resident bookings by receipt, delivery and rating."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from backend.bookings import service as engine
from backend.bookings.models import Booking, Slot
from backend.extensions import db
from backend.services.models import ServiceBooking, ServiceItem, ServiceSlot
from tests import factories as f
from tests.test_csrf_session import csrf_from, h5_login

SOON = datetime.now(UTC) + timedelta(days=2)


@pytest.fixture
def svc(app, client):
    orgs = f.tree()
    f.person("李红梅", username="secretary", role="secretary", org=orgs["a"])
    f.person("黄丽娟", username="secretary_b", role="secretary", org=orgs["b"])
    f.person("刘志刚", username="volunteer", role="volunteer", org=orgs["a1"])
    headers = {u: f.login(client, u) for u in ("secretary", "secretary_b", "volunteer")}
    item = client.post("/api/v1/services", headers=headers["secretary"], json={
        "org_id": orgs["a"].id, "name": "老年人理发", "category": "理发", "location": "和平社区活动室",
        "provider_name": "红马甲志愿服务队"})
    assert item.status_code == 201, item.get_json()
    slot = client.post(f"/api/v1/services/{item.get_json()['id']}/slots", headers=headers["secretary"], json={
        "starts_at": SOON.isoformat(), "ends_at": (SOON + timedelta(hours=1)).isoformat(), "capacity": 2})
    assert slot.status_code == 201, slot.get_json()
    return orgs, headers, item.get_json(), slot.get_json()


def book(client, slot_id, **extra):
    return client.post(f"/api/v1/slots/{slot_id}/bookings",
                       json={"contact_name": "吴阿姨", "contact_phone": "13812345678", "consent": True, **extra})


def begin(slot_id, ago=timedelta(minutes=1)):
    """The booked time has begun (booked ahead, delivered from the start)."""
    db.session.execute(sa.update(Slot).where(Slot.id == slot_id).values(starts_at=datetime.now(UTC) - ago))
    db.session.commit()


def test_resident_books_provider_delivers_resident_rates(client, svc):
    orgs, headers, item, slot = svc
    slots = client.get(f"/api/v1/services/{item['id']}/slots").get_json()
    assert [s["places_left"] for s in slots] == [2]
    made = book(client, slot["id"])
    assert made.status_code == 201
    body = made.get_json()
    assert body["status"] == "confirmed" and body["receipt"] and body["contact_phone"] == "138****5678"
    early = client.post(f"/api/v1/bookings/{body['id']}/rate", json={"receipt": body["receipt"], "rating": 5})
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "not_delivered"
    assert client.post(f"/api/v1/bookings/{body['id']}/complete", headers=headers["secretary_b"]).status_code == 404
    assert client.post(f"/api/v1/bookings/{body['id']}/complete", headers=headers["volunteer"]).status_code == 403
    begin(slot["id"])
    done = client.post(f"/api/v1/bookings/{body['id']}/complete", headers=headers["secretary"])
    assert done.status_code == 200 and done.get_json()["status"] == "attended"
    rated = client.post(f"/api/v1/bookings/{body['id']}/rate",
                        json={"receipt": body["receipt"], "rating": 4, "comment": "剪得很好"})
    assert rated.status_code == 200 and rated.get_json()["rating"] == 4
    again = client.post(f"/api/v1/bookings/{body['id']}/rate", json={"receipt": body["receipt"], "rating": 1})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_rated"
    wrong = client.post(f"/api/v1/bookings/{body['id']}/rate", json={"receipt": "x" * 40, "rating": 1})
    assert wrong.status_code == 404


def test_capacity_consent_and_idempotent_booking(client, svc):
    orgs, headers, item, slot = svc
    token = "s" * 24
    first = book(client, slot["id"], submit_token=token)
    replay = book(client, slot["id"], submit_token=token)
    assert (first.status_code, replay.status_code) == (201, 200)
    assert first.get_json()["receipt"] == replay.get_json()["receipt"]
    assert book(client, slot["id"]).status_code == 201
    full = book(client, slot["id"])
    assert full.status_code == 409 and full.get_json()["error"]["code"] == "full"
    refused = book(client, slot["id"], consent=False)
    assert refused.status_code == 422
    assert book(client, 99999).status_code == 404


def test_catalogue_permissions(client, svc):
    orgs, headers, item, slot = svc
    assert client.post("/api/v1/services", headers=headers["volunteer"], json={
        "org_id": orgs["a"].id, "name": "家电维修", "location": "活动室"}).status_code == 403
    assert client.post("/api/v1/services", headers=headers["secretary_b"], json={
        "org_id": orgs["a"].id, "name": "家电维修", "location": "活动室"}).status_code == 404
    listed = client.get("/api/v1/services", headers=headers["volunteer"]).get_json()
    assert [s["name"] for s in listed["items"]] == ["老年人理发"]
    assert client.get("/api/v1/services", headers=headers["secretary_b"]).get_json()["total"] == 0


def test_a_withdrawn_service_on_both_faces(client, svc):
    """Booking a time of a withdrawn service: the API said 409 service_inactive, the page 404;
    now both say 409 暂停预约. Adding a time to it: the API took it, the page said 404; now 404."""
    orgs, headers, item, slot = svc
    page = client.get(f"/h5/services/{item['id']}")
    form = {"slot_id": str(slot["id"]), "contact_name": "吴阿姨", "consent": "on", "submit_token": "w" * 24,
            "csrf_token": csrf_from(page)}
    db.session.get(ServiceItem, item["id"]).is_active = False
    db.session.commit()
    booked = book(client, slot["id"])
    assert booked.status_code == 409 and booked.get_json()["error"]["code"] == "service_inactive"
    refused = client.post(f"/h5/services/{item['id']}/book", data=form)
    assert refused.status_code == 409 and "该服务已暂停预约" in refused.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ServiceBooking)) == 0

    times = {"starts_at": SOON.isoformat(), "ends_at": (SOON + timedelta(hours=1)).isoformat(), "capacity": 2}
    added = client.post(f"/api/v1/services/{item['id']}/slots", headers=headers["secretary"], json=times)
    assert added.status_code == 404
    h5_login(client, "secretary")
    page_add = client.post(f"/h5/services/{item['id']}/slots", data={
        "csrf_token": csrf_from(client.get("/h5/services/new")), "day": SOON.date().isoformat(), "start": "09:00",
        "end": "10:00", "capacity": "2"})
    assert page_add.status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ServiceSlot)) == 1


def test_marking_delivered_needs_a_signed_in_organiser_on_both_faces(client, svc):
    """Anonymous: the API said 404 (no actor, nothing visible); now 401 like every other API
    write, as the page sends the visitor to log in."""
    orgs, headers, item, slot = svc
    booking = book(client, slot["id"]).get_json()
    assert client.post(f"/api/v1/bookings/{booking['id']}/complete").status_code == 401
    token = csrf_from(client.get(f"/h5/services/{item['id']}"))
    page = client.post(f"/h5/services/bookings/{booking['id']}/complete", data={"csrf_token": token})
    assert page.status_code == 302 and "/h5/login" in page.headers["Location"]
    h5_login(client, "volunteer")
    token = csrf_from(client.get(f"/h5/services/{item['id']}"))
    assert client.post(f"/h5/services/bookings/{booking['id']}/complete", data={"csrf_token": token}).status_code == 403
    assert client.post(f"/api/v1/bookings/{booking['id']}/complete", headers=headers["volunteer"]).status_code == 403


def test_a_booking_without_a_phone_number(client, svc):
    """The phone is optional: leaving it out used to fail (500) on both faces."""
    orgs, headers, item, slot = svc
    made = client.post(f"/api/v1/slots/{slot['id']}/bookings", json={"contact_name": "吴阿姨", "consent": True})
    assert made.status_code == 201 and made.get_json()["contact_phone"] is None
    token = csrf_from(client.get(f"/h5/services/{item['id']}"))
    page = client.post(f"/h5/services/{item['id']}/book", data={
        "slot_id": str(slot["id"]), "contact_name": "王大爷", "consent": "on", "csrf_token": token})
    assert page.status_code == 302 and "/h5/b/r/" in page.headers["Location"]


def test_a_rating_needs_a_star_on_both_faces(client, svc):
    orgs, headers, item, slot = svc
    made = book(client, slot["id"]).get_json()
    begin(slot["id"])
    assert client.post(f"/api/v1/bookings/{made['id']}/complete", headers=headers["secretary"]).status_code == 200
    assert client.post(f"/api/v1/bookings/{made['id']}/rate", json={"receipt": made["receipt"]}).status_code == 422
    page = client.get(f"/h5/b/r/{made['receipt']}")
    refused = client.post(f"/h5/b/r/{made['receipt']}/rate", data={"csrf_token": csrf_from(page), "rating": "0"})
    assert "请点选 1–5 颗星再提交" in client.get(refused.headers["Location"]).get_data(as_text=True)
    record = db.session.scalar(sa.select(ServiceBooking).where(ServiceBooking.booking_id == made["id"]))
    assert record.booking.rating is None


def test_delivery_waits_for_the_booked_time_on_both_faces(client, svc):
    """Marking a booking delivered two days before its time used to succeed, and the rating
    that followed moved O6. Now: 409 service_not_started on the API, no 已服务 button and a
    flash saying when on the page, and nothing changes; from the start of the time it works."""
    orgs, headers, item, slot = svc
    made = book(client, slot["id"]).get_json()
    early = client.post(f"/api/v1/bookings/{made['id']}/complete", headers=headers["secretary"])
    assert early.status_code == 409
    error = early.get_json()["error"]
    assert error["code"] == "service_not_started" and "开始后才能标记为已服务" in error["message"]
    rated = client.post(f"/api/v1/bookings/{made['id']}/rate", json={"receipt": made["receipt"], "rating": 5})
    assert rated.status_code == 409 and rated.get_json()["error"]["code"] == "not_delivered"
    h5_login(client, "secretary")
    page = client.get(f"/h5/services/{item['id']}")
    text = page.get_data(as_text=True)
    assert "开始后可标记" in text and f"/h5/services/bookings/{made['id']}/complete" not in text
    refused = client.post(f"/h5/services/bookings/{made['id']}/complete", data={"csrf_token": csrf_from(page)})
    shown = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert "开始后才能标记为已服务" in shown
    record = db.session.scalar(sa.select(ServiceBooking).where(ServiceBooking.booking_id == made["id"]))
    assert record.delivered_at is None and db.session.get(Booking, made["id"]).status == "confirmed"

    begin(slot["id"])
    page = client.get(f"/h5/services/{item['id']}")
    assert f"/h5/services/bookings/{made['id']}/complete" in page.get_data(as_text=True)
    done = client.post(f"/h5/services/bookings/{made['id']}/complete", data={"csrf_token": csrf_from(page)})
    assert "已标记为已服务" in client.get(done.headers["Location"]).get_data(as_text=True)
    again = client.post(f"/api/v1/bookings/{made['id']}/complete", headers=headers["secretary"])
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "invalid_state"


def test_a_rating_only_of_a_delivered_booking_on_both_faces(client, svc):
    """The resident's receipt offers no rating before delivery, and a rating sent anyway is
    refused with the reason, on the page as on the API."""
    orgs, headers, item, slot = svc
    made = book(client, slot["id"]).get_json()
    page = client.get(f"/h5/b/r/{made['receipt']}")
    assert "提交评价" not in page.get_data(as_text=True)
    refused = client.post(f"/h5/b/r/{made['receipt']}/rate", data={"csrf_token": csrf_from(page), "rating": "5"})
    assert "服务完成后才能评价" in client.get(refused.headers["Location"]).get_data(as_text=True)
    assert db.session.get(Booking, made["id"]).rating is None


def test_the_slot_id_the_api_gives_is_the_one_it_books(client, svc):
    """The service API answered with the id of its own slot row, while booking takes the
    booking engine's slot id: once a volunteer activity had taken a slot first, the id it gave
    booked nothing (404). Now both are the engine's slot id."""
    orgs, headers, item, slot = svc
    engine.create_slot(org_id=orgs["a"].id, starts_at=SOON, ends_at=SOON + timedelta(hours=1), capacity=1)
    db.session.commit()
    added = client.post(f"/api/v1/services/{item['id']}/slots", headers=headers["secretary"], json={
        "starts_at": (SOON + timedelta(days=1)).isoformat(),
        "ends_at": (SOON + timedelta(days=1, hours=1)).isoformat(), "capacity": 1}).get_json()
    listed = client.get(f"/api/v1/services/{item['id']}/slots").get_json()
    assert added["id"] in [s["id"] for s in listed]
    assert book(client, added["id"]).status_code == 201
    assert db.session.get(Slot, added["id"]).confirmed_count == 1
