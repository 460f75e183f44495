"""Micro-wishes: the state machine as a table, permissions, contact privacy, rules, statistics."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from backend.core.errors import Conflict, NotFound
from backend.core.permissions import Actor
from backend.extensions import db, utcnow
from backend.notifications.models import Notification
from backend.orgs.models import Org
from backend.people.actors import load_actor
from backend.qrcodes.models import QrCode
from backend.wishes import service
from backend.wishes.models import Wish, WishContactView, WishStatus
from jobs.registry import JOBS
from tests import factories as f
from tests.test_csrf_session import csrf_from, h5_login

S = WishStatus
WISH = {"title": "楼道灯坏了", "content": "3号楼2单元楼道灯不亮", "category": "环境改善", "urgency": 2,
        "contact_name": "王阿姨", "contact_phone": "13912345678", "consent": True}


@pytest.fixture
def w(app, client):
    return f.WishWorld(client)


def submit(client, w, **extra):
    response = client.post("/api/v1/wishes", json={**WISH, "qr": w.qr, **extra})
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def actor(w, key) -> Actor:
    return load_actor(w.people[key].id)


def in_state(client, w, status: WishStatus) -> tuple[Wish, str]:
    """A wish of grid a1 in `status`; claimed/fulfilled ones are held by `member`."""
    body = submit(client, w)
    wish = db.session.get(Wish, body["id"])
    values = {"status": status.value}
    if status in (S.claimed, S.fulfilled):
        values |= {"claimant_id": w.people["member"].id, "claimed_at": utcnow(), "last_progress_at": utcnow()}
    if status == S.fulfilled:
        values["fulfilled_at"] = utcnow()
    db.session.execute(sa.update(Wish).where(Wish.id == wish.id).values(**values))
    db.session.commit()
    db.session.refresh(wish)
    return wish, body["receipt"]


ACTIONS = {
    "publish": lambda w, wish, receipt: service.publish(actor(w, "leader"), wish),
    "reject": lambda w, wish, receipt: service.reject(actor(w, "leader"), wish, "与本网格无关"),
    "claim": lambda w, wish, receipt: service.claim(actor(w, "member2"), wish),
    "assign": lambda w, wish, receipt: service.assign(actor(w, "leader"), wish, w.people["member2"]),
    "release": lambda w, wish, receipt: service.release(actor(w, "leader"), wish),
    "fulfil": lambda w, wish, receipt: service.fulfil(actor(w, "member"), wish, "已更换灯泡"),
    "reopen": lambda w, wish, receipt: service.reopen(wish, "灯还是不亮"),
    "confirm": lambda w, wish, receipt: service.confirm(wish, 5, "谢谢"),
    "cancel": lambda w, wish, receipt: service.cancel(wish),
}


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("action", list(ACTIONS))
def test_state_machine_table(client, w, status, action):
    """Every state × every action: the new state from TRANSITIONS, or 409 with the right code."""
    wish, receipt = in_state(client, w, status)
    sources, target = service.TRANSITIONS[action]
    if status == S.pending_review and action in ("claim", "fulfil"):
        # a party member does not see unreviewed wishes at all
        with pytest.raises(NotFound):
            ACTIONS[action](w, wish, receipt)
    elif status in sources:
        ACTIONS[action](w, wish, receipt)
        db.session.commit()
        assert db.session.get(Wish, wish.id).status == target
        assert wish.events[-1].action == action
    else:
        with pytest.raises(Conflict) as caught:
            ACTIONS[action](w, wish, receipt)
        expected = "already_claimed" if action in ("claim", "assign") and status == S.claimed else "invalid_state"
        assert caught.value.code == expected
        db.session.rollback()
        assert db.session.get(Wish, wish.id).status == status


def test_full_flow_through_the_api(client, w):
    body = submit(client, w)
    assert body["status"] == "open" and body["receipt"] and body["contact_phone"] == "13912345678"
    wish_id, receipt = body["id"], body["receipt"]
    board = client.get("/api/v1/wishes?status=open", headers=w.headers["member"]).get_json()
    assert [item["id"] for item in board["items"]] == [wish_id]
    claimed = client.post(f"/api/v1/wishes/{wish_id}/claim", headers=w.headers["member"])
    assert claimed.status_code == 200 and claimed.get_json()["is_mine"]
    mine = client.get("/api/v1/wishes?mine=true", headers=w.headers["member"]).get_json()
    assert mine["total"] == 1
    fulfilled = client.post(f"/api/v1/wishes/{wish_id}/fulfil", json={"note": "已更换灯泡"},
                            headers=w.headers["member"])
    assert fulfilled.get_json()["status"] == "fulfilled"
    public = client.get(f"/api/v1/wishes/{wish_id}?receipt={receipt}").get_json()
    assert public["claimant_label"] == "党员 刘**"
    assert [e["actor_label"] for e in public["events"]] == ["居民", "党员 刘**", "党员 刘**"]
    confirmed = client.post(f"/api/v1/wishes/{wish_id}/confirm",
                            json={"receipt": receipt, "rating": 5, "comment": "好"})
    assert confirmed.status_code == 200
    assert confirmed.get_json()["status"] == "confirmed" and confirmed.get_json()["rating"] == 5


def test_double_submit_creates_one_wish(client, w):
    token = "t" * 24
    first = client.post("/api/v1/wishes", json={**WISH, "qr": w.qr, "submit_token": token})
    second = client.post("/api/v1/wishes", json={**WISH, "qr": w.qr, "submit_token": token})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.get_json()["id"] == second.get_json()["id"]
    assert first.get_json()["receipt"] == second.get_json()["receipt"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Wish)) == 1


@pytest.mark.parametrize(("change", "code"), [
    ({"consent": False}, "consent_required"),
    ({"category": "买菜"}, "validation_error"),
    ({"contact_phone": "12345"}, "validation_error"),
    ({"title": ""}, "validation_error"),
    ({"grid_id": 1}, "validation_error"),
    ({"qr": "no-such-code"}, "unknown_code"),
])
def test_bad_submissions(client, w, change, code):
    response = client.post("/api/v1/wishes", json={**WISH, "qr": w.qr, **change})
    assert response.status_code in (404, 422)
    assert response.get_json()["error"]["code"] == code
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Wish)) == 0


def test_revoked_code_takes_no_wish(client, w):
    db.session.execute(sa.update(QrCode).values(is_active=False))
    db.session.commit()
    response = client.post("/api/v1/wishes", json={**WISH, "qr": w.qr})
    assert response.status_code == 410


def test_grid_leader_submits_for_a_resident_and_cannot_claim_it(client, w):
    response = client.post("/api/v1/wishes", json={**WISH, "grid_id": w.orgs["a1"].id}, headers=w.headers["leader"])
    assert response.status_code == 201
    body = response.get_json()
    assert body["channel"] == "staff_proxy"
    assert body["events"][0]["note"] == "代居民提交"
    own = client.post(f"/api/v1/wishes/{body['id']}/claim", headers=w.headers["leader"])
    assert own.status_code == 409 and own.get_json()["error"]["code"] == "own_wish"
    assert client.post("/api/v1/wishes", json={**WISH, "grid_id": w.orgs["a1"].id}).status_code == 401


def test_other_community_gets_404(client, w):
    wish_id = submit(client, w)["id"]
    for method, url in (("get", f"/api/v1/wishes/{wish_id}"), ("post", f"/api/v1/wishes/{wish_id}/claim"),
                        ("post", f"/api/v1/wishes/{wish_id}/release")):
        response = getattr(client, method)(url, headers=w.headers["leader_b"])
        assert response.status_code == 404, url
    assert client.get("/api/v1/wishes", headers=w.headers["leader_b"]).get_json()["total"] == 0


def test_boards_of_one_shape_share_their_statements(client, w):
    """Two grid leaders' boards are one statement, built once, run with each one's grid."""
    ours, theirs = service.board(actor(w, "leader")), service.board(actor(w, "leader_b"))
    assert ours.stmt is theirs.stmt and ours.params != theirs.params
    assert service.listed(ours).stmt is service.listed(theirs).stmt
    submit(client, w)
    assert [len(db.session.scalars(*board).all()) for board in (ours, theirs)] == [1, 0]


def test_resident_without_receipt_sees_nothing(client, w):
    body = submit(client, w)
    assert client.get(f"/api/v1/wishes/{body['id']}").status_code == 401
    assert client.get(f"/api/v1/wishes/{body['id']}?receipt=wrong").status_code == 404
    other = submit(client, w, submit_token="x" * 24)
    assert client.get(f"/api/v1/wishes/{body['id']}?receipt={other['receipt']}").status_code == 404
    assert client.get(f"/api/v1/wishes/{body['id']}", headers=w.headers["resident"]).status_code == 404
    assert client.get("/api/v1/wishes", headers=w.headers["resident"]).get_json()["total"] == 0
    assert client.post(f"/api/v1/wishes/{body['id']}/confirm",
                       json={"receipt": other["receipt"], "rating": 5}).status_code == 404


def test_contact_details_full_only_for_claimant_and_grid_leader(client, w):
    wish_id = submit(client, w)["id"]

    def phone(key):
        return client.get(f"/api/v1/wishes/{wish_id}", headers=w.headers[key]).get_json()["contact_phone"]

    assert phone("member") == "139****5678"
    assert phone("secretary") == "139****5678"
    assert phone("leader") == "13912345678"
    client.post(f"/api/v1/wishes/{wish_id}/claim", headers=w.headers["member"])
    assert phone("member") == "13912345678"
    assert phone("member2") == "139****5678"
    listed = client.get("/api/v1/wishes", headers=w.headers["member2"]).get_json()["items"][0]
    assert listed["contact_phone"] == "139****5678" and listed["contact_name"] == "王**"
    views = db.session.scalars(sa.select(WishContactView.person_id).order_by(WishContactView.id)).all()
    # the leader's read, the claim's own answer, the claimant's read: each full view is logged
    assert views == [w.people["leader"].id, w.people["member"].id, w.people["member"].id]


def test_claim_limit_per_person(app, client, w):
    app.config["WISH_MAX_ACTIVE_CLAIMS"] = 1
    first, second = submit(client, w)["id"], submit(client, w, submit_token="y" * 24)["id"]
    assert client.post(f"/api/v1/wishes/{first}/claim", headers=w.headers["member"]).status_code == 200
    refused = client.post(f"/api/v1/wishes/{second}/claim", headers=w.headers["member"])
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "too_many_claims"


def test_only_the_claimant_fulfils_and_only_eligible_people_are_assigned(client, w):
    wish_id = submit(client, w)["id"]
    client.post(f"/api/v1/wishes/{wish_id}/claim", headers=w.headers["member"])
    other = client.post(f"/api/v1/wishes/{wish_id}/fulfil", json={"note": "办好了"}, headers=w.headers["member2"])
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "not_claimant"
    released = client.post(f"/api/v1/wishes/{wish_id}/release", json={}, headers=w.headers["member2"])
    assert released.status_code == 403
    assert client.post(f"/api/v1/wishes/{wish_id}/release", json={}, headers=w.headers["leader"]).status_code == 200
    wrong = client.post(f"/api/v1/wishes/{wish_id}/assign", json={"person_id": w.people["leader_b"].id},
                        headers=w.headers["leader"])
    assert wrong.status_code == 422 and wrong.get_json()["error"]["code"] == "not_eligible"
    assert client.post(f"/api/v1/wishes/{wish_id}/assign", json={"person_id": w.people["member2"].id},
                       headers=w.headers["member"]).status_code == 403
    assigned = client.post(f"/api/v1/wishes/{wish_id}/assign", json={"person_id": w.people["member2"].id},
                           headers=w.headers["leader"])
    assert assigned.status_code == 200
    note = db.session.scalar(sa.select(Notification).where(Notification.kind == "wish_assigned"))
    assert note.person_id == w.people["member2"].id


def test_moderation_holds_new_wishes_for_review(client, w):
    w.orgs["a"].wish_moderation = True
    db.session.commit()
    body = submit(client, w)
    assert body["status"] == "pending_review"
    # party members do not see unreviewed content at all
    assert client.post(f"/api/v1/wishes/{body['id']}/claim", headers=w.headers["member"]).status_code == 404
    assert client.get("/api/v1/wishes", headers=w.headers["member"]).get_json()["total"] == 0
    assert client.get("/api/v1/wishes", headers=w.headers["leader"]).get_json()["total"] == 1
    refused = client.post(f"/api/v1/wishes/{body['id']}/claim", headers=w.headers["leader"])
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "invalid_state"
    published = client.post(f"/api/v1/wishes/{body['id']}/publish", headers=w.headers["leader"])
    assert published.get_json()["status"] == "open"


def test_reject_needs_a_reason_the_resident_sees(client, w):
    body = submit(client, w)
    assert client.post(f"/api/v1/wishes/{body['id']}/reject", json={}, headers=w.headers["leader"]).status_code == 422
    client.post(f"/api/v1/wishes/{body['id']}/reject", json={"reason": "属于物业报修范围"}, headers=w.headers["leader"])
    public = client.get(f"/api/v1/wishes/{body['id']}?receipt={body['receipt']}").get_json()
    assert public["status"] == "rejected" and public["reject_reason"] == "属于物业报修范围"


# --- rules ---------------------------------------------------------------------------------

def test_stale_claim_is_released(client, w, app):
    wish, _ = in_state(client, w, S.claimed)
    hours = app.config["WISH_CLAIM_STALE_HOURS"]
    db.session.execute(sa.update(Wish).values(last_progress_at=utcnow() - timedelta(hours=hours + 1)))
    db.session.commit()
    assert service.release_stale_claims() == 1
    db.session.commit()
    db.session.refresh(wish)
    assert wish.status == S.open and wish.claimant_id is None
    assert wish.events[-1].action == "claim_expired" and wish.events[-1].actor_label == "系统"
    assert db.session.scalar(sa.select(Notification.person_id).where(Notification.kind == "wish_claim_expired")) \
        == w.people["member"].id
    assert service.release_stale_claims() == 0


def test_unclaimed_or_overdue_wishes_alert_the_secretary_once(client, w, app):
    old = submit(client, w)["id"]
    late = submit(client, w, submit_token="z" * 24)["id"]
    fresh = submit(client, w, submit_token="q" * 24)["id"]
    hours = app.config["WISH_ESCALATE_UNCLAIMED_HOURS"]
    db.session.execute(sa.update(Wish).where(Wish.id == old).values(created_at=utcnow() - timedelta(hours=hours + 1)))
    db.session.execute(sa.update(Wish).where(Wish.id == late).values(
        status="claimed", claimant_id=w.people["member"].id, due_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    assert service.escalate() == 2
    db.session.commit()
    notes = db.session.scalars(sa.select(Notification).where(Notification.kind == "wish_escalated")).all()
    assert sorted(n.subject_id for n in notes) == sorted([old, late])
    assert {n.person_id for n in notes} == {w.people["secretary"].id}
    assert db.session.get(Wish, fresh).escalated_at is None
    assert service.escalate() == 0


def test_unanswered_fulfilled_wish_is_confirmed_automatically(client, w, app):
    wish, _ = in_state(client, w, S.fulfilled)
    days = app.config["WISH_AUTO_CONFIRM_DAYS"]
    db.session.execute(sa.update(Wish).values(fulfilled_at=utcnow() - timedelta(days=days, minutes=1)))
    db.session.commit()
    assert service.auto_confirm() == 1
    db.session.commit()
    db.session.refresh(wish)
    assert wish.status == S.confirmed and wish.auto_confirmed and wish.rating is None
    assert wish.events[-1].action == "auto_confirmed"


def test_contact_details_are_erased_after_closing(client, w, app):
    wish, receipt = in_state(client, w, S.fulfilled)
    service.confirm(wish, 4)
    db.session.commit()
    assert service.erase_contacts() == 0
    days = app.config["WISH_CONTACT_RETENTION_DAYS"]
    db.session.execute(sa.update(Wish).values(closed_at=utcnow() - timedelta(days=days + 1)))
    db.session.commit()
    assert service.erase_contacts() == 1
    db.session.commit()
    db.session.refresh(wish)
    assert wish.contact_name is None and wish.contact_phone is None and wish.contact_erased_at
    assert wish.title == "楼道灯坏了"  # the wish itself stays for the statistics


def test_rules_are_scheduled_jobs():
    ids = {job.id for job in JOBS}
    assert {"wishes.release_stale_claims", "wishes.escalate", "wishes.auto_confirm", "wishes.erase_contacts"} <= ids


# --- statistics ------------------------------------------------------------------------------

T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)


def _made(client, w, grid, *, claim_h=None, fulfil_h=None, rating=None, status=None, due_h=72):
    body = submit(client, w, submit_token=secrets.token_urlsafe(24))
    values = {"grid_id": grid.id, "community_id": grid.parent_id, "created_at": T0,
              "due_at": T0 + timedelta(hours=due_h)}
    if claim_h is not None:
        values |= {"first_claimed_at": T0 + timedelta(hours=claim_h), "status": "claimed",
                   "claimant_id": w.people["member"].id}
    if fulfil_h is not None:
        values |= {"fulfilled_at": T0 + timedelta(hours=fulfil_h), "status": "fulfilled"}
    if rating is not None:
        values |= {"status": "confirmed", "rating": rating, "confirmed_at": T0 + timedelta(days=5)}
    if status:
        values["status"] = status
    db.session.execute(sa.update(Wish).where(Wish.id == body["id"]).values(**values))
    db.session.commit()


def test_wish_statistics_for_grid_community_and_street(client, w):
    a1, a2, b1 = w.orgs["a1"], w.orgs["a2"], w.orgs["b1"]
    _made(client, w, a1, claim_h=2, fulfil_h=10, rating=5)
    _made(client, w, a1, claim_h=4, fulfil_h=100, rating=3)        # fulfilled after its due time
    _made(client, w, a2, claim_h=6)                                  # claimed, not yet done, past due
    _made(client, w, a2, status="rejected")       # counted: the street has not upheld it; never claimed
    _made(client, w, b1, claim_h=1, fulfil_h=5)
    start, end = T0 - timedelta(days=1), T0 + timedelta(days=30)
    now = T0 + timedelta(days=10)

    community = service.wish_stats(w.orgs["a"], start, end, now)
    assert community["submitted"] == 4 and community["counted"] == 4 and community["rejected"] == 1
    assert community["fulfilled"] == 2 and community["confirmed"] == 2 and community["confirmed_credit"] == 2
    assert community["fulfilment_rate"] == 0.5
    assert community["median_hours_to_claim"] == 5   # 2, 4, 6 and the rejected one's 240 hours of waiting
    assert community["median_hours_to_fulfil"] == 55
    assert community["mean_rating"] == 4 and community["ratings"] == 2
    assert community["overdue"] == 2
    assert (community["decided"], community["closed_on_time"]) == (4, 1)

    grid = service.wish_stats(a1, start, end, now)
    assert (grid["submitted"], grid["fulfilled"], grid["overdue"]) == (2, 2, 1)
    street = service.wish_stats(w.orgs["street"], start, end, now)
    assert (street["submitted"], street["fulfilled"]) == (5, 3)
    empty = service.wish_stats(w.orgs["a"], T0 + timedelta(days=1), end, now)
    assert empty["submitted"] == 0 and empty["fulfilment_rate"] is None and empty["mean_rating"] is None


def test_wish_stats_api(client, w):
    _made(client, w, w.orgs["a1"], claim_h=2, fulfil_h=10, rating=5)
    url = f"/api/v1/orgs/{w.orgs['a'].id}/wish-stats?from=2026-03-01&to=2026-03-31"
    body = client.get(url, headers=w.headers["secretary"]).get_json()
    assert body["submitted"] == 1 and body["mean_rating"] == 5
    assert body["from"].startswith("2026-03-01T00:00:00+08:00")
    outside = client.get(url.replace("2026-03-01", "2026-04-01").replace("2026-03-31", "2026-04-30"),
                         headers=w.headers["secretary"]).get_json()
    assert outside["submitted"] == 0
    assert client.get(url, headers=w.headers["leader_b"]).status_code == 404
    bad = client.get(f"/api/v1/orgs/{w.orgs['a'].id}/wish-stats?from=2026-05-01&to=2026-04-01",
                     headers=w.headers["secretary"])
    assert bad.status_code == 422


def test_public_community_page_has_no_personal_data(client, w):
    wish, receipt = in_state(client, w, S.fulfilled)
    service.confirm(wish, 5, "王阿姨很满意")
    db.session.commit()
    page = client.get(f"/h5/c/{w.orgs['a'].id}/wishes").get_data(as_text=True)
    assert "楼道灯坏了" in page and "★★★★★" in page
    for private in ("王阿姨", "139", "刘志刚", "王阿姨很满意"):
        assert private not in page
    assert client.get(f"/h5/c/{w.orgs['a1'].id}/wishes").status_code == 404
    assert db.session.get(Org, w.orgs["a"].id) is not None


def test_who_writes_a_wish_down_for_a_resident_on_both_faces(client, w):
    """One rule (org.wishes.submit_for_resident: the grid's leader and members) on both faces.
    The API also counted a secretary's wish as written down for a resident; now it is their own."""
    grid = w.orgs["a1"]
    f.person("孙丽", username="grid_member", role="grid_member", org=grid)
    by_secretary = client.post("/api/v1/wishes", json={**WISH, "grid_id": grid.id}, headers=w.headers["secretary"])
    assert by_secretary.status_code == 201
    body = by_secretary.get_json()
    assert body["channel"] == "api" and body["events"][0]["actor_label"] == "居民"
    by_member = client.post("/api/v1/wishes", json={**WISH, "grid_id": grid.id, "submit_token": "m" * 24},
                            headers=f.login(client, "grid_member"))
    assert by_member.get_json()["channel"] == "staff_proxy"

    secretary = client.application.test_client()
    h5_login(secretary, "secretary")
    assert secretary.get(f"/h5/w/new?grid={grid.id}").status_code == 404
    member = client.application.test_client()
    h5_login(member, "grid_member")
    form = member.get(f"/h5/w/new?grid={grid.id}")
    assert form.status_code == 200
    data = {**WISH, "consent": "on", "urgency": "2", "submit_token": "p" * 24, "csrf_token": csrf_from(form)}
    assert member.post(f"/h5/w/new?grid={grid.id}", data=data).status_code == 302
    made = db.session.scalar(sa.select(Wish).order_by(Wish.id.desc()).limit(1))
    assert made.channel == "staff_proxy" and made.events[0].note == "代居民提交"


def test_assigning_to_someone_unknown_says_the_same_on_both_faces(client, w):
    wish_id = submit(client, w)["id"]
    refused = client.post(f"/api/v1/wishes/{wish_id}/assign", json={"person_id": 99999}, headers=w.headers["leader"])
    assert refused.status_code == 404 and refused.get_json()["error"]["message"] == "找不到该成员"
    h5_login(client, "leader")
    token = csrf_from(client.get(f"/h5/tasks/{wish_id}"))
    page = client.post(f"/h5/tasks/{wish_id}/assign", data={"csrf_token": token, "person_id": "99999"})
    assert "找不到该成员" in client.get(page.headers["Location"]).get_data(as_text=True)
    assert db.session.get(Wish, wish_id).status == S.open


def test_notes_and_ratings_are_asked_for_by_the_service_on_both_faces(client, w):
    """The pages checked notes, reasons and stars themselves; now the service does, for both."""
    body = submit(client, w)
    wish_id, receipt = body["id"], body["receipt"]
    assert client.post(f"/api/v1/wishes/{wish_id}/reject", json={"reason": " "},
                       headers=w.headers["leader"]).status_code == 422
    h5_login(client, "leader")
    token = csrf_from(client.get(f"/h5/tasks/{wish_id}"))
    refused = client.post(f"/h5/tasks/{wish_id}/reject", data={"csrf_token": token, "reason": " "})
    assert "请填写说明（至少 2 个字）" in client.get(refused.headers["Location"]).get_data(as_text=True)
    client.post(f"/h5/tasks/{wish_id}/claim", data={"csrf_token": token})
    refused = client.post(f"/h5/tasks/{wish_id}/fulfil", data={"csrf_token": token, "note": ""})
    assert "请填写说明（至少 2 个字）" in client.get(refused.headers["Location"]).get_data(as_text=True)
    assert db.session.get(Wish, wish_id).status == S.claimed
    client.post(f"/h5/tasks/{wish_id}/fulfil", data={"csrf_token": token, "note": "已更换灯泡"})

    resident = client.application.test_client()
    page = resident.get(f"/h5/w/r/{receipt}")
    token = csrf_from(page)
    for action, data, message in (("confirm", {}, "请点选 1–5 颗星再提交"),
                                  ("reopen", {"note": "灯"}, "请写一句还有什么没办好")):
        refused = resident.post(f"/h5/w/r/{receipt}/{action}", data={"csrf_token": token, **data})
        assert message in resident.get(refused.headers["Location"]).get_data(as_text=True)
    assert resident.post(f"/api/v1/wishes/{wish_id}/confirm", json={"receipt": receipt}).status_code == 422
    assert resident.post(f"/api/v1/wishes/{wish_id}/reopen", json={"receipt": receipt, "note": "灯"}).status_code == 422
    assert db.session.get(Wish, wish_id).status == S.fulfilled
