"""A copy of the database links no poll answer to anyone.

A hundred party members answer one after another within one minute, by account, by a slip
while signed in, or by a slip alone. The attacker gets the database (the SQLite file; on
PostgreSQL, SQL as its superuser) and every setting but the secrets, knows every person and
code, and even the order in which the people answered. They try:

- keys: every text in the database and in the settings, used as the poll's key the old way
  and the new, for every person, code and network — not one ballot or network recomputed;
- order: every way to sort the answers (id, rowid, each column, the answers' ids, the order
  a plain SELECT returns) against the known order of the people, and against the order of
  the ballots for an attacker who somehow has the key and so knows whose each ballot is.
  Then the same after the storage rewrite, adding what only the files show: SQLite cells by
  their place in the pages, PostgreSQL heap order (ctid) and writing transaction (xmin).

By chance, pairing the people in some order with the answers in another matches about one of
a hundred (the fixed points of a random permutation: Poisson(1)); twelve or more has a chance
below 1e-9 per pairing. Rank correlations under chance have a standard deviation of 0.1; 0.6
is six of them. With under 200 pairings and orders tried, a chance-level database fails one
of these bounds with a probability below 1e-6, while a database that keeps the order (as
before: ids counted up, the key in the polls table) matches all hundred.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import sqlite3
import statistics
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from flask_migrate import upgrade

from backend.app import create_app
from backend.auth.service import issue_token
from backend.core.errors import Conflict
from backend.extensions import db, utcnow
from backend.orgs.service import create_org
from backend.people.actors import load_actor
from backend.people.service import add_membership, create_person
from backend.polls import service, storage
from backend.polls.ballots import current_key, keyed, poll_key
from backend.polls.models import Poll, PollBallot, PollResponse
from jobs.registry import JOBS
from tests.conftest import TEST_CONFIG, create_database
from tests.live import serve
from tests.sqlite_pages import written_order

N = 100
#: Chance matches ~ Poisson(1): P(≥ 12) < 1e-9. Chance |rank correlation| ~ 0.1: 0.6 is 6 sd.
MOST_MATCHES, MOST_CORRELATION = 11, 0.6
NETWORKS = 4
SECRET_SETTINGS = {"SECRET_KEY", "POLL_BALLOT_KEY", "POLL_BALLOT_PREVIOUS_KEYS"}


@dataclass(frozen=True)
class Answered:
    """What the test knows and the attacker does not: who gave which answer, with which ballots."""

    person_id: int
    response_id: int
    ballots: frozenset[str]


@dataclass
class Poll100:
    poll_id: int
    people: list[int]
    codes: list[str]
    answers: list[Answered]          # in the order given


def _sheet(poll: Poll, n: int) -> list[dict]:
    rating, choice, text = poll.questions
    sheet = [{"question_id": rating.id, "value": n * 7 % 5 + 1}, {"question_id": choice.id, "value": n % 3}]
    return sheet + ([{"question_id": text.id, "value": f"建议{n % 4}"}] if n % 2 else [])


@pytest.fixture
def answered(app) -> Poll100:
    app.config["POLL_BALLOT_KEY"] = secrets.token_urlsafe(32)
    app.config["POLL_BURST_COUNT"] = 10 * N   # bursts are another test's business
    street = create_org("东湖街道", "street", None)
    community = create_org("和平社区", "community", street)
    people = [create_person(name=f"党员{n:03d}") for n in range(N)]
    for person in people:
        add_membership(person, community, "party_member")
    now = utcnow()
    poll = service.create_poll(community, {
        "title": "党员测评", "audience": "party_member", "modes": ["account", "code"],
        "opens_at": now - timedelta(hours=1), "closes_at": now + timedelta(days=1),
        "questions": [{"text": "总体评价", "kind": "rating5"},
                      {"text": "最常参加", "kind": "choice", "options": ["志愿服务", "文体活动", "议事协商"]},
                      {"text": "建议", "kind": "text", "required": False}]})
    codes = [c.code for c in service.generate_codes(poll, N)]
    db.session.commit()
    key = current_key(poll)
    answers = []
    for n, person in enumerate(people):
        # By account; by a slip while signed in; by a slip alone.
        actor = load_actor(person.id) if n % 3 < 2 else None
        respondent = service.respondent_for(poll, actor=actor, code=codes[n] if n % 3 else None, device=None)
        response = service.submit(poll, respondent, _sheet(poll, n), ip=f"10.0.{n % NETWORKS}.{n + 1}", now=now)
        db.session.commit()
        answers.append(Answered(person.id, response.id, frozenset(keyed(key, k) for k in respondent.keys)))
    return Poll100(poll.id, [p.id for p in people], codes, answers)


# --- what the attacker has ------------------------------------------------------------------

class Copy:
    """The attacker's view: plain SQL on a copy of the SQLite file, or on the PostgreSQL database."""

    def __init__(self, tmp_path: Path, name: str):
        self.sqlite = db.engine.dialect.name == "sqlite"
        if self.sqlite:
            self.path = tmp_path / name
            shutil.copy(db.engine.url.database, self.path)
            self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        else:
            self.engine = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)
            self.conn = self.engine.connect()

    def rows(self, sql: str) -> list[tuple]:
        if self.sqlite:
            return self.conn.execute(sql).fetchall()
        return [tuple(row) for row in self.conn.execute(sa.text(sql))]

    def close(self):
        self.conn.close()
        if not self.sqlite:
            self.engine.dispose()

    def strings(self) -> set[str]:
        """Every text stored in any table."""
        tables = [r[0] for r in self.rows(
            "SELECT name FROM sqlite_master WHERE type = 'table'" if self.sqlite
            else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        found = set()
        for table in tables:
            for row in self.rows(f'SELECT * FROM "{table}"'):
                found.update(v.decode(errors="replace") if isinstance(v, bytes) else v
                             for v in row if isinstance(v, str | bytes))
        return found


def _first_seen(values) -> list:
    return list(dict.fromkeys(values))


def sql_orders(copy: Copy) -> tuple[dict[str, list[int]], dict[str, list[str]]]:
    """Every order of the answers and of the ballots that SQL gives, without the storage's own:
    name → response ids, name → ballot hashes."""
    responses = {"id": [r[0] for r in copy.rows("SELECT id FROM poll_responses ORDER BY id")]}
    for column in ("mode", "grid_id", "network_hash", "submitted_at", "status", "reviewed_by_id"):
        responses[column] = [r[0] for r in copy.rows(f"SELECT id FROM poll_responses ORDER BY {column}, id")]
    responses["answer ids"] = [r[0] for r in copy.rows(
        "SELECT response_id FROM poll_answers GROUP BY response_id ORDER BY MIN(id)")]
    ballots = {"hash": [r[0] for r in copy.rows("SELECT respondent_hash FROM poll_ballots ORDER BY respondent_hash")]}
    if copy.sqlite:
        # The rowid is the id; a plain SELECT walks the tables in key order.
        responses["rowid"] = [r[0] for r in copy.rows("SELECT id FROM poll_responses ORDER BY rowid")]
        responses["scan"] = [r[0] for r in copy.rows("SELECT id FROM poll_responses")]
        responses["answers scan"] = _first_seen(r[0] for r in copy.rows("SELECT response_id FROM poll_answers"))
        ballots["scan"] = [r[0] for r in copy.rows("SELECT respondent_hash FROM poll_ballots")]
        with pytest.raises(sqlite3.OperationalError, match="no such column: rowid"):
            copy.rows("SELECT rowid FROM poll_ballots")
    return responses, ballots


def storage_orders(copy: Copy) -> tuple[dict[str, list[int]], dict[str, list[str]]]:
    """What only the storage tells: SQLite cells by their place in the file; PostgreSQL rows in
    heap order and by writing transaction."""
    if not copy.sqlite:
        orders = {"scan": "", "ctid": "ORDER BY ctid", "xmin": "ORDER BY xmin::text::bigint, ctid"}
        responses = {name: [r[0] for r in copy.rows(f"SELECT id FROM poll_responses {sql}")]
                     for name, sql in orders.items()}
        responses |= {f"answers {name}": _first_seen(r[0] for r in copy.rows(
            f"SELECT response_id FROM poll_answers {sql}")) for name, sql in orders.items()}
        ballots = {name: [r[0] for r in copy.rows(f"SELECT respondent_hash FROM poll_ballots {sql}")]
                   for name, sql in orders.items()}
        return responses, ballots
    roots = dict(copy.rows("SELECT name, rootpage FROM sqlite_master WHERE rootpage > 0"))
    answer_of = dict(copy.rows("SELECT id, response_id FROM poll_answers"))
    responses = {
        "pages": [c.key for c in written_order(copy.path, roots["poll_responses"])],
        # Index cells end with the rowid they point at.
        "pages ix_poll_responses_poll_id_status": [
            c.key[-1] for c in written_order(copy.path, roots["ix_poll_responses_poll_id_status"])],
        "pages poll_answers": _first_seen(answer_of[c.key] for c in written_order(copy.path, roots["poll_answers"])),
        "pages ix_poll_answers_response_id": _first_seen(
            c.key[0] for c in written_order(copy.path, roots["ix_poll_answers_response_id"])),
    }
    ballots = {"pages": [c.key[1].decode() for c in written_order(copy.path, roots["poll_ballots"])]}
    return responses, ballots


# --- the attacks ------------------------------------------------------------------------------

def _rank_correlation(order: list, truth: list) -> float:
    """Spearman's rho between the answering order and where each answer stands in `order`."""
    where = {item: n for n, item in enumerate(order)}
    return statistics.correlation(range(len(truth)), [where[item] for item in truth])


def order_attacks(poll: Poll100, responses: dict[str, list[int]], ballots: dict[str, list[str]]) -> dict:
    """The best any pairing does: the people in the order they answered (known from outside),
    or in the order of their first ballot (for an attacker who has the key), against the
    answers in each order. Returns {"matches": (best, how), "correlation": (worst |rho|, what)}."""
    truth = {a.person_id: a.response_id for a in poll.answers}
    in_order = [a.person_id for a in poll.answers]
    owner = {h: a.person_id for a in poll.answers for h in a.ballots}
    people_orders = {"known order": in_order}
    for name, hashes in ballots.items():
        assert sorted(hashes) == sorted(owner), name     # every ballot read, none invented
        people_orders[f"ballots by {name}"] = _first_seen(owner[h] for h in hashes)
    matches = max((sum(truth[p] == r for p, r in zip(people, answers, strict=True)), f"{pname} × answers by {rname}")
                  for pname, people in people_orders.items() for rname, answers in responses.items())
    correlations = [(abs(_rank_correlation(answers, [truth[p] for p in in_order])), f"answers by {name}")
                    for name, answers in responses.items()]
    correlations += [(abs(_rank_correlation(people, in_order)), name) for name, people in people_orders.items()
                     if name != "known order"]
    return {"matches": matches, "correlation": max(correlations)}


def assert_chance(result: dict) -> None:
    assert result["matches"][0] <= MOST_MATCHES, result
    assert result["correlation"][0] <= MOST_CORRELATION, result


def key_attack(copy: Copy, poll: Poll100, candidates: set[str]) -> int:
    """How many stored ballots and network hashes come out of some candidate key."""
    stored = {r[0] for r in copy.rows(f"SELECT respondent_hash FROM poll_ballots WHERE poll_id = {poll.poll_id}")}
    stored |= {r[0] for r in copy.rows(f"SELECT network_hash FROM poll_responses WHERE poll_id = {poll.poll_id}")}
    values = [f"person:{p}" for p in poll.people] + [f"code:{c}" for c in poll.codes]
    values += [f"net:10.0.{n}.0/24" for n in range(NETWORKS)]
    found = {hashlib.sha256(v.encode()).hexdigest() for v in values} & stored
    for candidate in candidates:
        for key in (candidate.encode(), poll_key(candidate, poll.poll_id)):
            found |= {keyed(key, v) for v in values} & stored
    return len(found)


def test_a_copied_database_links_no_answer_to_anyone(app, answered, tmp_path):
    poll = answered
    db.session.remove()
    if db.engine.dialect.name == "sqlite":
        # The file alone, as a copy of it would be once SQLite has checkpointed.
        with db.engine.connect() as conn:
            conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    copy = Copy(tmp_path, "copy.db")
    settings = {str(v) for k, v in app.config.items() if k not in SECRET_SETTINGS}
    assert key_attack(copy, poll, copy.strings() | settings | {""}) == 0
    # The same attack finds every ballot and network hash once it has the key.
    everything = sum(len(a.ballots) for a in poll.answers) + NETWORKS
    assert key_attack(copy, poll, {app.config["POLL_BALLOT_KEY"]}) == everything
    assert_chance(order_attacks(poll, *sql_orders(copy)))
    copy.close()

    before = service.stored_tallies(db.session.get(Poll, poll.poll_id))
    assert storage.forget_write_order() == 1
    db.session.remove()
    rewritten = Copy(tmp_path, "rewritten.db")
    responses, ballots = sql_orders(rewritten)
    in_storage = storage_orders(rewritten)
    assert_chance(order_attacks(poll, responses | in_storage[0], ballots | in_storage[1]))
    if rewritten.sqlite:
        # Nothing deleted is left behind in the file's free space, and the -wal file is empty.
        data = rewritten.path.read_bytes()
        assert all(data.count(h.encode()) == 1 for a in poll.answers for h in a.ballots)
        assert Path(f"{db.engine.url.database}-wal").stat().st_size == 0
    rewritten.close()
    # Nothing else changed: the same answers, results and ballots, and the poll still says no twice.
    poll_row = db.session.get(Poll, poll.poll_id)
    assert service.stored_tallies(poll_row) == before == service.recompute_tallies(poll_row)
    assert set(db.session.scalars(sa.select(PollResponse.id))) == {a.response_id for a in poll.answers}
    assert set(db.session.scalars(sa.select(PollBallot.respondent_hash))) == set().union(
        *(a.ballots for a in poll.answers))
    again = service.respondent_for(poll_row, actor=load_actor(poll.people[0]), code=None, device=None)
    with pytest.raises(Conflict) as refused:
        service.submit(poll_row, again, _sheet(poll_row, 0))
    assert refused.value.code == "already_answered"


def test_the_upgrade_takes_the_keys_out_and_renumbers_the_answers(database, tmp_path):
    """Migration 0016a on a database with answers: a closed poll loses its key, an open one keeps
    it until it closes (its earlier ballots still refuse a second answer), answers get random
    ids and keep their sheets, ballots and tallies lose SQLite's rowid."""
    backend, template = database
    url = (f"sqlite:///{tmp_path / 'upgrade.db'}" if backend == "sqlite"
           else create_database(template.rsplit("/", 1)[0], "sanwei_upgrade"))
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade(revision="0015c")
        old = sa.MetaData()
        old.reflect(db.engine)
        t = old.tables
        now, secret = utcnow().replace(tzinfo=None), "a" * 64
        with db.engine.begin() as conn:
            conn.execute(t["orgs"].insert(), [{"id": 1, "name": "和平社区", "kind": "community", "path": "/1/",
                                               "created_at": now, "wish_moderation": False}])
            conn.execute(t["polls"].insert(), [
                {"id": poll_id, "org_id": 1, "title": "测评", "audience": "mass", "allow_account": False,
                 "allow_code": True, "allow_device": False, "secret": secret if poll_id == 1 else "b" * 64,
                 "opens_at": now - timedelta(days=2), "closes_at": now + timedelta(days=closes), "created_at": now}
                for poll_id, closes in ((1, 1), (2, -1))])
            conn.execute(t["poll_questions"].insert(), [
                {"id": 1, "poll_id": 1, "position": 1, "text": "满意度", "kind": "rating5", "multiple": False,
                 "required": True}])
            conn.execute(t["poll_codes"].insert(), [{"id": 1, "poll_id": 1, "code": "ABCD2345", "created_at": now}])
            conn.execute(t["poll_responses"].insert(), [
                {"id": n, "poll_id": 1, "mode": "code", "submitted_at": now, "status": "ok"} for n in (1, 2, 3)])
            conn.execute(t["poll_answers"].insert(), [
                {"id": n, "response_id": n, "question_id": 1, "value": n} for n in (1, 2, 3)])
            conn.execute(t["poll_ballots"].insert(), [{"poll_id": 1, "respondent_hash": keyed(
                secret.encode(), "code:ABCD2345")}])
        upgrade()
        assert dict(db.session.execute(sa.select(Poll.id, Poll.legacy_secret)).all()) == {1: secret, 2: None}
        assert "secret" not in {c["name"] for c in sa.inspect(db.session.connection()).get_columns("polls")}
        sheets = db.session.execute(sa.text(
            "SELECT r.id, a.id, a.value FROM poll_responses r JOIN poll_answers a ON a.response_id = r.id")).all()
        assert sorted(value for _, _, value in sheets) == [1, 2, 3]
        assert not {n for row in sheets for n in row[:2]} & {1, 2, 3}
        if backend == "sqlite":
            for table in ("poll_ballots", "poll_tallies"):
                with pytest.raises(sa.exc.OperationalError, match="no such column: rowid"):
                    db.session.execute(sa.text(f"SELECT rowid FROM {table}"))
                db.session.rollback()
        poll = db.session.get(Poll, 1)
        slip = service.respondent_for(poll, actor=None, code="ABCD2345", device=None)
        with pytest.raises(Conflict) as refused:
            service.submit(poll, slip, [{"question_id": 1, "value": 5}])
        assert refused.value.code == "already_answered"
        db.session.rollback()
        # Once it has closed and its rows are rewritten, its key leaves the database too.
        poll.closes_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
        assert storage.forget_write_order() == 2
        assert db.session.get(Poll, 1).legacy_secret is None
        db.session.remove()
        db.engine.dispose()


@pytest.mark.slow
def test_answers_sent_while_the_rows_are_rewritten_are_all_kept(db_url):
    """Twenty people answer over real HTTP while the rewrite runs again and again: every answer
    and ballot survives it, the tallies still equal a recompute, and nobody answers twice."""
    assert any(job.func is storage.forget_write_order for job in JOBS)
    with serve(db_url) as (base_url, app):
        with app.app_context():
            street = create_org("东湖街道", "street", None)
            community = create_org("和平社区", "community", street)
            people = [create_person(name=f"居民{n:02d}") for n in range(20)]
            for person in people:
                add_membership(person, community, "resident")
            tokens = [issue_token(person)[0] for person in people]
            now = utcnow()
            poll = service.create_poll(community, {
                "title": "群众满意度测评", "audience": "mass", "opens_at": now - timedelta(hours=1),
                "closes_at": now + timedelta(days=1), "questions": [{"text": "总体满意度", "kind": "rating5"}]})
            db.session.commit()
            poll_id, question_id = poll.id, poll.questions[0].id
            db.session.remove()

        barrier = threading.Barrier(len(tokens) + 1)
        statuses: list[int] = []

        def answer(token: str) -> None:
            with requests.Session() as http:
                barrier.wait(timeout=30)
                statuses.append(http.post(f"{base_url}/api/v1/polls/{poll_id}/responses", timeout=60,
                                          headers={"Authorization": f"Bearer {token}"},
                                          json={"answers": [{"question_id": question_id, "value": 4}]}).status_code)

        def rewrite() -> None:
            with app.app_context():
                barrier.wait(timeout=30)
                for _ in range(5):
                    storage.forget_write_order()
                db.session.remove()

        threads = [threading.Thread(target=answer, args=(t,)) for t in tokens] + [threading.Thread(target=rewrite)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert statuses == [201] * len(tokens)
        with app.app_context():
            poll = db.session.get(Poll, poll_id)
            assert db.session.scalar(sa.select(sa.func.count()).select_from(PollBallot)) == len(tokens)
            assert service.stored_tallies(poll) == service.recompute_tallies(poll)
            assert service.results(poll)["respondents"] == len(tokens)
            db.session.remove()
        with requests.Session() as http:
            again = http.post(f"{base_url}/api/v1/polls/{poll_id}/responses", timeout=60,
                              headers={"Authorization": f"Bearer {tokens[0]}"},
                              json={"answers": [{"question_id": question_id, "value": 1}]})
        assert again.status_code == 409
