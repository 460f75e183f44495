"""Micro-services: catalogue, resident bookings by receipt, delivery and rating."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests import factories as f

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
