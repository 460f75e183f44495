"""50 people claim the same wish at the same moment, over real HTTP: exactly one wins."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import requests
import sqlalchemy as sa

from backend.auth.service import issue_token
from backend.extensions import db
from backend.orgs.service import create_org
from backend.people.service import add_membership, create_person
from backend.qrcodes.service import create_code
from backend.wishes.models import Wish, WishEvent
from tests.live import serve

CLAIMANTS = 50

pytestmark = pytest.mark.slow   # 50 concurrent requests over real HTTP


def test_fifty_concurrent_claims_one_winner(db_url):
    with serve(db_url) as (base_url, app):
        with app.app_context():
            street = create_org("东湖街道", "street", None)
            community = create_org("和平社区", "community", street)
            grid = create_org("第一网格", "grid", community)
            code = create_code("wish", grid.id, grid, None).code
            tokens = []
            for i in range(CLAIMANTS):
                member = create_person(name=f"党员{i}")
                add_membership(member, community, "party_member")
                tokens.append(issue_token(member)[0])
            db.session.commit()
            db.session.remove()

        created = requests.post(f"{base_url}/api/v1/wishes", timeout=10, json={
            "qr": code, "title": "楼道灯坏了", "content": "3号楼楼道灯不亮", "category": "环境改善", "consent": True})
        assert created.status_code == 201
        wish_id = created.json()["id"]

        barrier = threading.Barrier(CLAIMANTS)
        answers: list[tuple[int, str | None]] = []
        lock = threading.Lock()

        def claim(token: str) -> None:
            with requests.Session() as http:
                barrier.wait(timeout=30)
                response = http.post(f"{base_url}/api/v1/wishes/{wish_id}/claim", timeout=60,
                                     headers={"Authorization": f"Bearer {token}"})
            code = response.json().get("error", {}).get("code") if response.status_code != 200 else None
            with lock:
                answers.append((response.status_code, code))

        threads = [threading.Thread(target=claim, args=(t,)) for t in tokens]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)

        assert Counter(answers) == Counter({(200, None): 1, (409, "already_claimed"): CLAIMANTS - 1})
        with app.app_context():
            wish = db.session.get(Wish, wish_id)
            assert wish.status == "claimed" and wish.claimant_id is not None
            claims = db.session.scalar(sa.select(sa.func.count()).where(
                WishEvent.wish_id == wish_id, WishEvent.action == "claim"))
            assert claims == 1
            db.session.remove()
