"""Crash harness: kill -9 the server's workers and its master during bursts of writes, then
check that every acknowledged write is there and that everything derived from them adds up.

The database is migrated and given the demo data (its campaign is in self-evaluation). The
app is served by gunicorn — a master and its gthread workers, as in production — on a free
loopback port, and client threads write to it over HTTP until the time is up and every kill
is done:

- wishes: residents submit through a grid's wish QR code, each with its own submit_token;
- poll answers: one per device to an open mass poll of 和平社区 that the street officer
  makes at the start, counted in the campaign (each answer moves the running tallies and
  recomputes S5, R5 and O5 on the scorecard);
- score entries: each community's secretary sets its manual criteria, one after another.

Meanwhile a random worker is killed with SIGKILL several times (the master forks a new one)
and the master itself at least once: the orphaned workers notice and leave, and gunicorn is
started again on the same port. A write whose connection is cut is sent again, as a phone
would, up to three times: the same submit_token finds the wish it made, the same device is
told it has answered, the same score is set again.

A write counts as acknowledged when the server answered 2xx. With the server stopped, the
checks: no request was answered 5xx; every acknowledged wish is stored under its token;
every acknowledged poll answer is stored, and the running tallies equal a recount of the
stored answers; each criterion holds the last value acknowledged for it, or a later one
sent whose answer was cut, and the ledger holds that value too; the campaign's ledger
verifies; no scorecard drifts from a full recompute (the nightly check); SQLite's
integrity_check and foreign_key_check find nothing.

    .venv/bin/python bench/crash.py [--seconds 60] [--worker-kills 8] [--master-kills 2]
                                    [--workers 2] [--threads 8] [--clients 2] [--graceful-timeout S]
                                    [--database postgresql://user@host:port/empty_db] [--log FILE]
                                    [--seed N]

Default database: a new SQLite file (WAL). `--database` takes an empty PostgreSQL database.
The environment is passed on to the server (SQLITE_SYNCHRONOUS=FULL, for one), except what
the harness sets: the database, the secret key, the instance, anchor and evidence paths,
the workers and threads, and the per-network hourly limit of open-QR poll answers (every
answer here comes from one loopback address, so the limit is lifted for the run).

After a master is killed, its orphaned gthread workers go on serving the connections their
clients keep alive until gunicorn's graceful_timeout (20 s) and hold the port until they
leave, so the restart waits for them; `--graceful-timeout` shortens that for short runs.

Linux only (it reads /proc to find the workers). Prints a table of figures and the checks;
exits 1 if a check fails, 2 if the server could not be run.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402

from backend.app import create_app  # noqa: E402
from backend.core.submissions import token_hash  # noqa: E402
from backend.demo import COMMUNITIES, DEMO_PASSWORD, load_demo  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.orgs.models import Org  # noqa: E402
from backend.polls import service as polls  # noqa: E402
from backend.polls.models import Poll, PollResponse  # noqa: E402
from backend.polls.presets import PRESETS  # noqa: E402
from backend.qrcodes.models import QrCode, QrPurpose  # noqa: E402
from backend.rating import anchors, ledger, watch  # noqa: E402
from backend.rating.models import CriterionScore, RatingPeriod, Scorecard  # noqa: E402
from backend.wishes.models import Wish  # noqa: E402

#: Sends of one write before giving it up (the first and two more after a cut connection).
ATTEMPTS = 3
#: Longest wait for an answer, for the server to come back, for orphaned workers to leave.
REQUEST_TIMEOUT = 30
READY_TIMEOUT = 90
ORPHAN_TIMEOUT = 60
#: Writes acknowledged since the last kill before the next one, so that each kill lands on a
#: server that is serving again rather than on one still coming back.
ACKS_BETWEEN_KILLS = 10
KINDS = ("wishes", "poll answers", "score entries")


@dataclass
class World:
    """What the clients need from the prepared database."""

    wish_qrs: list[str]
    period_id: int
    #: secretary username → the community's org id.
    secretaries: dict[str, int]
    poll_org_id: int


@dataclass
class Figures:
    """Per kind of write: HTTP requests sent and what came of them."""

    sent: int = 0
    acknowledged: int = 0
    #: Requests whose connection was cut (or timed out) before an answer came.
    cut: int = 0
    server_errors: int = 0
    #: Answered 4xx when no refusal was expected (any is reported, with its code).
    refused: Counter = field(default_factory=Counter)
    #: Writes sent again after a cut that the server found already done (the same token or
    #: device): stored, though their first answer was lost.
    found_on_retry: int = 0
    #: Writes given up after ATTEMPTS cut sends.
    given_up: int = 0


@dataclass
class Log:
    """Everything the clients sent and were told, for the checks."""

    figures: dict[str, Figures] = field(default_factory=lambda: {k: Figures() for k in KINDS})
    #: submit_token → wish id, for every acknowledged wish; the tokens of all sent.
    wishes: dict[str, int] = field(default_factory=dict)
    wish_tokens: list[str] = field(default_factory=list)
    #: Ids of acknowledged poll answers; devices sent.
    answers: list[int] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    #: (org id, criterion) → [(points, acknowledged)] in the order sent; the starting values.
    scores: dict[tuple[int, str], list[tuple[Decimal, bool]]] = field(default_factory=dict)
    initial: dict[tuple[int, str], Decimal] = field(default_factory=dict)
    #: Guards all of the above; notified on every acknowledgement (the killer waits for them).
    lock: threading.Condition = field(default_factory=threading.Condition)

    def acknowledged(self) -> int:
        return sum(f.acknowledged for f in self.figures.values())


# --- the database ------------------------------------------------------------------------------

def app_for():
    """The app on the run's database (DATABASE_URL); demo passwords hashed quickly."""
    return create_app({"PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})


def prepare(url: str) -> World:
    """Migrate, load the demo data, and read what the clients need."""
    app = app_for()
    with app.app_context():
        if url.startswith("postgresql") and sa.inspect(db.engine).get_table_names():
            raise SystemExit(f"{url}: give an empty database (the demo campaign takes one counted poll per community)")
        upgrade()
        load_demo()
        db.session.commit()
        grids = sa.select(Org.id).where(Org.kind == "grid")
        qrs = list(db.session.scalars(sa.select(QrCode.code).where(
            QrCode.purpose == QrPurpose.wish.value, QrCode.is_active, QrCode.target_id.in_(grids))
            .order_by(QrCode.id)))
        period_id = db.session.scalar(sa.select(RatingPeriod.id).where(RatingPeriod.phase == "self_evaluation"))
        names = {spec["secretary"][0]: name for name, spec in COMMUNITIES.items()}
        orgs = dict(db.session.execute(sa.select(Org.name, Org.id).where(Org.kind == "community")).all())
        db.session.remove()
        db.engine.dispose()
    secretaries = {username: orgs[name] for username, name in names.items()}
    return World(qrs, period_id, secretaries, secretaries["heping"])


# --- the server -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def children(pid: int) -> list[int]:
    """Live (not zombie) child processes of `pid`, from /proc."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.append(int(entry.name))
    return found


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait (on pidfds, no polling) until every process in `pids` has exited; those still
    running after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    left = []
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                left.append(pid)
        finally:
            os.close(fd)
    return left


class ServerFailed(RuntimeError):
    """gunicorn did not start or come back; the message ends with its log."""


class Server:
    """gunicorn on one loopback port, with the repository's gunicorn.conf.py."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path, options: list[str]):
        self.env, self.port, self.log_path, self.options = env, port, log_path, options
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        #: Per master kill: seconds until its orphaned workers had left, and until the new
        #: gunicorn answered.
        self.restarts: list[tuple[float, float]] = []

    def start(self) -> None:
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind",
                 f"127.0.0.1:{self.port}", *self.options, "wsgi:app"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.starts += 1
        self.wait_ready()

    def wait_ready(self) -> None:
        """Until the app answers (a worker has loaded it), at most READY_TIMEOUT seconds."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerFailed(f"gunicorn exited with {self.proc.returncode}\n{self.log_tail()}")
            try:
                if requests.get(f"{self.base}/static/app.css", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                # Not listening yet: give the master a moment, waking at once if it exits.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=0.1)
        raise ServerFailed(f"no answer from {self.base} within {READY_TIMEOUT} s\n{self.log_tail()}")

    def workers(self) -> list[int]:
        return children(self.proc.pid)

    def kill_worker(self, rng: random.Random) -> bool:
        workers = self.workers()
        if not workers:
            return False
        os.kill(rng.choice(workers), signal.SIGKILL)
        return True

    def kill_master(self) -> None:
        """SIGKILL the master; its orphaned workers see their parent gone and leave (until then
        they hold the port), and a new gunicorn starts on the same port."""
        orphans = self.workers()
        killed = time.monotonic()
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        left = wait_gone(orphans, ORPHAN_TIMEOUT)
        if left:
            for pid in left:
                os.kill(pid, signal.SIGKILL)
            raise ServerFailed(f"workers {left} still running {ORPHAN_TIMEOUT} s after their master was killed")
        gone = time.monotonic()
        self.start()
        self.restarts.append((gone - killed, time.monotonic() - killed))

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        workers = self.workers()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pid in wait_gone(workers, 30):
            os.kill(pid, signal.SIGKILL)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


# --- the clients ------------------------------------------------------------------------------

class Run:
    """The clients, the killer, and what they saw."""

    def __init__(self, server: Server, world: World, args, rng: random.Random):
        self.server, self.world, self.args, self.rng = server, world, args, rng
        self.log = Log()
        self.run_id = f"{rng.getrandbits(32):08x}"
        #: Set while the server is up; cleared from just before the master is killed until
        #: gunicorn answers again, so a cut client waits instead of hammering a closed port.
        self.ready = threading.Event()
        self.ready.set()
        #: Set when the clients are to stop: the time is up and every kill done, or a fault.
        self.done = threading.Event()
        self.began = self.ended = 0.0
        self.kills = Counter()
        self.errors: list[str] = []
        self.numbers = itertools.count(1)
        self.poll: dict = {}
        self.tokens: dict[str, str] = {}

    # Setup over HTTP, as the street officer and the secretaries would.

    def login(self, username: str) -> str:
        response = requests.post(f"{self.server.base}/api/v1/auth/login", timeout=REQUEST_TIMEOUT,
                                 json={"username": username, "password": DEMO_PASSWORD})
        response.raise_for_status()
        return response.json()["token"]

    def setup(self) -> None:
        base = self.server.base
        for username in ["jiedao", *self.world.secretaries]:
            self.tokens[username] = self.login(username)
        now = datetime.now(UTC)
        made = requests.post(f"{base}/api/v1/polls", headers=self.auth("jiedao"), timeout=REQUEST_TIMEOUT, json={
            **PRESETS["mass"], "org_id": self.world.poll_org_id, "modes": ["device"],
            "opens_at": (now - timedelta(minutes=1)).isoformat(), "closes_at": (now + timedelta(days=1)).isoformat()})
        if made.status_code != 201:
            raise ServerFailed(f"the counted poll was not made: {made.status_code} {made.text}")
        self.poll = made.json()
        if self.poll["period_id"] != self.world.period_id:
            raise ServerFailed(f"the poll feeds campaign {self.poll['period_id']}, not {self.world.period_id}")
        for username, org_id in self.world.secretaries.items():
            card = requests.get(f"{base}/api/v1/periods/{self.world.period_id}/scorecards/{org_id}",
                                headers=self.auth(username), timeout=REQUEST_TIMEOUT)
            card.raise_for_status()
            for row in card.json()["criteria"]:
                if row["source"] == "manual":
                    self.log.initial[(org_id, row["code"])] = Decimal(str(row["points"]))
                    self.log.scores[(org_id, row["code"])] = []

    def auth(self, username: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def send(self, kind: str, http: requests.Session, method: str, path: str,
             **kwargs) -> tuple[requests.Response | None, bool]:
        """One write, sent again after a cut connection or a 5xx (up to ATTEMPTS sends): the
        answer (None when every send was cut), and whether it answered a send after the first."""
        figures = self.log.figures[kind]
        for attempt in range(ATTEMPTS):
            if attempt and not self.ready.wait(READY_TIMEOUT):
                break
            with self.log.lock:
                figures.sent += 1
            try:
                response = http.request(method, f"{self.server.base}{path}", timeout=REQUEST_TIMEOUT, **kwargs)
            except requests.RequestException:
                with self.log.lock:
                    figures.cut += 1
                continue
            if response.status_code >= 500:
                with self.log.lock:
                    figures.server_errors += 1
                continue
            return response, attempt > 0
        with self.log.lock:
            figures.given_up += 1
        return None, True

    def settle(self, kind: str, sent: tuple[requests.Response | None, bool],
               expected_again: tuple[int, str] | None = None) -> bool:
        """Count the answer; whether it acknowledged the write. `expected_again`: the (status,
        error code) that, after a cut, says the first send was stored."""
        response, retried = sent
        figures = self.log.figures[kind]
        with self.log.lock:
            if response is None:
                return False
            if response.status_code in (200, 201):
                figures.acknowledged += 1
                self.log.lock.notify_all()
                return True
            code = (response.json().get("error") or {}).get("code", "?")
            if retried and (response.status_code, code) == expected_again:
                figures.found_on_retry += 1
            else:
                figures.refused[f"{response.status_code} {code}"] += 1
            return False

    def wish_client(self) -> None:
        with requests.Session() as http:
            while not self.done.is_set():
                n = next(self.numbers)
                token = f"crash-{self.run_id}-wish-{n:07d}"
                with self.log.lock:
                    self.log.wish_tokens.append(token)
                sent = self.send("wishes", http, "POST", "/api/v1/wishes", json={
                    "qr": self.rng.choice(self.world.wish_qrs), "title": f"压测心愿 {n}",
                    "content": "楼道灯坏了，希望帮忙修一下", "category": "生活帮扶", "consent": True,
                    "submit_token": token})
                if self.settle("wishes", sent):
                    response = sent[0]
                    with self.log.lock:
                        self.log.wishes[token] = response.json()["id"]
                        # 200, not 201, after a cut: the token found the wish the first send made.
                        self.log.figures["wishes"].found_on_retry += response.status_code == 200

    def answer_client(self) -> None:
        questions = [q for q in self.poll["questions"] if q["kind"] == "rating5"]
        choice = next(q for q in self.poll["questions"] if q["kind"] == "choice")
        path = f"/api/v1/polls/{self.poll['id']}/responses"
        with requests.Session() as http:
            while not self.done.is_set():
                device = f"crash-{self.run_id}-device-{next(self.numbers):07d}"
                with self.log.lock:
                    self.log.devices.append(device)
                sheet = [{"question_id": q["id"], "value": self.rng.randint(1, 5)} for q in questions]
                sheet.append({"question_id": choice["id"], "value": sorted(self.rng.sample(range(5), 2))})
                sent = self.send("poll answers", http, "POST", path, json={"device": device, "answers": sheet})
                if self.settle("poll answers", sent, (409, "already_answered")):
                    with self.log.lock:
                        self.log.answers.append(sent[0].json()["id"])

    def score_client(self, username: str) -> None:
        org_id = self.world.secretaries[username]
        codes = sorted(code for org, code in self.log.scores if org == org_id)
        card = f"/api/v1/periods/{self.world.period_id}/scorecards/{org_id}"
        with requests.Session() as http:
            http.headers.update(self.auth(username))
            maxima = {row["code"]: Decimal(str(row["max_points"]))
                      for row in http.get(f"{self.server.base}{card}", timeout=REQUEST_TIMEOUT).json()["criteria"]}
            for n in itertools.count():
                if self.done.is_set():
                    break
                code = codes[n % len(codes)]
                points = Decimal(self.rng.randint(0, int(maxima[code] * 100))) / 100
                sent = self.send("score entries", http, "PUT", f"{card}/criteria/{code}",
                                 json={"points": float(points), "note": f"压测第 {n} 次评分"})
                acknowledged = self.settle("score entries", sent)
                with self.log.lock:
                    self.log.scores[(org_id, code)].append((points, acknowledged))

    # The killer.

    def killer(self) -> None:
        """The kills, spread evenly over the run in a random order (the master's never first),
        each once the server has acknowledged writes since the one before; then, the time up,
        the end of the run."""
        events = ["worker"] * self.args.worker_kills + ["master"] * self.args.master_kills
        self.rng.shuffle(events)
        if events and events[0] == "master" and "worker" in events:
            events.remove("worker")
            events.insert(0, "worker")
        step = self.args.seconds / (len(events) + 1)
        try:
            for i, event in enumerate(events):
                with self.log.lock:
                    mark = self.log.acknowledged()
                # The plan: kill i at its share of the run; when a restart ran over, still half
                # a share after the kill before, so that the kills do not come in a bunch.
                self.until(max(self.began + step * (i + 1), time.monotonic() + step / 2))
                with self.log.lock:
                    if not self.log.lock.wait_for(
                            lambda mark=mark: self.log.acknowledged() >= mark + ACKS_BETWEEN_KILLS, READY_TIMEOUT):
                        raise ServerFailed(f"fewer than {ACKS_BETWEEN_KILLS} writes acknowledged in "
                                           f"{READY_TIMEOUT} s")
                if event == "worker":
                    self.kills["worker"] += self.server.kill_worker(self.rng)
                else:
                    self.ready.clear()
                    self.server.kill_master()
                    self.kills["master"] += 1
                    self.ready.set()
            self.until(self.began + self.args.seconds)
        except ServerFailed as exc:
            self.errors.append(str(exc))
        finally:
            self.done.set()
            # A client waiting for the server gives up after READY_TIMEOUT: none is left waiting.
            self.ready.set()

    def until(self, moment: float) -> None:
        """Wait for a moment of the plan, or for the run to be stopped."""
        self.done.wait(max(0.0, moment - time.monotonic()))

    def thread(self, target, *args) -> threading.Thread:
        """A client thread whose crash fails the run (a harness fault, not the server's)."""
        def guarded():
            try:
                target(*args)
            except Exception as exc:
                self.errors.append(f"{target.__name__}{args}: {exc!r}")
                self.done.set()
        # Daemons: an interrupted harness stops its server and exits without waiting for them.
        return threading.Thread(target=guarded, daemon=True)

    def run(self) -> None:
        """Write until the time is up and every kill is done (the last restart may run over)."""
        self.began = time.monotonic()
        clients = [self.thread(self.wish_client) for _ in range(self.args.clients)]
        clients += [self.thread(self.answer_client) for _ in range(self.args.clients)]
        clients += [self.thread(self.score_client, u) for u in self.world.secretaries]
        killer = threading.Thread(target=self.killer, daemon=True)
        for thread in [*clients, killer]:
            thread.start()
        killer.join()
        for thread in clients:
            thread.join()
        self.ended = time.monotonic()


# --- the checks -------------------------------------------------------------------------------

def check(world: World, log: Log, poll_id: int) -> tuple[list[tuple[str, bool, str]], dict]:
    """(check, passed, detail) for each check, and how many writes are stored that were never
    acknowledged."""
    errors = {kind: f.server_errors for kind, f in log.figures.items() if f.server_errors}
    # A 5xx is no lost write (the send is repeated), but the server failing a sound request is a bug.
    results = [("no request answered 5xx", not errors, ", ".join(f"{n} {kind}" for kind, n in errors.items())
                or f"{sum(f.sent for f in log.figures.values()):,} requests")]
    app = app_for()
    with app.app_context():
        # Only a keyed hash of each token is stored: look the run's tokens up by theirs.
        hashes = {token_hash("wish", t): t for t in log.wish_tokens}
        stored = {hashes[h]: wish_id for h, wish_id in db.session.execute(
            sa.select(Wish.submit_token, Wish.id).where(Wish.submit_token.in_(hashes))).all()}
        missing = [t for t, wish_id in log.wishes.items() if stored.get(t) != wish_id]
        results.append(("every acknowledged wish stored under its token", not missing,
                        f"{len(log.wishes):,} acknowledged, {len(stored):,} stored of {len(log.wish_tokens):,} sent"
                        + (f"; missing or moved: {missing[:5]}" if missing else "")))

        poll = db.session.get(Poll, poll_id)
        kept = set(db.session.scalars(sa.select(PollResponse.id).where(PollResponse.poll_id == poll_id)))
        lost = [i for i in log.answers if i not in kept]
        confirmed = len(log.answers) + log.figures["poll answers"].found_on_retry
        results.append(("every acknowledged poll answer stored", not lost and len(kept) >= confirmed,
                        f"{len(log.answers):,} acknowledged (+{confirmed - len(log.answers)} found on retry), "
                        f"{len(kept):,} stored of {len(log.devices):,} sent" + (f"; lost: {lost[:5]}" if lost else "")))
        tallies, recount = polls.stored_tallies(poll), polls.recompute_tallies(poll)
        wrong = {k: (tallies.get(k), recount.get(k)) for k in tallies.keys() | recount.keys()
                 if tallies.get(k) != recount.get(k)}
        results.append(("poll tallies = recount of the stored answers", not wrong,
                        f"{recount.get((0, 0, 'responses'), 0):,} answers, {len(recount)} tallies"
                        + (f"; differ: {list(wrong.items())[:5]}" if wrong else "")))

        period = db.session.get(RatingPeriod, world.period_id)
        rows = {(org, code): points for org, code, points in db.session.execute(
            sa.select(Scorecard.org_id, CriterionScore.code, CriterionScore.computed_points)
            .join(Scorecard, Scorecard.id == CriterionScore.scorecard_id)
            .where(Scorecard.period_id == period.id))}
        recorded = ledger.recorded_scores(period)
        wrong_scores, unledgered, entries = [], [], 0
        for key, sent in log.scores.items():
            entries += len(sent)
            acked = [i for i, (_, ok) in enumerate(sent) if ok]
            start = acked[-1] if acked else None
            allowed = {p for p, _ in sent[start:]} if start is not None else {log.initial[key], *(p for p, _ in sent)}
            if rows[key] not in allowed:
                wrong_scores.append((key, rows[key], sorted(allowed)))
            # A criterion never entered has no ledger entry, and keeps its starting value.
            if recorded.get(key, log.initial[key]) != rows[key]:
                unledgered.append((key, rows[key], recorded.get(key)))
        results.append(("each criterion holds its last acknowledged score (or a later one sent)", not wrong_scores,
                        f"{entries:,} entries sent to {len(log.scores)} criteria"
                        + (f"; wrong: {wrong_scores[:3]}" if wrong_scores else "")))
        results.append(("the ledger holds every stored score", not unledgered,
                        f"{sum(1 for v in log.scores.values() if v)} criteria"
                        + (f"; differ: {unledgered[:3]}" if unledgered else "")))
        verified = anchors.verified(period)
        results.append(("the campaign's ledger verifies", verified["ok"],
                        f"{verified['entries']:,} entries" + ("" if verified["ok"] else f"; {verified['first_bad']}")))

        drifted = []
        for card in db.session.scalars(sa.select(Scorecard).where(Scorecard.period_id == period.id)
                                       .order_by(Scorecard.id)).all():
            found, _ = watch.audit(card, cause="crash check", thorough=True)
            drifted += [(card.org_id, d.as_dict()) for d in found]
        db.session.rollback()
        results.append(("no scorecard drifts from a full recompute", not drifted,
                        "the nightly check over every scorecard" + (f"; drift: {drifted[:3]}" if drifted else "")))

        if db.engine.dialect.name == "sqlite":
            with db.engine.connect() as conn:
                integrity = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check")]
                dangling = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            results.append(("SQLite integrity_check", integrity == ["ok"], "; ".join(integrity[:5])))
            results.append(("SQLite foreign_key_check", not dangling, f"{len(dangling)} dangling rows"))
        db.session.remove()
        db.engine.dispose()
    unacknowledged = {"wishes": len(stored) - len(log.wishes),
                      "poll answers": len(kept) - confirmed}
    return results, unacknowledged


# --- the report -------------------------------------------------------------------------------

def report(run: Run, results, unacknowledged, label: str) -> None:
    args = run.args
    print(f"crash run: {label}, {run.ended - run.began:.0f} s of writes, gunicorn {args.workers} workers × "
          f"{args.threads} threads, {2 * args.clients + len(run.world.secretaries)} clients")
    head = ("writes", "sent", "acknowledged", "cut", "5xx", "refused", "found on retry", "given up",
            "stored, unanswered")
    print(f"{head[0]:<14}" + "".join(f"{h:>{len(h) + 2}}" for h in head[1:]))
    totals = Counter()
    for kind in KINDS:
        f = run.log.figures[kind]
        row = (f.sent, f.acknowledged, f.cut, f.server_errors, sum(f.refused.values()), f.found_on_retry,
               f.given_up, unacknowledged.get(kind, "–"))
        totals.update({h: v for h, v in zip(head[1:], row, strict=True) if isinstance(v, int)})
        print(f"{kind:<14}" + "".join(f"{v:>{len(h) + 2},}" if isinstance(v, int) else f"{v:>{len(h) + 2}}"
                                      for h, v in zip(head[1:], row, strict=True)))
    print(f"{'total':<14}" + "".join(f"{totals[h]:>{len(h) + 2},}" for h in head[1:]))
    print(f"kills (SIGKILL): workers {run.kills['worker']}, master {run.kills['master']}; "
          f"gunicorn started {run.server.starts} times")
    if run.server.restarts:
        gone, back = (max(r[i] for r in run.server.restarts) for i in (0, 1))
        print(f"after a master kill, at most: {gone:.1f} s until its orphaned workers left, "
              f"{back:.1f} s until the new gunicorn answered")
    for kind in KINDS:
        if run.log.figures[kind].refused:
            print(f"refused {kind}: {dict(run.log.figures[kind].refused)}")
    passed = sum(ok for _, ok, _ in results)
    print(f"checks: {passed} of {len(results)} passed")
    for name, ok, detail in results:
        print(f"  {'ok  ' if ok else 'FAIL'} {name}: {detail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="how long the clients write at least (default 60); "
                        "the run goes on until every kill is done")
    parser.add_argument("--worker-kills", type=int, default=8, help="workers killed during the run (default 8)")
    parser.add_argument("--master-kills", type=int, default=2, help="masters killed, at least 1 (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, at least 2 (default 2)")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker (default 8)")
    parser.add_argument("--clients", type=int, default=2,
                        help="client threads sending wishes, and as many poll answers (default 2); one more per "
                             "community's secretary for scores")
    parser.add_argument("--graceful-timeout", type=int,
                        help="gunicorn's graceful_timeout: how long orphaned workers may keep serving after their "
                             "master is killed, and so how long the port stays taken (default: gunicorn.conf.py's)")
    parser.add_argument("--log", type=Path, help="keep gunicorn's log (access log and errors) in this file")
    parser.add_argument("--seed", type=int, default=None, help="the random choices (kill order, victims, values)")
    parser.add_argument("--database", help="an empty PostgreSQL database's URL (default: a new SQLite file)")
    args = parser.parse_args()
    if args.master_kills < 1 or args.workers < 2 or args.worker_kills < 0 or args.seconds <= 0:
        parser.error("at least one master kill, two workers, and a positive time")
    seed = args.seed if args.seed is not None else random.SystemRandom().getrandbits(32)
    rng = random.Random(seed)

    with tempfile.TemporaryDirectory(prefix="sanwei-crash-") as tmp:
        url = args.database or f"sqlite:///{tmp}/crash.db"
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": f"crash-{seed}", "SANWEI_ENV": "development",
               "SANWEI_INSTANCE_DIR": tmp, "LEDGER_ANCHOR_PATH": f"{tmp}/ledger-anchors.jsonl",
               "EVIDENCE_DIR": f"{tmp}/evidence", "WEB_CONCURRENCY": str(args.workers),
               "GUNICORN_THREADS": str(args.threads), "POLL_NETWORK_HOURLY_LIMIT": "1000000000",
               # Every client is 127.0.0.1 here: the per-client limits of anonymous writes step aside.
               "WISH_CLIENT_HOURLY_LIMIT": "1000000000", "BOOKING_CLIENT_HOURLY_LIMIT": "1000000000",
               "POLL_CLIENT_HOURLY_LIMIT": "1000000000"}
        port = free_port()
        env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
        # The harness reads and checks the database with the settings the server runs with.
        os.environ.update(env)
        world = prepare(url)
        options = ["--graceful-timeout", str(args.graceful_timeout)] if args.graceful_timeout is not None else []
        server = Server(env, port, Path(tmp) / "gunicorn.log", options)
        run = Run(server, world, args, rng)
        try:
            server.start()
            run.setup()
            run.run()
        except ServerFailed as exc:
            run.errors.append(str(exc))
        finally:
            server.stop()
            if args.log:
                shutil.copyfile(server.log_path, args.log)
        if run.errors:
            print("\n".join(run.errors), file=sys.stderr)
            return 2
        results, unacknowledged = check(world, run.log, run.poll["id"])
        report(run, results, unacknowledged, "PostgreSQL" if url.startswith("postgresql") else
               f"SQLite (WAL, synchronous={os.environ.get('SQLITE_SYNCHRONOUS', 'NORMAL').upper()})")
        print(f"seed {seed}")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
