"""Live latency: from a poll answer's 201 to its score event on an open dashboard stream.

Serves the app with demo data under gunicorn (the project's gunicorn.conf.py, 2 workers),
opens the street officer's stream on 和平社区's scorecard, and posts answers to a counted mass
poll of that community one at a time; for each, the time from the 201 to the arrival of the
score event its commit wrote (cause "…第 n 份答卷"). Twice: idle, and while other clients keep
answering another community's poll (a concurrent write load whose events the stream ignores).
The two workers share the stream's process only by chance, so on SQLite an answer taken by
the other worker arrives with that worker's poll (STREAM_POLL_SECONDS); on PostgreSQL every
process is woken by NOTIFY.

    .venv/bin/python bench/live_latency.py [--answers 200] [--load-clients 2] [--database-url URL] [--json]

Without --database-url it uses a temporary SQLite database migrated to head; a given
PostgreSQL database must hold no data, migrated or not (the demo data go into it). Target: p95 ≤ 100 ms.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402

from backend.app import create_app  # noqa: E402
from backend.demo import DEMO_PASSWORD, load_demo  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.orgs.models import Org  # noqa: E402
from backend.people.models import Person  # noqa: E402
from backend.polls.presets import PRESETS  # noqa: E402
from backend.rating.models import RatingPeriod  # noqa: E402

TIMEOUT = 30
#: An answer whose event has not arrived after this long counts as lost (reported, not timed).
EVENT_WAIT = 10


def prepare() -> tuple[int, dict[str, int]]:
    """Migrate, load the demo data; (the live campaign's id, community name → id)."""
    app = create_app({"PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    with app.app_context():
        upgrade()
        if db.session.scalar(sa.select(sa.func.count()).select_from(Person)):
            raise SystemExit("give an empty database, or one only migrated (the demo data go into it)")
        load_demo()
        db.session.commit()
        period_id = db.session.scalar(sa.select(RatingPeriod.id).where(RatingPeriod.phase == "self_evaluation"))
        orgs = dict(db.session.execute(sa.select(Org.name, Org.id).where(Org.kind == "community")).all())
        db.session.remove()
        db.engine.dispose()
    return period_id, orgs


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(env: dict, port: int, log_path: Path) -> subprocess.Popen:
    with log_path.open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind",
                                 f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited: {log_path.read_text()[-2000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/h5/", timeout=5).status_code == 200:
                return proc
        except requests.RequestException:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("gunicorn did not answer within 60 s")


class Stream:
    """The SSE stream read in a thread: (arrival time, event data) for each score event."""

    def __init__(self, url: str, headers: dict):
        self.response = requests.get(url, headers=headers, stream=True, timeout=(5, None))
        self.response.raise_for_status()
        self.events: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        data = None
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line.startswith("data: "):
                    data = line[6:]
                elif line == "" and data is not None:
                    self.events.put((time.perf_counter(), json.loads(data)))
                    data = None
        except (requests.RequestException, AttributeError):   # closed from the main thread
            return

    def close(self) -> None:
        self.response.close()


def make_poll(base: str, officer: dict, org_id: int) -> tuple[int, list[int]]:
    now = datetime.now(UTC)
    made = requests.post(f"{base}/api/v1/polls", headers=officer, timeout=TIMEOUT, json={
        **PRESETS["mass"], "org_id": org_id, "modes": ["device"],
        "opens_at": (now - timedelta(minutes=1)).isoformat(), "closes_at": (now + timedelta(days=1)).isoformat()})
    made.raise_for_status()
    poll = made.json()
    return poll["id"], [q["id"] for q in poll["questions"] if q["kind"] == "rating5"]


def sheet(rated: list[int], i: int) -> list[dict]:
    return [{"question_id": q, "value": 5 if (i + n) % 3 else 3} for n, q in enumerate(rated)]


def measure(base: str, stream: Stream, poll: int, rated: list[int], answers: int, devices) -> dict:
    """Post `answers` answers one at a time; 201 → event latencies in ms."""
    latencies, lost = [], 0
    # A new connection per answer, as from many phones: it lands on either worker.
    for _ in range(answers):
        while not stream.events.empty():
            stream.events.get_nowait()
        sent = requests.post(f"{base}/api/v1/polls/{poll}/responses", timeout=TIMEOUT,
                             json={"device": next(devices), "answers": sheet(rated, len(latencies))})
        acknowledged = time.perf_counter()
        if sent.status_code != 201:
            raise SystemExit(f"answer refused: {sent.status_code} {sent.text}")
        try:
            arrived, _ = stream.events.get(timeout=EVENT_WAIT)
        except queue.Empty:
            lost += 1
            continue
        latencies.append(max(0.0, arrived - acknowledged) * 1000)
    return summary(latencies, lost)


def summary(latencies: list[float], lost: int) -> dict:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1) if ordered else None

    return {"answers": len(latencies) + lost, "lost": lost, "p50_ms": pct(0.50), "p95_ms": pct(0.95),
            "p99_ms": pct(0.99), "mean_ms": round(statistics.fmean(ordered), 1) if ordered else None}


def load(base: str, poll: int, rated: list[int], devices, stop: threading.Event, sent: list[int]) -> None:
    """Another community's answers, as fast as one client gets them through."""
    with requests.Session() as http:
        while not stop.is_set():
            response = http.post(f"{base}/api/v1/polls/{poll}/responses", timeout=TIMEOUT,
                                 json={"device": next(devices), "answers": sheet(rated, 1)})
            sent.append(response.status_code)


def run(args, url: str, tmp: str) -> dict:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench-live", "SANWEI_ENV": "development",
           "SANWEI_INSTANCE_DIR": tmp, "LEDGER_ANCHOR_PATH": f"{tmp}/ledger-anchors.jsonl",
           "EVIDENCE_DIR": f"{tmp}/evidence", "WEB_CONCURRENCY": "2", "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
           # Every client is 127.0.0.1 here: the per-client limits of anonymous writes step aside.
           "POLL_NETWORK_HOURLY_LIMIT": "1000000000", "POLL_CLIENT_HOURLY_LIMIT": "1000000000"}
    os.environ.update(env)
    period_id, orgs = prepare()
    server = start_server(env, port, Path(tmp) / "gunicorn.log")
    base = f"http://127.0.0.1:{port}"
    devices = (f"bench-live-{n:07d}" for n in itertools.count())
    try:
        token = requests.post(f"{base}/api/v1/auth/login", timeout=TIMEOUT,
                              json={"username": "jiedao", "password": DEMO_PASSWORD}).json()["token"]
        officer = {"Authorization": f"Bearer {token}"}
        watched, rated = make_poll(base, officer, orgs["和平社区"])
        other, other_rated = make_poll(base, officer, orgs["幸福社区"])
        stream = Stream(f"{base}/api/v1/periods/{period_id}/scorecards/{orgs['和平社区']}/stream", officer)
        results = {"idle": measure(base, stream, watched, rated, args.answers, devices)}
        stop, sent = threading.Event(), []
        loaders = [threading.Thread(target=load, args=(base, other, other_rated, devices, stop, sent), daemon=True)
                   for _ in range(args.load_clients)]
        for thread in loaders:
            thread.start()
        started = time.perf_counter()
        results["under_load"] = measure(base, stream, watched, rated, args.answers, devices)
        stop.set()
        for thread in loaders:
            thread.join(timeout=TIMEOUT)
        results["under_load"]["load_writes_per_s"] = round(sent.count(201) / (time.perf_counter() - started), 1)
        stream.close()
    finally:
        server.terminate()
        server.wait(timeout=60)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=200, help="answers timed per round (at most 1000)")
    parser.add_argument("--load-clients", type=int, default=2, help="clients writing during the second round")
    parser.add_argument("--database-url")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.answers = max(1, min(args.answers, 1000))
    with tempfile.TemporaryDirectory(prefix="sanwei-live-") as tmp:
        url = args.database_url or f"sqlite:///{tmp}/live.db"
        results = run(args, url, tmp)
    backend = url.split(":", 1)[0].split("+", 1)[0]
    if args.json:
        print(json.dumps({"database": backend, **results}))
        return 0
    print(f"answer 201 → score event on an open stream, {backend}, gunicorn 2 workers")
    print(f"{'round':<12} {'answers':>8} {'lost':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for name, r in results.items():
        print(f"{name:<12} {r['answers']:>8} {r['lost']:>5} {r['p50_ms']:>8} {r['p95_ms']:>8} {r['p99_ms']:>8}"
              f" {r['mean_ms']:>8}")
    if "load_writes_per_s" in results["under_load"]:
        print(f"load: {results['under_load']['load_writes_per_s']} other answers/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
