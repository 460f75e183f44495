"""Live boards over HTTP and what they say: who may open which board, the board fragment
live.js swaps in, "距下一颗星" computed from the rubric, and the street's board (quota
lines, who sits near a cut-off, polls short of answers, overdue wishes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from backend.extensions import db
from backend.people.actors import load_actor
from backend.polls.presets import PRESETS
from backend.rating import dashboard, service
from backend.rating.models import RatingPeriod
from backend.wishes import service as wishes
from tests import test_rating
from tests.test_csrf_session import h5_login
from tests.test_rating import start

world = test_rating.world


def board(period_id: int) -> RatingPeriod:
    return db.session.get(RatingPeriod, period_id)


def test_who_opens_which_board(app, client, world):
    orgs, _, _ = world
    period = start(client, world)
    secretary, officer = app.test_client(), app.test_client()
    h5_login(secretary, "sec_a")
    h5_login(officer, "officer")
    page = secretary.get(f"/h5/rating/{period['id']}/orgs/{orgs['a'].id}/live").get_data(as_text=True)
    assert f"/api/v1/periods/{period['id']}/scorecards/{orgs['a'].id}/stream?after=" in page
    assert "距下一颗星" in page and "live.js" in page
    part = secretary.get(f"/h5/rating/{period['id']}/orgs/{orgs['a'].id}/live?part=1")
    assert part.headers["Cache-Control"] == "no-store" and "<html" not in part.get_data(as_text=True)
    assert secretary.get(f"/h5/rating/{period['id']}/orgs/{orgs['b'].id}/live").status_code == 404
    assert secretary.get(f"/h5/rating/{period['id']}/live").status_code == 403
    street = officer.get(f"/h5/rating/{period['id']}/live").get_data(as_text=True)
    assert f"/api/v1/periods/{period['id']}/stream?after=" in street and orgs["b"].name in street


def test_next_star_in_words(client, world):
    orgs, people, _ = world
    period = start(client, world)
    secretary = load_actor(people["sec_a"].id)
    card = service.scorecard(board(period["id"]), orgs["a"].id)
    for code, points in (("G1", 5), ("G2", 3), ("G4", 3)):
        service.enter_score(secretary, card, code, points=Decimal(points), note="自评")
    db.session.commit()
    advice = dashboard.next_star(card)
    # G stands at 11 of 20: five points short. G3 (6 points, grids with a leader and a team:
    # 0 % now, full at 100 %, zero at 50 %) could give all five: 5/6 of the way is 91.7 %.
    # G5 (a poll, 3 points) at most three: 95 % satisfaction.
    assert advice == {"standard": "组织网格化", "gap": "5", "steps": [
        "有网格长和服务团队的网格占比需达到 91.7%（目前 0.0%）",
        "「党员对网格工作的评价」满意率需达到 95.0%（可得 3 分）"]}


def test_street_board_quota_lines_cut_offs_polls_and_overdue_wishes(client, world):
    orgs, people, headers = world
    period = start(client, world)
    poll = client.post("/api/v1/polls", headers=headers["officer"], json={
        **PRESETS["mass"], "org_id": orgs["a"].id, "modes": ["code"],
        "opens_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "closes_at": (datetime.now(UTC) + timedelta(days=7)).isoformat()}).get_json()
    late = wishes.submit(grid=orgs["a1"], title="路灯不亮", content="小区东门路灯不亮", category="环境改善",
                         consent=True).wish
    late.due_at = datetime.now(UTC) - timedelta(hours=1)
    db.session.commit()
    # Two four-star orgs on a two-org campaign: floor(30 % × 2) = 0 four-star places.
    for org, total, g in ((orgs["a"], "80.00", "15.50"), (orgs["b"], "79.50", "16.00")):
        card = service.scorecard(board(period["id"]), org.id)
        card.stars, card.total = 4, Decimal(total)
        card.standards = {**card.standards, "G": g}
    db.session.commit()

    summary = dashboard.campaign_summary(board(period["id"]))
    assert [r["org"] for r in summary["ranking"]] == [orgs["a"].name, orgs["b"].name]
    four = next(d for d in summary["distribution"] if d["stars"] == 4)
    assert (four["count"], four["quota"]) == (2, 0)
    near = {n["org"]: n["reasons"] for n in summary["near"]}
    assert near[orgs["a"].name][0] == "组织网格化还差 0.5 分得星"
    # What finalisation would do, in apply_quotas' own words.
    assert near[orgs["a"].name][1].startswith("按名额将定为三星：")
    assert near[orgs["b"].name][0].startswith("按名额将定为三星：")
    assert summary["short_polls"] == [{"poll_id": poll["id"], "title": poll["title"], "count": 0, "minimum": 30}]
    assert summary["overdue"] == {orgs["a"].id: 1, orgs["b"].id: 0}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RatingPeriod)) == 1
