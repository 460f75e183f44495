"""Polls: audience, once per respondent, the window, anonymity, small groups, bursts, and
running tallies that always equal a full recompute."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import requests
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.auth.service import issue_token
from backend.core.errors import Conflict, TooManyRequests
from backend.extensions import db
from backend.orgs.service import create_org
from backend.people.service import add_membership, create_person
from backend.polls import service
from backend.polls.ballots import keyed, poll_key
from backend.polls.models import Mode, Poll, PollBallot, PollResponse
from tests import factories as f
from tests.live import serve

NOW = datetime.now(UTC)
QUESTIONS = [
    {"text": "您对社区服务的总体满意度", "kind": "rating5", "criterion_code": "S5", "weight": 1},
    {"text": "您最常参加哪类活动", "kind": "choice", "options": ["志愿服务", "文体活动", "议事协商"]},
    {"text": "还希望社区做些什么", "kind": "choice", "options": ["助老", "托育", "停车"], "multiple": True,
     "required": False},
    {"text": "意见和建议", "kind": "text", "required": False},
]


def poll_body(org_id, **extra):
    return {"org_id": org_id, "title": "2026 年和平社区群众满意度测评", "audience": "mass",
            "opens_at": (NOW - timedelta(hours=1)).isoformat(), "closes_at": (NOW + timedelta(days=7)).isoformat(),
            "questions": QUESTIONS, **extra}


@pytest.fixture
def world(app, client):
    orgs = f.tree()
    people = {
        "secretary": f.person("李红梅", username="secretary", role="secretary", org=orgs["a"]),
        "officer": f.person("周海", username="officer", role="street_officer", org=orgs["street"]),
        "member": f.person("张伟", username="member", role="party_member", org=orgs["a1"]),
        "resident": f.person("吴阿姨", username="resident", role="resident", org=orgs["a2"]),
        "outsider": f.person("赵强", username="outsider", role="party_member", org=orgs["b1"]),
    }
    headers = {name: f.login(client, name) for name in people}
    return orgs, people, headers


def make_poll(client, world, **extra):
    orgs, people, headers = world
    made = client.post("/api/v1/polls", headers=headers["secretary"], json=poll_body(orgs["a"].id, **extra))
    assert made.status_code == 201, made.get_json()
    return made.get_json()


def answers(poll, rating=5, choice=0, many=(1, 2), text="希望多办活动"):
    q = {item["position"]: item["id"] for item in poll["questions"]}
    return [{"question_id": q[1], "value": rating}, {"question_id": q[2], "value": choice},
            {"question_id": q[3], "value": list(many)}, {"question_id": q[4], "value": text}]


def test_party_member_poll_once_per_member(client, world):
    orgs, people, headers = world
    poll = make_poll(client, world, audience="party_member", title="党员对社区班子的评价")
    url = f"/api/v1/polls/{poll['id']}/responses"
    first = client.post(url, headers=headers["member"], json={"answers": answers(poll)})
    assert first.status_code == 201 and first.get_json()["mode"] == "account"
    again = client.post(url, headers=headers["member"], json={"answers": answers(poll, rating=1)})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_answered"
    for who in ("resident", "outsider"):
        refused = client.post(url, headers=headers[who], json={"answers": answers(poll)})
        assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "not_in_audience"
    assert client.post(url, json={"answers": answers(poll)}).status_code == 401
    results = client.get(f"/api/v1/polls/{poll['id']}/results", headers=headers["secretary"]).get_json()
    assert results["respondents"] == 1 and results["questions"][0]["distribution"]["5"] == 1
    device = client.post("/api/v1/polls", headers=headers["secretary"],
                         json=poll_body(orgs["a"].id, audience="party_member", modes=["device"]))
    assert device.status_code == 422 and device.get_json()["error"]["code"] == "invalid_modes"


def test_window_open_close(client, world):
    orgs, people, headers = world
    poll = make_poll(client, world, opens_at=(NOW + timedelta(days=1)).isoformat())
    url = f"/api/v1/polls/{poll['id']}/responses"
    assert poll["state"] == "scheduled"
    early = client.post(url, headers=headers["resident"], json={"answers": answers(poll)})
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "poll_closed"
    assert client.post(f"/api/v1/polls/{poll['id']}/open", headers=headers["resident"]).status_code == 403
    opened = client.post(f"/api/v1/polls/{poll['id']}/open", headers=headers["secretary"])
    assert opened.get_json()["state"] == "open"
    assert client.post(url, headers=headers["resident"], json={"answers": answers(poll)}).status_code == 201
    closed = client.post(f"/api/v1/polls/{poll['id']}/close", headers=headers["secretary"])
    assert closed.get_json()["state"] == "closed"
    late = client.post(url, headers=headers["member"], json={"answers": answers(poll)})
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "poll_closed"
    reopen = client.post(f"/api/v1/polls/{poll['id']}/open", headers=headers["secretary"])
    assert reopen.status_code == 409


def test_answers_are_checked_against_the_questions(client, world):
    orgs, people, headers = world
    poll = make_poll(client, world)
    q = [item["id"] for item in poll["questions"]]
    url = f"/api/v1/polls/{poll['id']}/responses"
    bad = client.post(url, headers=headers["resident"], json={"answers": [
        {"question_id": q[0], "value": 6}, {"question_id": q[1], "value": [0, 1]}, {"question_id": 999, "value": 1}]})
    assert bad.status_code == 422
    fields = bad.get_json()["error"]["fields"]
    assert fields[str(q[0])] == ["请选择 1 到 5 星"] and fields[str(q[1])] == ["请选择一项"] and "999" in fields
    missing = client.post(url, headers=headers["resident"], json={"answers": [{"question_id": q[1], "value": 0}]})
    assert missing.get_json()["error"]["fields"][str(q[0])] == ["请回答此题"]
    # A refusal keeps nothing: the respondent can still answer.
    assert client.post(url, headers=headers["resident"], json={"answers": answers(poll)}).status_code == 201


def test_one_time_codes(client, world):
    orgs, people, headers = world
    poll = make_poll(client, world, modes=["code"])
    made = client.post(f"/api/v1/polls/{poll['id']}/codes", headers=headers["secretary"],
                       json={"count": 3, "grid_id": orgs["a1"].id})
    assert made.status_code == 201
    codes = [c["code"] for c in made.get_json()]
    assert len(set(codes)) == 3 and all(len(c) == 8 for c in codes)
    url = f"/api/v1/polls/{poll['id']}/responses"
    used = client.post(url, json={"code": codes[0].lower(), "answers": answers(poll)})
    assert used.status_code == 201 and used.get_json()["mode"] == "code"
    reused = client.post(url, json={"code": codes[0], "answers": answers(poll)})
    assert reused.status_code == 409 and reused.get_json()["error"]["code"] == "already_answered"
    wrong = client.post(url, json={"code": "ZZZZZZZZ", "answers": answers(poll)})
    assert wrong.status_code == 422 and wrong.get_json()["error"]["code"] == "invalid_code"
    # Signed in but the poll takes codes only.
    assert client.post(url, headers=headers["resident"], json={"answers": answers(poll)}).status_code == 401
    account_only = make_poll(client, world)
    refused = client.post(f"/api/v1/polls/{account_only['id']}/codes", headers=headers["secretary"], json={"count": 1})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "mode_not_allowed"


def test_open_qr_one_answer_per_device_and_rate_limit(app, client, world):
    orgs, people, headers = world
    app.config["POLL_NETWORK_HOURLY_LIMIT"] = 3
    poll = make_poll(client, world, modes=["device"])
    url = f"/api/v1/polls/{poll['id']}/responses"

    def send(device, ip="10.1.2.3"):
        return client.post(url, json={"device": device, "answers": answers(poll)}, environ_base={"REMOTE_ADDR": ip})

    assert send("d" * 20).status_code == 201
    again = send("d" * 20)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_answered"
    assert send("e" * 20, "10.1.2.99").status_code == 201      # same /24 network
    assert send("f" * 20, "10.1.2.7").status_code == 201
    limited = send("g" * 20, "10.1.2.8")
    assert limited.status_code == 429 and limited.headers["Retry-After"]
    assert send("g" * 20, "10.9.9.9").status_code == 201        # another network
    results = client.get(f"/api/v1/polls/{poll['id']}/results", headers=headers["secretary"]).get_json()
    assert results["by_mode"] == {"account": 0, "code": 0, "device": 4}


def test_a_signed_in_person_answers_once_whatever_the_mode(client, world):
    """By a slip, by account, from another phone: one person, one answer. The slip and the phone
    a signed-in person answered with are spent for everyone; a slip they were refused with is not."""
    orgs, people, headers = world
    poll = make_poll(client, world, modes=["account", "code", "device"])
    code, spare = [c["code"] for c in client.post(f"/api/v1/polls/{poll['id']}/codes", headers=headers["secretary"],
                                                   json={"count": 2}).get_json()]
    url = f"/api/v1/polls/{poll['id']}/responses"
    first = client.post(url, headers=headers["resident"],
                        json={"code": code, "device": "resident-phone-000001", "answers": answers(poll)})
    assert first.status_code == 201 and first.get_json()["mode"] == "code"
    for again in ({}, {"device": "resident-other-phone-01"}, {"code": spare}):
        refused = client.post(url, headers=headers["resident"], json={**again, "answers": answers(poll, rating=1)})
        assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "already_answered", again
    for spent in ({"code": code}, {"device": "resident-phone-000001"}):
        refused = client.post(url, json={**spent, "answers": answers(poll, rating=1)})
        assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "already_answered", spent
    assert client.post(url, json={"code": spare, "answers": answers(poll, rating=2)}).status_code == 201
    # Signed in, then signed out on the same phone: the phone answered with the person.
    assert client.post(url, headers=headers["member"],
                       json={"device": "member-phone-00000001", "answers": answers(poll)}).status_code == 201
    signed_out = client.post(url, json={"device": "member-phone-00000001", "answers": answers(poll, rating=1)})
    assert signed_out.status_code == 409
    results = client.get(f"/api/v1/polls/{poll['id']}/results", headers=headers["secretary"]).get_json()
    assert results["respondents"] == 3 and results["by_mode"] == {"account": 1, "code": 2, "device": 0}
    assert results["questions"][0]["distribution"]["1"] == 0


def test_a_new_ballot_key_still_refuses_whoever_answered_under_the_old(app, client, world):
    """Setting POLL_BALLOT_KEY on a running poll (the key was derived from SECRET_KEY): with the
    old value listed in POLL_BALLOT_PREVIOUS_KEYS nobody answers twice, and new ballots are made
    with the new key alone."""
    orgs, people, headers = world
    poll = make_poll(client, world, audience="party_member", modes=["account", "code"])
    code = client.post(f"/api/v1/polls/{poll['id']}/codes", headers=headers["secretary"],
                       json={"count": 1}).get_json()[0]["code"]
    url = f"/api/v1/polls/{poll['id']}/responses"
    assert client.post(url, headers=headers["member"], json={"answers": answers(poll)}).status_code == 201
    assert client.post(url, json={"code": code, "answers": answers(poll)}).status_code == 201
    app.config.update(POLL_BALLOT_KEY="key-of-this-year", POLL_BALLOT_PREVIOUS_KEYS=[app.config["SECRET_KEY"]])
    for again in ({"headers": headers["member"], "json": {"answers": answers(poll)}},
                  {"json": {"code": code, "answers": answers(poll)}}):
        refused = client.post(url, **again)
        assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "already_answered"
    newcomer = f.person("王芳", username="newcomer", role="party_member", org=orgs["a2"])
    assert client.post(url, headers=f.login(client, "newcomer"), json={"answers": answers(poll)}).status_code == 201
    stored = set(db.session.scalars(sa.select(PollBallot.respondent_hash)))
    assert keyed(poll_key("key-of-this-year", poll["id"]), f"person:{newcomer.id}") in stored
    assert keyed(poll_key(app.config["SECRET_KEY"], poll["id"]), f"person:{newcomer.id}") not in stored
    # What the list is for: without it, the earlier ballots no longer stop anyone.
    app.config["POLL_BALLOT_PREVIOUS_KEYS"] = []
    assert client.post(url, headers=headers["member"], json={"answers": answers(poll)}).status_code == 201


def test_no_identity_is_stored_next_to_an_answer(client, world):
    orgs, people, headers = world
    poll = make_poll(client, world, modes=["account", "code", "device"])
    code = client.post(f"/api/v1/polls/{poll['id']}/codes", headers=headers["secretary"],
                       json={"count": 1}).get_json()[0]["code"]
    url = f"/api/v1/polls/{poll['id']}/responses"
    client.post(url, headers=headers["member"], json={"answers": answers(poll)})
    client.post(url, json={"code": code, "answers": answers(poll)})
    client.post(url, json={"device": "device-1234567890abcdef", "answers": answers(poll)})
    columns = {c["name"] for c in sa.inspect(db.session.connection()).get_columns("poll_responses")}
    assert columns == {"id", "poll_id", "mode", "grid_id", "network_hash", "submitted_at", "status", "reviewed_by_id"}
    answer_columns = {c["name"] for c in sa.inspect(db.session.connection()).get_columns("poll_answers")}
    assert answer_columns == {"id", "response_id", "question_id", "value", "text"}
    ballot_columns = {c["name"] for c in sa.inspect(db.session.connection()).get_columns("poll_ballots")}
    assert ballot_columns == {"poll_id", "respondent_hash"}   # no id, no time: nothing to line up with
    # No raw key and no plain hash of one is stored anywhere in the poll tables.
    raw = [f"person:{people['member'].id}", f"code:{code}", "device:device-1234567890abcdef"]
    plain = {hashlib.sha256(k.encode()).hexdigest() for k in raw}
    stored = set(db.session.scalars(sa.select(PollBallot.respondent_hash)))
    assert len(stored) == 3 and not stored & plain
    dump = " ".join(str(row) for table in ("poll_responses", "poll_answers", "poll_ballots")
                    for row in db.session.execute(sa.text(f"SELECT * FROM {table}")))
    assert not any(k in dump for k in raw) and code not in dump
    minutes = db.session.scalars(sa.select(PollResponse.submitted_at)).all()
    assert all(m.second == 0 and m.microsecond == 0 for m in minutes)


def test_small_groups_are_not_broken_down(client, world):
    orgs, people, headers = world
    poll = make_poll(client, world, modes=["code"])
    slips = {grid: [c["code"] for c in client.post(f"/api/v1/polls/{poll['id']}/codes", headers=headers["secretary"],
                                                   json={"count": n, "grid_id": orgs[grid].id}).get_json()]
             for grid, n in (("a1", 5), ("a2", 4))}
    url = f"/api/v1/polls/{poll['id']}/responses"
    for grid, codes in slips.items():
        for i, code in enumerate(codes):
            rating = 5 if grid == "a1" and i < 4 else 2
            assert client.post(url, json={"code": code, "answers": answers(poll, rating=rating)}).status_code == 201
    results = client.get(f"/api/v1/polls/{poll['id']}/results", headers=headers["officer"]).get_json()
    overall = results["questions"][0]
    assert overall["count"] == 9 and overall["distribution"] == {"5": 4, "4": 0, "3": 0, "2": 5, "1": 0}
    assert overall["mean"] == round((4 * 5 + 5 * 2) / 9, 2) and overall["satisfaction_rate"] == round(4 / 9, 4)
    assert [g["grid_name"] for g in overall["by_grid"]] == ["第一网格"] and results["grids_suppressed"] == 1
    assert overall["by_grid"][0]["count"] == 5
    multiple = results["questions"][2]
    assert multiple["distribution"] == {"0": 0, "1": 9, "2": 9}
    assert results["questions"][3]["count"] == 9 and results["questions"][3]["texts"][0] == "希望多办活动"
    assert client.get(f"/api/v1/polls/{poll['id']}/results", headers=headers["member"]).status_code == 403


def test_bursts_are_flagged_and_reviewed(app, client, world):
    orgs, people, headers = world
    app.config["POLL_BURST_COUNT"] = 3
    poll = make_poll(client, world, modes=["device"])
    url = f"/api/v1/polls/{poll['id']}/responses"
    for i in range(4):
        client.post(url, json={"device": f"burst-device-{i:08d}", "answers": answers(poll, rating=1)},
                    environ_base={"REMOTE_ADDR": "172.16.5.1"})
    client.post(url, json={"device": "quiet-device-00000001", "answers": answers(poll, rating=5)},
                environ_base={"REMOTE_ADDR": "192.168.9.9"})
    results_url = f"/api/v1/polls/{poll['id']}/results"
    before = client.get(results_url, headers=headers["secretary"]).get_json()
    assert before["respondents"] == 5 and before["flagged"] == 4
    flagged = client.get(f"/api/v1/polls/{poll['id']}/flagged", headers=headers["secretary"]).get_json()
    assert len(flagged) == 4
    review = f"/api/v1/poll-responses/{flagged[0]['id']}/review"
    assert client.post(review, headers=headers["secretary"], json={"decision": "exclude"}).status_code == 403
    for item in flagged[:3]:
        done = client.post(f"/api/v1/poll-responses/{item['id']}/review", headers=headers["officer"],
                           json={"decision": "exclude"})
        assert done.status_code == 200 and done.get_json()["status"] == "excluded"
    kept = client.post(f"/api/v1/poll-responses/{flagged[3]['id']}/review", headers=headers["officer"],
                       json={"decision": "accept"})
    assert kept.get_json()["status"] == "accepted"
    after = client.get(results_url, headers=headers["secretary"]).get_json()
    assert after["respondents"] == 2 and after["excluded"] == 3 and after["flagged"] == 0
    assert after["accepted_after_review"] == 1
    assert after["questions"][0]["distribution"]["1"] == 1
    # Reversible: bring one back.
    back = client.post(f"/api/v1/poll-responses/{flagged[0]['id']}/review", headers=headers["officer"],
                       json={"decision": "accept"})
    assert back.status_code == 200
    assert client.get(results_url, headers=headers["secretary"]).get_json()["respondents"] == 3


def test_a_burst_flags_its_new_answer_past_those_flagged_before(app, world):
    """However long a burst from one network, its next answer is flagged by a seek to the answers
    not flagged yet, and its counts stop at the limit they are held against: both databases
    read the index of unflagged answers (PostgreSQL told to avoid a scan of a small table)."""
    compiled = service._FLAG_BURST.compile(dialect=db.engine.dialect)
    params = compiled.params | {"in_poll": 1, "from_network": "n", "since": "2026-11-28 00:00:00"}
    connection = db.session.connection()
    if db.engine.dialect.name == "sqlite":
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}",
                                          tuple(params[name] for name in compiled.positiontup)).all()
    else:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = connection.exec_driver_sql(f"EXPLAIN {compiled}", params).all()
    assert "ix_poll_responses_ok_network" in " ".join(str(row) for row in plan), plan
    db.session.rollback()

    orgs, _, _ = world
    app.config.update(POLL_BURST_COUNT=3, POLL_NETWORK_HOURLY_LIMIT=5)
    poll = service.create_poll(orgs["a"], {**poll_body(orgs["a"].id), "opens_at": NOW - timedelta(hours=1),
                                           "closes_at": NOW + timedelta(days=1), "modes": ["device"]})
    q = [question.id for question in poll.questions]
    sheet = [{"question_id": q[0], "value": 4}, {"question_id": q[1], "value": 0}, {"question_id": q[2], "value": [0]}]
    for n in range(5):
        service.submit(poll, service.Respondent(Mode.device, (f"burst:{n}",), None), sheet, ip=f"10.7.7.{n}", now=NOW)
    statuses = db.session.scalars(sa.select(PollResponse.status).where(PollResponse.poll_id == poll.id)).all()
    assert sorted(statuses) == ["flagged"] * 5
    with pytest.raises(TooManyRequests):
        service.submit(poll, service.Respondent(Mode.device, ("burst:5",), None), sheet, ip="10.7.7.5", now=NOW)


ANSWER = st.tuples(st.just("answer"), st.integers(0, 2), st.integers(1, 5), st.integers(0, 2),
                   st.lists(st.integers(0, 2), unique=True, max_size=3), st.booleans())
REVIEW = st.tuples(st.just("review"), st.integers(0, 30), st.sampled_from(["accept", "exclude"]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.one_of(ANSWER, REVIEW), max_size=30))
def test_running_tallies_equal_a_full_recompute(app, world, ops):
    orgs, people, headers = world
    app.config["POLL_BURST_COUNT"] = 4
    poll = service.create_poll(orgs["a"], {**poll_body(orgs["a"].id), "opens_at": NOW - timedelta(hours=1),
                                           "closes_at": NOW + timedelta(days=1), "modes": ["device"]})
    q = [question.id for question in poll.questions]
    grids = [None, orgs["a1"].id, orgs["a2"].id]
    for n, op in enumerate(ops):
        try:
            if op[0] == "answer":
                _, grid, rating, choice, many, with_text = op
                sheet = [{"question_id": q[0], "value": rating}, {"question_id": q[1], "value": choice},
                         {"question_id": q[2], "value": many}] + ([{"question_id": q[3], "value": "好"}] if with_text
                                                                  else [])
                service.submit(poll, service.Respondent(Mode.device, (f"device:{n}",), grids[grid]), sheet,
                               ip=f"10.0.{grid}.{n}", now=NOW)
            else:
                responses = db.session.scalars(sa.select(PollResponse).where(PollResponse.poll_id == poll.id)
                                               .order_by(PollResponse.id)).all()
                if responses:
                    service.review(responses[op[1] % len(responses)], op[2], people["officer"].id)
        except (Conflict, TooManyRequests):
            pass
    db.session.flush()
    assert service.stored_tallies(poll) == service.recompute_tallies(poll)
    results = service.results(poll)
    counted = db.session.scalar(sa.select(sa.func.count()).select_from(PollResponse).where(
        PollResponse.poll_id == poll.id, PollResponse.status != "excluded"))
    assert results["respondents"] == counted == results["questions"][0]["count"]
    db.session.rollback()


@pytest.mark.slow
def test_twenty_simultaneous_duplicate_answers_store_one(db_url):
    with serve(db_url) as (base_url, app):
        with app.app_context():
            street = create_org("东湖街道", "street", None)
            community = create_org("和平社区", "community", street)
            member = create_person(name="张伟")
            add_membership(member, community, "party_member")
            token = issue_token(member)[0]
            poll = service.create_poll(community, {
                "title": "党员测评", "audience": "party_member", "opens_at": NOW - timedelta(hours=1),
                "closes_at": NOW + timedelta(days=1), "questions": [{"text": "总体评价", "kind": "rating5"}]})
            db.session.commit()
            poll_id, question_id = poll.id, poll.questions[0].id
            db.session.remove()

        barrier = threading.Barrier(20)
        answers_seen: list[tuple[int, str]] = []
        lock = threading.Lock()

        def send(rating: int) -> None:
            with requests.Session() as http:
                barrier.wait(timeout=30)
                response = http.post(f"{base_url}/api/v1/polls/{poll_id}/responses", timeout=60,
                                     headers={"Authorization": f"Bearer {token}"},
                                     json={"answers": [{"question_id": question_id, "value": rating}]})
            body = response.json()
            with lock:
                answers_seen.append((response.status_code, body.get("mode") or body["error"]["code"]))

        threads = [threading.Thread(target=send, args=(1 + i % 5,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert Counter(answers_seen) == Counter({(201, "account"): 1, (409, "already_answered"): 19})
        with app.app_context():
            poll = db.session.get(Poll, poll_id)
            assert db.session.scalar(sa.select(sa.func.count()).select_from(PollResponse)) == 1
            assert service.stored_tallies(poll) == service.recompute_tallies(poll)
            assert service.results(poll)["respondents"] == 1
            db.session.remove()


@pytest.mark.slow
def test_one_person_by_account_code_and_device_at_once_counts_once(db_url):
    """Twelve simultaneous answers from one signed-in person over real HTTP, by account, by a
    slip and from a phone, four of each: one is counted."""
    with serve(db_url) as (base_url, app):
        with app.app_context():
            street = create_org("东湖街道", "street", None)
            community = create_org("和平社区", "community", street)
            resident = create_person(name="吴阿姨")
            add_membership(resident, community, "resident")
            token = issue_token(resident)[0]
            poll = service.create_poll(community, {
                "title": "群众满意度测评", "audience": "mass", "modes": ["account", "code", "device"],
                "opens_at": NOW - timedelta(hours=1), "closes_at": NOW + timedelta(days=1),
                "questions": [{"text": "总体满意度", "kind": "rating5"}]})
            code = service.generate_codes(poll, 1)[0].code
            db.session.commit()
            poll_id, question_id = poll.id, poll.questions[0].id
            db.session.remove()

        ways = [{}, {"code": code}, {"device": "resident-phone-000001"}] * 4
        barrier = threading.Barrier(len(ways))
        seen: list[tuple[int, str]] = []
        lock = threading.Lock()

        def send(way: dict) -> None:
            with requests.Session() as http:
                barrier.wait(timeout=30)
                response = http.post(f"{base_url}/api/v1/polls/{poll_id}/responses", timeout=60,
                                     headers={"Authorization": f"Bearer {token}"},
                                     json={**way, "answers": [{"question_id": question_id, "value": 5}]})
            body = response.json()
            with lock:
                seen.append((response.status_code, "counted" if response.status_code == 201 else body["error"]["code"]))

        threads = [threading.Thread(target=send, args=(way,)) for way in ways]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert Counter(seen) == Counter({(201, "counted"): 1, (409, "already_answered"): len(ways) - 1})
        with app.app_context():
            poll = db.session.get(Poll, poll_id)
            assert db.session.scalar(sa.select(sa.func.count()).select_from(PollResponse)) == 1
            assert service.stored_tallies(poll) == service.recompute_tallies(poll)
            assert service.results(poll)["respondents"] == 1
            db.session.remove()
