"""One phone rule (backend.people.schemas.load_phone) for people, wishes and service bookings,
on the API and the pages alike.

Before, three copies disagreed: the people API trimmed spaces and took a number given as a
JSON number; the wish and booking APIs refused spaces (which their pages trimmed) and numbers.
Now spaces around the digits are dropped everywhere and anything but text is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from backend.extensions import db
from backend.qrcodes.service import create_code
from backend.services import service as services
from backend.services.models import ServiceBooking, ServiceItem
from backend.wishes.models import Wish
from tests import factories as f
from tests.test_csrf_session import csrf_from

WISH = {"title": "楼道灯坏了", "content": "3号楼2单元楼道灯不亮", "category": "环境改善", "consent": True}


@pytest.fixture
def world(app, client):
    orgs = f.tree()
    f.person("张建华", username="manager", role="secretary", org=orgs["a"])
    qr = create_code("wish", orgs["a1"].id, orgs["a1"], None)
    item = ServiceItem(org_id=orgs["a"].id, name="老年人理发", category="理发", location="和平社区活动室")
    db.session.add(item)
    db.session.flush()
    start = datetime.now(UTC) + timedelta(days=2)
    service_slot = services.add_slot(item, starts_at=start, ends_at=start + timedelta(hours=1), capacity=5)
    db.session.commit()
    return orgs, qr.code, item, service_slot


def _wish_page(client, code, phone, token):
    form = client.get(f"/h5/w/new?qr={code}")
    return client.post(f"/h5/w/new?qr={code}", data={**WISH, "consent": "on", "urgency": "1", "contact_phone": phone,
                                                      "submit_token": token, "csrf_token": csrf_from(form)})


def _booking_page(client, item, service_slot, phone, token):
    form = client.get(f"/h5/services/{item.id}")
    return client.post(f"/h5/services/{item.id}/book", data={
        "slot_id": str(service_slot.slot_id), "contact_name": "吴阿姨", "consent": "on", "contact_phone": phone,
        "submit_token": token, "csrf_token": csrf_from(form)})


def test_spaces_around_the_number_are_dropped_on_both_faces(client, world):
    orgs, code, item, service_slot = world
    api = client.post("/api/v1/wishes", json={**WISH, "qr": code, "contact_phone": " 13912345678 ",
                                              "submit_token": "a" * 24})
    assert api.status_code == 201
    assert _wish_page(client, code, " 13912345678 ", "b" * 24).status_code == 302
    assert set(db.session.scalars(sa.select(Wish.contact_phone))) == {"13912345678"}

    booked = client.post(f"/api/v1/slots/{service_slot.slot_id}/bookings", json={
        "contact_name": "吴阿姨", "consent": True, "contact_phone": " 13812345678 ", "submit_token": "c" * 24})
    assert booked.status_code == 201
    assert _booking_page(client, item, service_slot, " 13812345678 ", "d" * 24).status_code == 302
    assert set(db.session.scalars(sa.select(ServiceBooking.contact_phone))) == {"13812345678"}


def test_a_wrong_number_is_refused_with_one_message_on_both_faces(client, world):
    orgs, code, item, service_slot = world
    for phone in ("12345", 13912345678):
        wish = client.post("/api/v1/wishes", json={**WISH, "qr": code, "contact_phone": phone})
        assert wish.status_code == 422
        assert wish.get_json()["error"]["fields"] == {"contact_phone": ["请填写 11 位手机号"]}
        booked = client.post(f"/api/v1/slots/{service_slot.slot_id}/bookings",
                             json={"contact_name": "吴阿姨", "consent": True, "contact_phone": phone})
        assert booked.status_code == 422
        assert booked.get_json()["error"]["fields"] == {"contact_phone": ["请填写 11 位手机号"]}
    person = client.post("/api/v1/people", headers=f.login(client, "manager"),
                         json={"name": "王阿姨", "phone": 13912345678})
    assert person.status_code == 422 and person.get_json()["error"]["fields"] == {"phone": ["请填写 11 位手机号"]}

    for page in (_wish_page(client, code, "12345", "e" * 24),
                 _booking_page(client, item, service_slot, "12345", "f" * 24)):
        assert page.status_code == 422 and "请填写 11 位手机号" in page.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Wish)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ServiceBooking)) == 0


def test_a_refused_booking_is_shown_at_the_page_own_address(client, world):
    """The form posts to the service page's own address: the refusal is rendered there, and a
    reload or a visit of the old /book address is a page, not 405."""
    orgs, code, item, service_slot = world
    form = client.get(f"/h5/services/{item.id}")
    body = form.get_data(as_text=True)
    assert f'action="/h5/services/{item.id}" novalidate' in body
    refused = client.post(f"/h5/services/{item.id}", data={
        "slot_id": str(service_slot.slot_id), "contact_name": "吴阿姨", "contact_phone": "12345",
        "submit_token": "e" * 24, "csrf_token": csrf_from(form)})
    assert refused.status_code == 422 and "吴阿姨" in refused.get_data(as_text=True)
    assert client.get(f"/h5/services/{item.id}").status_code == 200
    old = client.get(f"/h5/services/{item.id}/book")
    assert old.status_code == 302 and old.headers["Location"] == f"/h5/services/{item.id}"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ServiceBooking)) == 0
