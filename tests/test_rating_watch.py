"""Watching the watchers: live scores checked against a full recompute (drift is ledgered,
told to the admins and repaired, never written over quietly), and the ledger's head anchored
outside the database each day — a file, a URL on a fake server on loopback — so a rewritten
ledger, even with every hash recomputed, is named by the first anchor it no longer matches."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.wrappers import Request, Response

from backend.extensions import db, utcnow
from backend.notifications.models import Notification
from backend.orgs.service import create_orgs
from backend.people.actors import load_actor
from backend.rating import anchors, engine, ledger, live, watch
from backend.rating import service as rating
from backend.rating.models import CampaignEntry, CriterionScore, Meeting, RatingPeriod, Scorecard, ScoreEvent
from jobs.__main__ import run_job
from jobs.registry import JOBS
from tests import factories as f
from tests import test_rating
from tests.live import serve_wsgi
from tests.test_rating import card_url, start
from tests.test_rating_pages import logged_in

D = Decimal


world = test_rating.world   # the same street, communities and people as the rating API tests


@pytest.fixture
def admin(world):
    return f.person("系统管理员", username="root", role="admin")


def campaign(client, world) -> dict:
    """Community A in self-evaluation with a manual score, a joint meeting in the first
    quarter, a confirmed wish and a poll answer: every kind of source."""
    orgs, _, headers = world
    period = start(client, world)
    url = card_url(period, orgs["a"])
    assert client.put(f"{url}/criteria/G1", headers=headers["sec_a"],
                      json={"points": 4, "note": "网格划分完成"}).status_code == 200
    db.session.add(Meeting(org_id=orgs["a"].id, kind="joint", held_on=date(date.today().year, 1, 15),
                           topic="共建项目推进", attendance=12))
    db.session.commit()
    wish = client.post("/api/v1/wishes", headers=headers["sec_a"], json={
        "grid_id": orgs["a1"].id, "title": "楼道灯坏了", "content": "三单元二楼楼道灯不亮", "category": "生活帮扶",
        "consent": True}).get_json()
    for action, body in (("claim", {}), ("fulfil", {"note": "已更换灯泡"})):
        assert client.post(f"/api/v1/wishes/{wish['id']}/{action}", headers=headers["leader"],
                           json=body).status_code == 200
    assert client.post(f"/api/v1/wishes/{wish['id']}/confirm",
                       json={"receipt": wish["receipt"], "rating": 5}).status_code == 200
    poll = client.post("/api/v1/polls", headers=headers["officer"], json={
        "org_id": orgs["a"].id, "title": "群众满意度测评", "audience": "mass", "modes": ["device"],
        "opens_at": (date.today() - timedelta(days=1)).isoformat() + "T00:00:00+08:00",
        "closes_at": (date.today() + timedelta(days=7)).isoformat() + "T00:00:00+08:00",
        "questions": [{"text": "总体满意度", "kind": "rating5", "criterion_code": "S5", "weight": 1}]}).get_json()
    assert client.post(f"/api/v1/polls/{poll['id']}/responses", json={
        "device": "phone-0000000001", "answers": [{"question_id": poll["questions"][0]["id"], "value": 5}]},
    ).status_code == 201
    return {**period, "poll": poll}


def card_of(org) -> Scorecard:
    db.session.expire_all()
    return db.session.scalar(sa.select(Scorecard).where(Scorecard.org_id == org.id))


def row(card: Scorecard, code: str) -> CriterionScore:
    return next(c for c in card.criteria if c.code == code)


def drift_entries() -> list[dict]:
    return [json.loads(e.body) for e in db.session.scalars(
        sa.select(CampaignEntry).where(CampaignEntry.kind == "score_drift").order_by(CampaignEntry.seq))]


def told(person, kind: str) -> list[Notification]:
    return db.session.scalars(sa.select(Notification).where(Notification.person_id == person.id,
                                                            Notification.kind == kind)).all()


def run(app, job_id: str) -> None:
    """One scheduled run, as the scheduler makes it: its own app context, session and commit
    (the test's session ends its transaction first, so SQLite's write lock is free)."""
    db.session.commit()
    run_job(app, next(j for j in JOBS if j.id == job_id))


# --- drift ---------------------------------------------------------------------------------------

def test_a_normal_campaign_has_no_drift_even_when_time_moves_its_figures(app, client, world, admin):
    orgs, people, _ = world
    campaign(client, world)
    before = {c.code: c.points for c in card_of(orgs["a"]).criteria}
    # After the year's end every quarter is due: R2's one joint meeting in four moves the score
    # with no write at all. That is time, not drift.
    year_end = datetime(date.today().year + 1, 1, 2, tzinfo=UTC)
    events, drifted = watch.audit_live(cause="定时核算", now=year_end)
    db.session.commit()
    moved = card_of(orgs["a"])
    assert events and drifted == 0 and row(moved, "R2").points < before["R2"]
    # Back to today: each value is checked as of the time it was computed, so no drift either.
    run(app, "rating.check_scores")
    assert live.refresh_live() == 0
    db.session.commit()
    assert {c.code: c.points for c in card_of(orgs["a"]).criteria} == before
    assert drift_entries() == [] and told(admin, "score_drift") == []
    assert ledger.verify(db.session.get(RatingPeriod, moved.period_id))["ok"]


def test_injected_drift_is_ledgered_told_to_admins_and_repaired(app, client, world, admin):
    orgs, people, headers = world
    period = campaign(client, world)
    card = card_of(orgs["a"])
    truth = {c.code: (c.points, c.provisional) for c in card.criteria}
    # A hand in the database: a metric score, a manual score and the total, all raised.
    for code, points in (("S1", 1), ("R2", 5), ("G1", 5)):
        db.session.execute(sa.text("UPDATE criterion_scores SET points = :points, computed_points = :points "
                                   "WHERE scorecard_id = :card "
                                   "AND code = :code"), {"card": card.id, "code": code, "points": points})
    db.session.execute(sa.text("UPDATE scorecards SET total = 99 WHERE id = :card"), {"card": card.id})
    db.session.commit()
    # The hourly refresh is a full recompute too: it records the drift instead of erasing it.
    live.refresh_live()
    db.session.commit()
    [entry] = drift_entries()
    assert entry["org_id"] == orgs["a"].id and entry["data"]["repaired"] is True
    found = {d["what"]: (d["old"], d["new"]) for d in entry["data"]["drift"]}
    assert found["G1"] == ("5.00", "4.00")    # back to what the ledger's manual score says
    assert found["R2"][1] == str(truth["R2"][0]) and found["S1"][1] == str(truth["S1"][0])
    assert found["total"][0] == "99.00"
    repaired = card_of(orgs["a"])
    assert {c.code: (c.points, c.provisional) for c in repaired.criteria} == truth
    assert repaired.total == sum(p for p, _ in truth.values())
    causes = {e.criterion: e.cause for e in db.session.scalars(sa.select(ScoreEvent).where(
        ScoreEvent.cause == watch.REPAIR_CAUSE))}
    assert set(causes) == {"S1", "R2", "G1"}
    [note] = told(admin, "score_drift")
    assert orgs["a"].name in note.message and note.subject_id == period["id"]
    assert logged_in(app, "root").get(f"/h5/rating/{period['id']}").status_code == 200   # where the note leads
    assert told(people["officer"], "score_drift") == []
    # Repaired, and the chain holds with the drift entry in it.
    assert watch.check_scores() == 0
    verify = client.get(f"/api/v1/periods/{period['id']}/ledger/verify", headers=headers["officer"]).get_json()
    assert verify["ok"] and verify["first_bad"] is None


def test_the_nightly_check_counts_poll_tallies_again_from_the_answers(app, client, world, admin):
    orgs, people, _ = world
    period = campaign(client, world)
    s5 = row(card_of(orgs["a"]), "S5")
    assert s5.points == 0 and s5.provisional is not None   # one answer: short of the sample
    db.session.execute(sa.text("UPDATE poll_tallies SET count = count + 40 WHERE poll_id = :poll AND grid_id = 0 "
                               "AND key = '5'"), {"poll": period["poll"]["id"]})
    db.session.commit()
    assert watch.check_scores() == 1
    db.session.commit()
    [entry] = drift_entries()
    [tallies] = entry["data"]["drift"]
    assert tallies["what"] == f"poll_tallies.{period['poll']['id']}"
    assert list(tallies["old"].values()) == [41] and list(tallies["new"].values()) == [1]
    assert row(card_of(orgs["a"]), "S5").points == 0 and len(told(admin, "score_drift")) == 1
    assert watch.check_scores() == 0


def test_publication_goes_through_the_drift_check(app, client, world):
    orgs, _, headers = world
    period = start(client, world, to="audit")
    card = card_of(orgs["b"])
    db.session.execute(sa.text("UPDATE criterion_scores SET points = max_points, computed_points = max_points "
                               "WHERE scorecard_id = :card AND code = 'T1'"), {"card": card.id})
    db.session.commit()
    published = client.post(f"/api/v1/periods/{period['id']}/advance", headers=headers["officer"],
                            json={"from": "audit"})
    assert published.status_code == 200 and published.get_json()["phase"] == "appeal"
    [entry] = drift_entries()
    assert entry["org_id"] == orgs["b"].id and entry["data"]["drift"][0]["what"] == "T1"
    assert row(card_of(orgs["b"]), "T1").points == 0


def test_an_override_stands_through_the_checks_and_a_hand_on_it_is_repaired(app, client, world, admin):
    """The street's override counts instead of the computed value: the hourly and nightly
    checks leave it (it is the ledger's, not drift); an override or a counted value edited in
    the database goes back to what the ledger and the override say."""
    orgs, _, headers = world
    period = start(client, world, to="review")
    url = card_url(period, orgs["a"])
    set_it = client.put(f"{url}/criteria/S1/override", headers=headers["officer"], json={
        "points": 2, "note": "入户核实后核定", "evidence_url": "https://example.org/s1.pdf"})
    assert set_it.status_code == 200, set_it.get_json()
    s1 = row(card_of(orgs["a"]), "S1")
    assert s1.points == D("2") and s1.override_points == D("2")
    live.refresh_live()
    assert watch.check_scores() == 0 and drift_entries() == []
    assert row(card_of(orgs["a"]), "S1").points == D("2")

    card = card_of(orgs["a"])
    db.session.execute(sa.text("UPDATE criterion_scores SET override_points = 3, points = 3 "
                               "WHERE scorecard_id = :card AND code = 'S1'"), {"card": card.id})
    db.session.execute(sa.text("UPDATE criterion_scores SET points = max_points "
                               "WHERE scorecard_id = :card AND code = 'G1'"), {"card": card.id})
    db.session.commit()
    assert watch.check_scores() == 1
    [entry] = drift_entries()
    found = {d["what"]: (d["old"], d["new"]) for d in entry["data"]["drift"]}
    assert found["S1.override"] == ("3.00", "2.00") and found["G1.counted"][1] == "0.00"
    repaired = card_of(orgs["a"])
    assert row(repaired, "S1").points == D("2") and row(repaired, "G1").points == 0
    assert repaired.total == sum(c.points for c in repaired.criteria)


# --- anchors -------------------------------------------------------------------------------------

def anchor_lines(app) -> list[dict]:
    with open(app.config["LEDGER_ANCHOR_PATH"], encoding="utf-8") as file:
        return [json.loads(line) for line in file]


def rewrite(period_id: int, seq: int, old: str, new: str) -> None:
    """What a database holder could do: change an entry and recompute every hash after it."""
    with f.ledger_unguarded() as conn:
        rows = conn.execute(sa.text("SELECT id, seq, body, hash FROM campaign_ledger WHERE period_id = :p "
                                    "ORDER BY seq"), {"p": period_id}).all()
        prev = ledger.GENESIS
        for entry_id, at, body, stored_hash in rows:
            if at < seq:
                prev = stored_hash
                continue
            body = body.replace(old, new) if at == seq else body
            conn.execute(sa.text("UPDATE campaign_ledger SET body = :b, prev_hash = :p, hash = :h WHERE id = :i"),
                         {"b": body, "p": prev, "h": ledger.digest(prev, body), "i": entry_id})
            prev = ledger.digest(prev, body)
        conn.execute(sa.text("UPDATE rating_periods SET ledger_head = :h WHERE id = :p"), {"h": prev, "p": period_id})


def test_anchors_daily_then_a_rewritten_ledger_is_named_by_its_first_anchor(app, client, world, admin):
    orgs, people, headers = world
    period = start(client, world)           # created, self-evaluation opened: 2 entries
    pid = period["id"]
    run(app, "rating.anchor_ledgers")
    assert client.put(f"{card_url(period, orgs['a'])}/criteria/G1", headers=headers["sec_a"],
                      json={"points": 4, "note": "初评"}).status_code == 200
    run(app, "rating.anchor_ledgers")
    lines = anchor_lines(app)
    head = db.session.get(RatingPeriod, pid)
    assert [(a["period_id"], a["seq"]) for a in lines] == [(pid, 2), (pid, 3)]
    assert lines[1]["hash"] == head.ledger_head and datetime.fromisoformat(lines[1]["at"]).utcoffset()
    verify = f"/api/v1/periods/{pid}/ledger/verify"
    good = client.get(verify, headers=headers["officer"]).get_json()
    assert good["ok"] and [a["ok"] for a in good["anchors"]] == [True, True] and good["first_bad_anchor"] is None
    officer = logged_in(app, "officer")
    assert "与 2 份外部存证相符" in officer.get(f"/h5/rating/{pid}").get_data(as_text=True)
    runner = app.test_cli_runner()
    checked = runner.invoke(args=["ledger-verify", "--period", str(pid)])
    assert checked.exit_code == 0 and checked.output.count("matches") == 2

    # The manual score of entry 3 becomes 5, every hash after it recomputed: the walk alone holds.
    rewrite(pid, 3, '"new":"4.00"', '"new":"5.00"')

    bad = client.get(verify, headers=headers["officer"]).get_json()
    assert not bad["ok"] and bad["first_bad"] is None
    assert [a["ok"] for a in bad["anchors"]] == [True, False]
    assert bad["first_bad_anchor"]["line"] == 2 and "改写" in bad["first_bad_anchor"]["reason"]
    page = officer.get(f"/h5/rating/{pid}").get_data(as_text=True)
    assert "的外部存证不符" in page and "改写" in page
    failed = runner.invoke(args=["ledger-verify"])
    assert failed.exit_code == 1 and "DOES NOT MATCH" in failed.output
    assert "first anchor that no longer matches: line 2" in failed.output
    # Nothing is anchored over a rewritten ledger; the admins hear of it once.
    for _ in range(2):
        run(app, "rating.anchor_ledgers")
    assert len(anchor_lines(app)) == 2
    [note] = told(admin, "ledger_mismatch")
    assert "台账校验未通过" in note.message


def test_a_copy_of_the_anchors_and_deleted_entries(app, client, world, tmp_path):
    orgs, _, headers = world
    period = start(client, world)
    pid = period["id"]
    assert client.put(f"{card_url(period, orgs['a'])}/criteria/G1", headers=headers["sec_a"],
                      json={"points": 4, "note": "初评"}).status_code == 200
    anchored = app.test_cli_runner().invoke(args=["ledger-anchor"])
    assert anchored.exit_code == 0 and "'anchored': 1" in anchored.output
    copy = tmp_path / "kept-by-the-street.jsonl"
    copy.write_text(Path(app.config["LEDGER_ANCHOR_PATH"]).read_text(encoding="utf-8") + "not json\n")
    with f.ledger_unguarded() as conn:
        conn.execute(sa.text("DELETE FROM campaign_ledger WHERE period_id = :p AND seq = 3"), {"p": pid})
        head = conn.scalar(sa.text("SELECT hash FROM campaign_ledger WHERE period_id = :p AND seq = 2"), {"p": pid})
        conn.execute(sa.text("UPDATE rating_periods SET ledger_seq = 2, ledger_head = :h WHERE id = :p"),
                     {"h": head, "p": pid})
    result = anchors.verified(db.session.get(RatingPeriod, pid), str(copy))
    assert result["first_bad"] is None and result["anchors_unreadable"] == 1
    assert not result["ok"] and "记录被删除" in result["first_bad_anchor"]["reason"]
    checked = app.test_cli_runner().invoke(args=["ledger-verify", "--anchors", str(copy)])
    assert checked.exit_code == 1 and "1 unreadable lines" in checked.output


class FakeAnchorServer:
    """Keeps what is POSTed to /anchors; fails the next n calls on demand."""

    def __init__(self):
        self.received: list[dict] = []
        self.failures = 0
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        request = Request(environ)
        with self.lock:
            if request.method != "POST" or request.path != "/anchors":
                return Response("not found", status=404)(environ, start_response)
            if self.failures:
                self.failures -= 1
                return Response("busy", status=503)(environ, start_response)
            self.received.append(request.get_json())
        return Response("{}", mimetype="application/json")(environ, start_response)


def test_url_anchor_to_a_fake_server_that_fails_then_answers(app, client, world, caplog):
    start(client, world)
    fake = FakeAnchorServer()
    with serve_wsgi(fake) as base_url:
        app.config["LEDGER_ANCHOR_URL"] = f"{base_url}/anchors"
        fake.failures = 1
        failed = anchors.anchor_ledgers()
        assert failed == {"anchored": 1, "file": True, "url": False}
        assert "tried again tomorrow" in caplog.text and fake.received == []
        assert anchors.anchor_ledgers(utcnow() + timedelta(days=1))["url"] is True
    [body] = fake.received
    [sent] = body["anchors"]
    assert sent == anchor_lines(app)[1] and sent["hash"] == db.session.get(RatingPeriod, sent["period_id"]).ledger_head
    # The server gone altogether: logged, the job still ends well and the file still grows.
    caplog.clear()
    run(app, "rating.anchor_ledgers")
    assert "tried again tomorrow" in caplog.text and "job rating.anchor_ledgers failed" not in caplog.text
    assert len(anchor_lines(app)) == 3


# --- jobs in small units ---------------------------------------------------------------------------

def test_the_hourly_refresh_lets_web_writes_through_between_its_units(app, db_url, monkeypatch):
    """Each scorecard is made slow (0.07 s under its lock) over 60 scorecards: a refresh that
    held SQLite's write lock for its whole run (4.2 s or more) would make a writer with a
    2 s busy timeout fail with "database is locked"; in units, every write goes through."""
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL locks rows, not the database: unrelated writes never wait for the job")
    street = f.org("东湖街道", "street")
    communities = create_orgs([(f"社区{i:02d}", "community", street) for i in range(60)])
    officer = f.person("周海", username="officer", role="street_officer", org=street)
    actor = load_actor(officer.id)
    period = rating.create_period(actor, name="分批核算", year=date.today().year, rubric_code="wuhua-2019",
                                  org_ids=[c.id for c in communities])
    rating.advance(actor, period, "self_evaluation")
    street_id = street.id
    db.session.commit()
    compute = engine.compute

    def slow(*args, **kwargs):
        time.sleep(0.07)
        return compute(*args, **kwargs)

    monkeypatch.setattr(engine, "compute", slow)
    done = threading.Event()
    failures: list[BaseException] = []

    def job():
        try:
            with app.app_context():
                live.refresh_live()
                db.session.commit()
        except BaseException as exc:  # noqa: BLE001 - the test thread reports it
            failures.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=job)
    thread.start()
    writer = sqlite3.connect(db_url.removeprefix("sqlite:///"), timeout=2, isolation_level=None)
    writes = 0
    try:
        while not done.is_set():
            writer.execute("UPDATE orgs SET households = ? WHERE id = ?", (writes, street_id))
            writes += 1
            time.sleep(0.05)
    finally:
        writer.close()
        thread.join(timeout=120)
    assert not failures and writes >= 5
