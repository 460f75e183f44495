"""One submission per form token, for wishes and service bookings alike: the same token —
twice in a row, or two requests racing — answers with the first record and its receipt."""

from __future__ import annotations

import re
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import requests
import sqlalchemy as sa

from backend.bookings import service as bookings
from backend.bookings.models import Booking, Slot
from backend.core import submissions
from backend.core.errors import Invalid
from backend.extensions import db
from backend.orgs.service import create_org
from backend.qrcodes.service import create_code
from backend.services import service as services
from backend.services.models import ServiceBooking, ServiceItem, ServiceSlot
from backend.wishes import service as wishes
from backend.wishes.models import Wish, WishEvent
from tests import factories as f
from tests.live import serve
from tests.test_csrf_session import csrf_from

TOKEN = "same-token-" + "x" * 16   # 27 URL-safe characters
WISH = {"title": "楼道灯坏了", "content": "3号楼2单元楼道灯不亮", "category": "环境改善", "consent": True}


@pytest.fixture
def world(app, client):
    orgs = f.tree()
    qr = create_code("wish", orgs["a1"].id, orgs["a1"], None)
    item = ServiceItem(org_id=orgs["a"].id, name="老年人理发", category="理发", location="和平社区活动室")
    db.session.add(item)
    db.session.flush()
    start = datetime.now(UTC) + timedelta(days=2)
    service_slot = services.add_slot(item, starts_at=start, ends_at=start + timedelta(hours=1), capacity=3)
    db.session.commit()
    return orgs, qr.code, item, service_slot


def _other_request_not_yet_committed(monkeypatch):
    """The first look for the token misses, as when another request with it has not committed
    yet: the insert then meets that request's row."""
    seen = submissions.submitted_with
    calls = []

    def late(model, token):
        calls.append(token)
        return None if len(calls) == 1 else seen(model, token)

    monkeypatch.setattr(submissions, "submitted_with", late)
    return calls


def test_a_racing_wish_returns_the_first_one(world, monkeypatch):
    orgs, _, _, _ = world
    first = wishes.submit(grid=orgs["a1"], submit_token=TOKEN, **WISH)
    db.session.commit()
    calls = _other_request_not_yet_committed(monkeypatch)
    again = wishes.submit(grid=orgs["a1"], submit_token=TOKEN, **WISH)
    db.session.commit()
    assert len(calls) == 2   # missed, then found the winner after the unique constraint refused
    assert (again.created, again.wish.id, again.receipt) == (False, first.wish.id, first.receipt)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Wish)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WishEvent)) == 1


def test_a_racing_booking_returns_the_first_one_and_takes_no_second_place(world, monkeypatch):
    _, _, _, service_slot = world
    first = services.book(service_slot, contact_name="吴阿姨", contact_phone=None, consent=True, submit_token=TOKEN)
    db.session.commit()
    calls = _other_request_not_yet_committed(monkeypatch)
    again = services.book(service_slot, contact_name="吴阿姨", contact_phone=None, consent=True, submit_token=TOKEN)
    db.session.commit()
    assert len(calls) == 2
    assert again.created is False and again.receipt == first.receipt
    assert again.service_booking.id == first.service_booking.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 1
    assert db.session.get(Slot, service_slot.slot_id).confirmed_count == 1


@pytest.mark.parametrize("kind", ["wish", "booking"])
def test_consent_is_asked_the_same_way(world, kind):
    orgs, _, _, service_slot = world
    with pytest.raises(Invalid) as refused:
        if kind == "wish":
            wishes.submit(grid=orgs["a1"], **{**WISH, "consent": False})
        else:
            services.book(service_slot, contact_name="吴阿姨", contact_phone=None, consent=False)
    assert refused.value.code == "consent_required" and refused.value.fields == {"consent": ["请阅读并同意隐私说明"]}


def test_same_token_twice_on_the_pages_opens_the_same_receipt(client, world):
    orgs, code, item, service_slot = world
    form = client.get(f"/h5/w/new?qr={code}")
    data = {**WISH, "consent": "on", "urgency": "1", "submit_token": TOKEN, "csrf_token": csrf_from(form)}
    first = client.post(f"/h5/w/new?qr={code}", data=data)
    again = client.post(f"/h5/w/new?qr={code}", data=data)
    assert first.status_code == again.status_code == 302
    assert first.headers["Location"].endswith("?new=1") and not again.headers["Location"].endswith("?new=1")
    assert again.headers["Location"] == first.headers["Location"].removesuffix("?new=1")

    page = client.get(f"/h5/services/{item.id}")
    data = {"slot_id": str(service_slot.slot_id), "contact_name": "吴阿姨", "consent": "on", "submit_token": TOKEN,
            "csrf_token": csrf_from(page)}
    first = client.post(f"/h5/services/{item.id}/book", data=data)
    again = client.post(f"/h5/services/{item.id}/book", data=data)
    assert first.status_code == again.status_code == 302
    assert again.headers["Location"] == first.headers["Location"].removesuffix("?new=1")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ServiceBooking)) == 1


# --- the token is a secret: long, kept only as a keyed hash, and tied to its form -----------

def _rows_holding(token: str) -> int:
    """Rows of any table with a column equal to `token`."""
    found = 0
    for table in db.metadata.sorted_tables:
        texts = [c for c in table.columns if isinstance(c.type, sa.String)]
        if texts:
            found += db.session.scalar(sa.select(sa.func.count()).select_from(table).where(
                sa.or_(*[c == token for c in texts])))
    return found


def test_the_token_is_never_stored(client, world):
    orgs, code, item, service_slot = world
    assert client.post("/api/v1/wishes", json={**WISH, "qr": code, "submit_token": TOKEN}).status_code == 201
    assert client.post(f"/api/v1/slots/{service_slot.slot_id}/bookings", json={
        "contact_name": "吴阿姨", "consent": True, "submit_token": TOKEN}).status_code == 201
    assert _rows_holding(TOKEN) == 0
    assert len({db.session.scalar(sa.select(Wish.submit_token)), db.session.scalar(
        sa.select(ServiceBooking.submit_token))} - {None}) == 2   # a hash per kind of form


@pytest.mark.parametrize("token", ["a" * 16, "a" * 21, "a" * 65, "a" * 23 + "!", "令牌" * 12, "a" * 23 + " "])
def test_a_short_or_strange_token_is_refused(client, world, token):
    orgs, code, item, service_slot = world
    for url, body in (("/api/v1/wishes", {**WISH, "qr": code}),
                      (f"/api/v1/slots/{service_slot.slot_id}/bookings", {"contact_name": "吴阿姨", "consent": True})):
        refused = client.post(url, json={**body, "submit_token": token})
        assert refused.status_code == 422 and "submit_token" in refused.get_json()["error"]["fields"], url
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Wish)) == 0


@pytest.mark.parametrize("token", ["a" * 22, "0123456789abcdef" * 2, "Zx9_-" * 12])
def test_long_enough_tokens_are_taken(client, world, token):
    orgs, code, _, _ = world
    assert client.post("/api/v1/wishes", json={**WISH, "qr": code, "submit_token": token}).status_code == 201


def _another_grid_code(orgs) -> str:
    return create_code("wish", orgs["a2"].id, orgs["a2"], None).code


@pytest.mark.parametrize("change", [
    {"content": "换了内容：我家水管漏水"},
    {"contact_phone": "13912345678"},
    {"urgency": 3},
    {"qr": "another-grid"},
    {"qr": "another-code-same-grid"},
])
def test_a_known_token_with_another_form_gets_no_receipt(client, world, change):
    orgs, code, _, _ = world
    first = client.post("/api/v1/wishes", json={**WISH, "qr": code, "contact_phone": "13800001111",
                                                "submit_token": TOKEN})
    assert first.status_code == 201
    if change.get("qr") == "another-grid":
        change = {"qr": _another_grid_code(orgs)}
    elif change.get("qr") == "another-code-same-grid":
        change = {"qr": create_code("wish", orgs["a1"].id, orgs["a1"], None).code}
    db.session.commit()
    replay = client.post("/api/v1/wishes", json={**WISH, "qr": code, "contact_phone": "13800001111",
                                                 "submit_token": TOKEN, **change})
    assert replay.status_code == 409 and replay.get_json()["error"]["code"] == "submit_token_reused"
    text = replay.get_data(as_text=True)
    assert first.get_json()["receipt"] not in text and "13800001111" not in text and "1111" not in text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Wish)) == 1


@pytest.mark.parametrize("change", ["slot", "name", "phone"])
def test_a_known_booking_token_at_another_time_or_name_gets_no_receipt(client, world, change):
    orgs, _, item, service_slot = world
    start = datetime.now(UTC) + timedelta(days=3)
    other = services.add_slot(item, starts_at=start, ends_at=start + timedelta(hours=1), capacity=3)
    db.session.commit()
    body = {"contact_name": "吴阿姨", "contact_phone": "13800001111", "consent": True, "submit_token": TOKEN}
    first = client.post(f"/api/v1/slots/{service_slot.slot_id}/bookings", json=body)
    assert first.status_code == 201
    slot_id = other.slot_id if change == "slot" else service_slot.slot_id
    body |= {"name": {"contact_name": "王先生"}, "phone": {"contact_phone": "13912345678"}}.get(change, {})
    replay = client.post(f"/api/v1/slots/{slot_id}/bookings", json=body)
    assert replay.status_code == 409 and replay.get_json()["error"]["code"] == "submit_token_reused"
    assert first.get_json()["receipt"] not in replay.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ServiceBooking)) == 1


def test_a_racing_replay_with_another_form_is_refused_too(world, monkeypatch):
    orgs, _, _, _ = world
    wishes.submit(grid=orgs["a1"], submit_token=TOKEN, **WISH)
    db.session.commit()
    _other_request_not_yet_committed(monkeypatch)
    with pytest.raises(submissions.TokenReused):
        wishes.submit(grid=orgs["a1"], submit_token=TOKEN, **{**WISH, "title": "另一件事"})
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Wish)) == 1


def test_the_page_says_so_and_keeps_what_was_typed(client, world):
    orgs, code, _, _ = world
    form = client.get(f"/h5/w/new?qr={code}")
    data = {**WISH, "consent": "on", "urgency": "1", "submit_token": TOKEN, "csrf_token": csrf_from(form)}
    assert client.post(f"/h5/w/new?qr={code}", data=data).status_code == 302
    other = client.post(f"/h5/w/new?qr={code}", data={**data, "content": "另外一件事：单元门坏了"})
    assert other.status_code == 409
    page = other.get_data(as_text=True)
    assert "这张表单已提交过不同的内容" in page and "另外一件事：单元门坏了" in page
    # The form comes back with a fresh token: one more tap sends what was typed as a wish of its own.
    fresh = re.search(r'name="submit_token" value="([^"]+)"', page).group(1)
    assert fresh != TOKEN
    retyped = {**data, "content": "另外一件事：单元门坏了", "submit_token": fresh}
    sent = client.post(f"/h5/w/new?qr={code}", data=retyped)
    assert sent.status_code == 302 and sent.headers["Location"].endswith("?new=1")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Wish)) == 2


def test_the_booking_page_says_so_too(client, world):
    orgs, code, item, service_slot = world
    page = client.get(f"/h5/services/{item.id}")
    data = {"slot_id": str(service_slot.slot_id), "contact_name": "吴阿姨", "consent": "on", "submit_token": TOKEN,
            "csrf_token": csrf_from(page)}
    assert client.post(f"/h5/services/{item.id}/book", data=data).status_code == 302
    other = client.post(f"/h5/services/{item.id}/book", data={**data, "contact_name": "王先生"})
    assert other.status_code == 409
    text = other.get_data(as_text=True)
    assert "这张表单已提交过不同的内容" in text and "王先生" in text and TOKEN not in text


def test_the_forms_make_long_enough_tokens(client, world):
    orgs, code, item, _ = world
    for url in (f"/h5/w/new?qr={code}", f"/h5/services/{item.id}"):
        token = re.search(r'name="submit_token" value="([^"]+)"', client.get(url).get_data(as_text=True)).group(1)
        assert len(token) >= submissions.TOKEN_MIN_LENGTH and re.fullmatch(r"[A-Za-z0-9_-]+", token), url


SENDERS = 8


def _all_at_once(url: str, body: dict) -> list[tuple[int, int, str]]:
    barrier = threading.Barrier(SENDERS)
    answers: list[tuple[int, int, str]] = []
    lock = threading.Lock()

    def send() -> None:
        with requests.Session() as http:
            barrier.wait(timeout=30)
            response = http.post(url, json=body, timeout=60)
        made = response.json()
        with lock:
            answers.append((response.status_code, made.get("id"), made.get("receipt")))

    threads = [threading.Thread(target=send) for _ in range(SENDERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    return answers


@pytest.mark.slow
def test_simultaneous_taps_make_one_wish_and_one_booking(db_url):
    with serve(db_url) as (base_url, app):
        with app.app_context():
            street = create_org("东湖街道", "street", None)
            community = create_org("和平社区", "community", street)
            grid = create_org("第一网格", "grid", community)
            code = create_code("wish", grid.id, grid, None).code
            item = ServiceItem(org_id=community.id, name="老年人理发", category="理发", location="活动室")
            db.session.add(item)
            db.session.flush()
            start = datetime.now(UTC) + timedelta(days=2)
            slot = bookings.create_slot(org_id=community.id, starts_at=start, ends_at=start + timedelta(hours=1),
                                        capacity=5, waitlist=False)
            db.session.add(ServiceSlot(service_item_id=item.id, slot_id=slot.id))
            db.session.commit()
            slot_id = slot.id
            db.session.remove()

        for url, body in ((f"{base_url}/api/v1/wishes", {**WISH, "qr": code, "submit_token": TOKEN}),
                          (f"{base_url}/api/v1/slots/{slot_id}/bookings",
                           {"contact_name": "吴阿姨", "consent": True, "submit_token": TOKEN})):
            answers = _all_at_once(url, body)
            assert Counter(status for status, _, _ in answers) == Counter({201: 1, 200: SENDERS - 1}), url
            assert len({(made, receipt) for _, made, receipt in answers}) == 1, url

        with app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Wish)) == 1
            assert db.session.scalar(sa.select(sa.func.count()).select_from(ServiceBooking)) == 1
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 1
            assert db.session.get(Slot, slot_id).confirmed_count == 1
            db.session.remove()
