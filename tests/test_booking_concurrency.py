"""200 people sign up for 20 places at the same moment, over real HTTP: never overbooked."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import requests
import sqlalchemy as sa

from backend.activities.models import Activity
from backend.auth.service import issue_token
from backend.bookings import service as bookings
from backend.bookings.models import Booking, Slot
from backend.extensions import db
from backend.orgs.service import create_org
from backend.people.service import add_membership, create_person
from tests.live import serve

PEOPLE, CAPACITY = 200, 20

pytestmark = pytest.mark.slow   # 200 concurrent requests over real HTTP


@pytest.mark.parametrize("waitlist", [True, False], ids=["waitlist", "no-waitlist"])
def test_two_hundred_concurrent_sign_ups(db_url, waitlist):
    with serve(db_url) as (base_url, app):
        with app.app_context():
            street = create_org("东湖街道", "street", None)
            community = create_org("和平社区", "community", street)
            start = datetime.now(UTC) + timedelta(days=2)
            slot = bookings.create_slot(org_id=community.id, starts_at=start, ends_at=start + timedelta(hours=2),
                                        capacity=CAPACITY, waitlist=waitlist)
            activity = Activity(org_id=community.id, slot_id=slot.id, title="社区大扫除", location="和平广场")
            db.session.add(activity)
            tokens = []
            for i in range(PEOPLE):
                volunteer = create_person(name=f"志愿者{i}")
                add_membership(volunteer, community, "volunteer")
                tokens.append(issue_token(volunteer)[0])
            db.session.commit()
            activity_id, slot_id = activity.id, slot.id
            db.session.remove()

        barrier = threading.Barrier(PEOPLE)
        answers: list[tuple[int, str]] = []
        lock = threading.Lock()

        def sign_up(token: str) -> None:
            with requests.Session() as http:
                barrier.wait(timeout=60)
                response = http.post(f"{base_url}/api/v1/activities/{activity_id}/signups", timeout=120,
                                     headers={"Authorization": f"Bearer {token}"})
            body = response.json()
            with lock:
                answers.append((response.status_code, body.get("status") or body["error"]["code"]))

        threads = [threading.Thread(target=sign_up, args=(t,)) for t in tokens]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)

        rest = (201, "waitlisted") if waitlist else (409, "full")
        assert Counter(answers) == Counter({(201, "confirmed"): CAPACITY, rest: PEOPLE - CAPACITY})
        with app.app_context():
            assert db.session.get(Slot, slot_id).confirmed_count == CAPACITY
            stored = Counter(db.session.scalars(sa.select(Booking.status).where(Booking.slot_id == slot_id)))
            assert stored == Counter({"confirmed": CAPACITY, **({"waitlisted": PEOPLE - CAPACITY} if waitlist else {})})
            db.session.remove()
