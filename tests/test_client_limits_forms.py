"""Forms anyone may send without an account — wishes, service bookings, open-QR poll answers —
are limited per client address: 429 with Retry-After and a Chinese message saying what to do,
the page keeping what was typed; other clients and signed-in people go on. The limit holds
under concurrent requests over real HTTP, on both databases."""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import requests
import sqlalchemy as sa

from backend.auth.service import issue_token
from backend.core.limits import RateCount
from backend.extensions import db
from backend.orgs.service import create_org
from backend.people.service import add_membership, create_person
from backend.qrcodes.service import create_code
from backend.services import service as services
from backend.services.models import ServiceBooking, ServiceItem
from backend.wishes.models import Wish
from tests import factories as f
from tests.live import serve
from tests.test_csrf_session import csrf_from
from tests.test_polls import answers, make_poll, poll_body, world  # noqa: F401  (the polls' world fixture)

WISH = {"title": "楼道灯坏了", "content": "3号楼2单元楼道灯不亮", "category": "环境改善", "consent": True}
A, B = "203.0.113.7", "198.51.100.20"


def _token() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture
def place(app):
    orgs = f.tree()
    qr = create_code("wish", orgs["a1"].id, orgs["a1"], None)
    item = ServiceItem(org_id=orgs["a"].id, name="老年人理发", category="理发", location="和平社区活动室")
    db.session.add(item)
    db.session.flush()
    start = datetime.now(UTC) + timedelta(days=2)
    service_slot = services.add_slot(item, starts_at=start, ends_at=start + timedelta(hours=1), capacity=50)
    leader = f.person("张建华", username="leader", role="grid_leader", org=orgs["a1"])
    db.session.commit()
    return orgs, qr.code, item, service_slot, leader


def _wish(client, code, address, token=None, **change):
    return client.post("/api/v1/wishes", json={**WISH, "qr": code, "submit_token": token or _token(), **change},
                       environ_base={"REMOTE_ADDR": address})


def test_one_client_may_send_so_many_wishes_an_hour(app, client, place):
    orgs, code, _, _, _ = place
    most = app.config["WISH_CLIENT_HOURLY_LIMIT"]
    assert most == 10
    first_token = _token()
    assert _wish(client, code, A, first_token).status_code == 201
    for _ in range(most - 1):
        assert _wish(client, code, A).status_code == 201
    refused = _wish(client, code, A)
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "too_many_requests"
    assert "分钟后再提交" in refused.get_json()["error"]["message"]
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    # A double tap of an earlier wish is not a new one; other clients and staff go on.
    assert _wish(client, code, A, first_token).status_code == 200
    assert _wish(client, code, B).status_code == 201
    staff = f.login(client, "leader")
    assert client.post("/api/v1/wishes", json={**WISH, "grid_id": orgs["a1"].id}, headers=staff,
                       environ_base={"REMOTE_ADDR": A}).status_code == 201
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Wish)) == most + 2


def test_the_wish_page_says_when_and_keeps_what_was_typed(app, client, place):
    _, code, _, _, _ = place
    app.config["WISH_CLIENT_HOURLY_LIMIT"] = 1
    form = client.get(f"/h5/w/new?qr={code}", environ_base={"REMOTE_ADDR": A})
    data = {**WISH, "consent": "on", "urgency": "1", "csrf_token": csrf_from(form)}
    sent = client.post(f"/h5/w/new?qr={code}", data={**data, "submit_token": _token()},
                       environ_base={"REMOTE_ADDR": A})
    assert sent.status_code == 302
    again = client.post(f"/h5/w/new?qr={code}", environ_base={"REMOTE_ADDR": A},
                        data={**data, "content": "单元门禁坏了，进不去", "submit_token": _token()})
    assert again.status_code == 429 and int(again.headers["Retry-After"]) > 0
    page = again.get_data(as_text=True)
    assert "分钟后再提交" in page and "单元门禁坏了，进不去" in page and WISH["title"] in page


def _book(client, slot_id, address, **change):
    return client.post(f"/api/v1/slots/{slot_id}/bookings", json={
        "contact_name": "吴阿姨", "consent": True, "submit_token": _token(), **change},
        environ_base={"REMOTE_ADDR": address})


def test_one_client_may_make_so_many_bookings_an_hour(app, client, place):
    _, _, item, service_slot, _ = place
    assert app.config["BOOKING_CLIENT_HOURLY_LIMIT"] == 10
    app.config["BOOKING_CLIENT_HOURLY_LIMIT"] = 2
    assert [_book(client, service_slot.slot_id, A).status_code for _ in range(2)] == [201, 201]
    refused = _book(client, service_slot.slot_id, A)
    assert refused.status_code == 429 and "分钟后再试" in refused.get_json()["error"]["message"]
    assert int(refused.headers["Retry-After"]) > 0
    assert _book(client, service_slot.slot_id, B).status_code == 201
    page = client.get(f"/h5/services/{item.id}", environ_base={"REMOTE_ADDR": A})
    refused_page = client.post(f"/h5/services/{item.id}/book", data={
        "slot_id": str(service_slot.slot_id), "contact_name": "王奶奶", "contact_phone": "13912345678",
        "consent": "on", "submit_token": _token(), "csrf_token": csrf_from(page)}, environ_base={"REMOTE_ADDR": A})
    assert refused_page.status_code == 429 and int(refused_page.headers["Retry-After"]) > 0
    text = refused_page.get_data(as_text=True)
    assert "分钟后再试" in text and "王奶奶" in text and "13912345678" in text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ServiceBooking)) == 3


def test_one_client_may_send_so_many_open_qr_answers_to_a_poll(app, client, world):  # noqa: F811
    assert app.config["POLL_CLIENT_HOURLY_LIMIT"] == 20
    app.config["POLL_CLIENT_HOURLY_LIMIT"] = 2
    poll = make_poll(client, world, modes=["device"])
    url = f"/api/v1/polls/{poll['id']}/responses"

    def send(address):
        return client.post(url, json={"device": _token(), "answers": answers(poll)},
                           environ_base={"REMOTE_ADDR": address})

    assert [send("10.1.2.3").status_code for _ in range(2)] == [201, 201]
    refused = send("10.1.2.3")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "分钟后再试" in refused.get_json()["error"]["message"]
    assert send("10.1.2.4").status_code == 201      # the same network, another client
    # The counter says no more of when than the minute, as the answers themselves.
    ends = db.session.scalars(sa.select(RateCount.ends_at).where(RateCount.bucket == "poll.client")).all()
    assert len(ends) == 2 and all((e.second, e.microsecond) == (0, 0) for e in ends)
    # Each poll counts on its own.
    other = make_poll(client, world, modes=["device"], title="2026 年和平社区停车问题征询")
    assert client.post(f"/api/v1/polls/{other['id']}/responses", json={"device": _token(), "answers": answers(other)},
                       environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 201


def test_the_poll_page_keeps_the_answers(app, client, world):  # noqa: F811
    app.config["POLL_CLIENT_HOURLY_LIMIT"] = 1
    poll = make_poll(client, world, modes=["device"])
    q = {item["position"]: item["id"] for item in poll["questions"]}
    sheet = {f"q{q[1]}": "4", f"q{q[2]}": "1", f"q{q[4]}": "路灯太暗"}

    def fill(browser):
        form = browser.get(f"/h5/p/{poll['id']}", environ_base={"REMOTE_ADDR": A})
        return browser.post(f"/h5/p/{poll['id']}", data={**sheet, "csrf_token": csrf_from(form)},
                            environ_base={"REMOTE_ADDR": A})

    assert fill(client).status_code == 302
    refused = fill(client.application.test_client())    # another phone, the same address
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    page = refused.get_data(as_text=True)
    assert "分钟后再试" in page and "路灯太暗" in page


# --- at once, over real HTTP --------------------------------------------------------------------

SENDERS = 16


def _all_at_once(requests_to_send) -> Counter:
    barrier = threading.Barrier(len(requests_to_send))
    statuses: list[int] = []
    lock = threading.Lock()

    def send(url, body, headers):
        with requests.Session() as http:
            barrier.wait(timeout=30)
            response = http.post(url, json=body, headers=headers, timeout=60)
        assert response.status_code != 429 or int(response.headers["Retry-After"]) > 0
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=send, args=r) for r in requests_to_send]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return Counter(statuses)


@pytest.mark.slow
def test_concurrent_anonymous_forms_from_one_client_stop_at_the_limit(db_url):
    limits = {"WISH_CLIENT_HOURLY_LIMIT": 5, "BOOKING_CLIENT_HOURLY_LIMIT": 3, "POLL_CLIENT_HOURLY_LIMIT": 4}
    with serve(db_url, **limits) as (base, app):
        with app.app_context():
            street = create_org("东湖街道", "street", None)
            community = create_org("和平社区", "community", street)
            grid = create_org("第一网格", "grid", community)
            code = create_code("wish", grid.id, grid, None).code
            item = ServiceItem(org_id=community.id, name="老年人理发", category="理发", location="活动室")
            db.session.add(item)
            db.session.flush()
            start = datetime.now(UTC) + timedelta(days=2)
            slot_id = services.add_slot(item, starts_at=start, ends_at=start + timedelta(hours=1), capacity=50).slot_id
            secretary = create_person(name="李红梅")
            add_membership(secretary, community, "secretary")
            bearer = {"Authorization": f"Bearer {issue_token(secretary)[0]}"}
            db.session.commit()
            community_id = community.id
            db.session.remove()
        made = requests.post(f"{base}/api/v1/polls", headers=bearer, timeout=10,
                             json=poll_body(community_id, modes=["device"]))
        assert made.status_code == 201, made.text
        poll = made.json()

        wishes = _all_at_once([(f"{base}/api/v1/wishes", {**WISH, "qr": code, "submit_token": _token()}, {})
                               for _ in range(SENDERS)])
        bookings = _all_at_once([(f"{base}/api/v1/slots/{slot_id}/bookings",
                                  {"contact_name": "吴阿姨", "consent": True, "submit_token": _token()}, {})
                                 for _ in range(SENDERS)])
        poll_answers = _all_at_once([(f"{base}/api/v1/polls/{poll['id']}/responses",
                                      {"device": _token(), "answers": answers(poll)}, {}) for _ in range(SENDERS)])

        assert wishes == Counter({201: 5, 429: SENDERS - 5})
        assert bookings == Counter({201: 3, 429: SENDERS - 3})
        assert poll_answers == Counter({201: 4, 429: SENDERS - 4})
        with app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Wish)) == 5
            assert db.session.scalar(sa.select(sa.func.count()).select_from(ServiceBooking)) == 3
            db.session.remove()
