"""Score streams (Server-Sent Events) over real HTTP: events with ids as scores change,
heartbeats, resuming with Last-Event-ID, who may listen, and two server processes sharing
one database — a score written through one shows up on a stream served by the other."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import requests

from backend.extensions import db
from backend.polls.presets import PRESETS
from backend.rating import stream
from tests import factories as f
from tests.live import serve

ROOT = Path(__file__).resolve().parents[1]
WAIT = 20   # seconds: an upper bound for "arrives", never a speed assertion

pytestmark = pytest.mark.slow   # real HTTP servers, streams and two gunicorn processes


@pytest.fixture
def people(app):
    orgs = f.tree()
    f.person("周海", username="officer", role="street_officer", org=orgs["street"])
    f.person("李红梅", username="sec_a", role="secretary", org=orgs["a"])
    f.person("王芳", username="sec_b", role="secretary", org=orgs["b"])
    db.session.commit()
    ids = {k: v.id for k, v in orgs.items()}
    db.session.remove()
    return ids


def bearer(base: str, username: str) -> dict:
    token = requests.post(f"{base}/api/v1/auth/login", json={"username": username, "password": f.PASSWORD},
                          timeout=10).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def campaign(base: str, orgs: dict, officer: dict) -> int:
    made = requests.post(f"{base}/api/v1/periods", headers=officer, timeout=10, json={
        "name": "2026 年度星级党组织创评", "year": date.today().year, "rubric_code": "wuhua-2019",
        "org_ids": [orgs["a"], orgs["b"]]})
    assert made.status_code == 201, made.text
    period = made.json()["id"]
    moved = requests.post(f"{base}/api/v1/periods/{period}/advance", headers=officer,
                          json={"from": "open", "to": "self_evaluation"}, timeout=10)
    assert moved.status_code == 200
    return period


class Listener:
    """Reads one SSE stream in a thread; each event or comment lands in `received`."""

    def __init__(self, url: str, headers: dict):
        self.response = requests.get(url, headers=headers, stream=True, timeout=(5, WAIT))
        assert self.response.status_code == 200, self.response.text
        self.received: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        block: dict = {}
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line == "":
                    if block:
                        self.received.put(block)
                    block = {}
                elif line.startswith(":"):
                    self.received.put({"comment": line[1:].strip()})
                else:
                    key, _, value = line.partition(": ")
                    block[key] = value
        except Exception:  # noqa: BLE001 - close() from the test thread ends the read with whatever the socket raises
            return

    def next_event(self) -> dict:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            item = self.received.get(timeout=WAIT)
            if "data" in item:
                return item
        raise AssertionError("no event arrived")

    def close(self):
        self.response.close()


def score(base: str, period: int, org: int, code: str, points: float, headers: dict) -> None:
    done = requests.put(f"{base}/api/v1/periods/{period}/scorecards/{org}/criteria/{code}", headers=headers,
                        json={"points": points, "note": "实时推送测试"}, timeout=10)
    assert done.status_code == 200, done.text


def test_stream_sends_each_change_with_an_id_heartbeats_and_resumes(db_url, people):
    with serve(db_url, STREAM_POLL_SECONDS=0.1, STREAM_HEARTBEAT_SECONDS=0.3) as (base, app):
        officer, secretary = bearer(base, "officer"), bearer(base, "sec_a")
        period = campaign(base, people, officer)
        url = f"{base}/api/v1/periods/{period}/scorecards/{people['a']}/stream"
        listener = Listener(url, secretary)
        assert listener.response.headers["Content-Type"].startswith("text/event-stream")
        assert listener.response.headers["X-Accel-Buffering"] == "no"
        assert listener.received.get(timeout=WAIT) == {"comment": "connected"}
        score(base, period, people["a"], "G1", 4, secretary)
        score(base, period, people["b"], "G1", 2, bearer(base, "sec_b"))   # another card: not on this stream
        score(base, period, people["a"], "G2", 1, secretary)
        first, second = listener.next_event(), listener.next_event()
        assert first["event"] == "score" and int(second["id"]) > int(first["id"])
        data = json.loads(first["data"])
        assert (data["criterion"], data["old"], data["new"], data["org_id"]) == ("G1", 0, 4, people["a"])
        assert {"standard_total", "total", "stars_before", "stars_after", "cause"} <= data.keys()
        assert json.loads(second["data"])["total"] == data["total"] + 1
        comments = []
        deadline = time.monotonic() + WAIT
        while "ping" not in comments and time.monotonic() < deadline:
            comments.append(listener.received.get(timeout=WAIT).get("comment"))
        assert "ping" in comments
        listener.close()

        # Disconnected while two more changes land: a reconnection with Last-Event-ID gets
        # exactly those, oldest first.
        score(base, period, people["a"], "G4", 3, secretary)
        score(base, period, people["a"], "T1", 2, secretary)
        resumed = Listener(url, {**secretary, "Last-Event-ID": second["id"]})
        missed = [json.loads(resumed.next_event()["data"])["criterion"] for _ in range(2)]
        assert missed == ["G4", "T1"]
        polled = requests.get(f"{base}/api/v1/periods/{period}/scorecards/{people['a']}/events",
                              params={"after": second["id"]}, headers=secretary, timeout=10).json()
        assert [e["criterion"] for e in polled] == missed   # the polling fallback agrees
        resumed.close()

        # Who may listen: the street to the campaign, a secretary to her own card only.
        assert requests.get(f"{base}/api/v1/periods/{period}/stream", headers=secretary, timeout=10).status_code == 403
        assert requests.get(f"{base}/api/v1/periods/{period}/scorecards/{people['b']}/stream", headers=secretary,
                            timeout=10).status_code == 404
        assert requests.get(url, params={"after": "x"}, headers=secretary, timeout=10).status_code == 422
        whole = Listener(f"{base}/api/v1/periods/{period}/stream", officer)
        score(base, period, people["b"], "G2", 2, bearer(base, "sec_b"))
        assert json.loads(whole.next_event()["data"])["org_id"] == people["b"]
        whole.close()

        # A response closed before its body started (HEAD) leaves no subscription behind.
        hub = stream.hub(app)
        assert requests.head(url, headers=secretary, timeout=10).status_code == 200
        deadline = time.monotonic() + WAIT
        while hub.subscriptions and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not hub.subscriptions


def test_a_full_process_refuses_more_streams(db_url, people):
    with serve(db_url, STREAM_MAX_OPEN=1) as (base, _app):
        officer = bearer(base, "officer")
        period = campaign(base, people, officer)
        first = Listener(f"{base}/api/v1/periods/{period}/stream", officer)
        busy = requests.get(f"{base}/api/v1/periods/{period}/stream", headers=officer, timeout=10)
        assert busy.status_code == 503 and busy.json()["error"]["code"] == "streams_busy"
        first.close()


def test_one_person_cannot_hold_every_stream(db_url, people):
    with serve(db_url, STREAM_MAX_PER_PERSON=2) as (base, app):
        officer, secretary = bearer(base, "officer"), bearer(base, "sec_a")
        period = campaign(base, people, officer)
        whole = f"{base}/api/v1/periods/{period}/stream"
        mine = [Listener(whole, officer), Listener(f"{base}/api/v1/periods/{period}/scorecards/{people['a']}/stream",
                                                    officer)]
        # Another device, the same person.
        refused = requests.get(whole, headers=bearer(base, "officer"), stream=True, timeout=10)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_streams"
        assert int(refused.headers["Retry-After"]) == app.config["STREAM_MAX_SECONDS"]
        refused.close()
        # Others still get theirs.
        other = Listener(f"{base}/api/v1/periods/{period}/scorecards/{people['a']}/stream", secretary)
        # A stream the person closes frees its place (at the next keep-alive).
        mine.pop().close()
        hub = stream.hub(app)
        deadline = time.monotonic() + WAIT
        while len(hub.subscriptions) > 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        again = Listener(whole, officer)
        for listener in (*mine, other, again):
            listener.close()


def mass_poll(base: str, org: int, officer: dict, codes: int) -> tuple[int, list[int], list[str]]:
    """A counted mass poll of `org`, open now: (poll id, rated question ids, one-time codes)."""
    made = requests.post(f"{base}/api/v1/polls", headers=officer, timeout=10, json={
        **PRESETS["mass"], "org_id": org, "modes": ["code"],
        "opens_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "closes_at": (datetime.now(UTC) + timedelta(days=7)).isoformat()})
    assert made.status_code == 201, made.text
    poll = made.json()
    issued = requests.post(f"{base}/api/v1/polls/{poll['id']}/codes", headers=officer, json={"count": codes},
                           timeout=10)
    assert issued.status_code == 201, issued.text
    rated = [q["id"] for q in poll["questions"] if q["kind"] == "rating5"]
    return poll["id"], rated, [c["code"] for c in issued.json()]


def answer(base: str, poll: int, rated: list[int], code: str) -> None:
    done = requests.post(f"{base}/api/v1/polls/{poll}/responses", timeout=10,
                         json={"code": code, "answers": [{"question_id": q, "value": 5} for q in rated]})
    assert done.status_code == 201, done.text


def test_an_answer_wakes_the_stream_at_its_commit_not_at_the_next_poll(db_url, people):
    """The poll is an hour apart here: the event can only arrive through the wake that the
    answer's commit gives the hub of its process."""
    with serve(db_url, STREAM_POLL_SECONDS=3600, STREAM_NOTIFY_POLL_SECONDS=3600) as (base, _app):
        officer, secretary = bearer(base, "officer"), bearer(base, "sec_a")
        period = campaign(base, people, officer)
        poll, rated, codes = mass_poll(base, people["a"], officer, 2)
        listener = Listener(f"{base}/api/v1/periods/{period}/scorecards/{people['a']}/stream", secretary)
        assert listener.received.get(timeout=WAIT) == {"comment": "connected"}
        for code in codes:
            answer(base, poll, rated, code)
            event = json.loads(listener.next_event()["data"])
            assert event["criterion"] in ("S5", "R5", "O5") and "份答卷" in event["cause"]
        listener.close()


def test_a_score_written_by_another_process_wakes_the_reader_without_its_poll(db_url, people):
    """Two apps, two engines: the writer's commit wakes only its own process's hub, so the
    reader's stream hears of it through PostgreSQL's NOTIFY, or on SQLite through the file's
    data version, alone (its poll is an hour apart)."""
    with serve(db_url, STREAM_POLL_SECONDS=3600, STREAM_NOTIFY_POLL_SECONDS=3600) as (reader, app), \
            serve(db_url) as (writer, _):
        officer, secretary = bearer(writer, "officer"), bearer(writer, "sec_a")
        period = campaign(writer, people, officer)
        listener = Listener(f"{reader}/api/v1/periods/{period}/scorecards/{people['a']}/stream", secretary)
        assert listener.received.get(timeout=WAIT) == {"comment": "connected"}
        hub = stream.hub(app)
        deadline = time.monotonic() + WAIT
        while not hub.listening and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hub.listening
        time.sleep(0.2)   # the wake the listener gives on connecting has been read
        score(writer, period, people["a"], "G1", 4, secretary)
        event = json.loads(listener.next_event()["data"])
        assert (event["criterion"], event["new"]) == ("G1", 4)
        listener.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gunicorn(db_url: str, port: int, evidence_dir: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": db_url, "SECRET_KEY": "two-process-test", "SANWEI_ENV": "development",
           "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", "WEB_CONCURRENCY": "1", "GUNICORN_THREADS": "4",
           "STREAM_POLL_SECONDS": "0.2", "EVIDENCE_DIR": evidence_dir, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
           # A closed stream is noticed at its next keep-alive, so shutdown need not wait 15 s.
           "STREAM_HEARTBEAT_SECONDS": "1"}
    return subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind",
                             f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _ready(base: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/h5/", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.2)
    raise AssertionError(f"{base} did not start")


def test_an_answer_written_through_one_process_reaches_a_stream_on_another(db_url, people, tmp_path):
    ports = [_free_port(), _free_port()]
    servers = [_gunicorn(db_url, port, str(tmp_path)) for port in ports]
    try:
        writer, reader = (f"http://127.0.0.1:{port}" for port in ports)
        _ready(writer)
        _ready(reader)
        officer, secretary = bearer(writer, "officer"), bearer(writer, "sec_a")
        period = campaign(writer, people, officer)
        listener = Listener(f"{reader}/api/v1/periods/{period}/scorecards/{people['a']}/stream", secretary)
        # An open stream holds one thread, not the process: the reader still answers.
        assert requests.get(f"{reader}/api/v1/periods/{period}", headers=secretary, timeout=10).status_code == 200
        score(writer, period, people["a"], "G1", 5, secretary)
        event = json.loads(listener.next_event()["data"])
        assert (event["criterion"], event["new"]) == ("G1", 5)
        listener.close()
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=WAIT)
