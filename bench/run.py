"""`make bench`: the product's throughput against a bare Flask baseline, side by side.

For each database (SQLite in WAL as the product runs, and PostgreSQL on a throwaway server
started as the tests start one), a fresh database gets the demo data and enough rows for
realistic lists; the product (wsgi:app) and the bare baseline (bench/bare_app.py) are served
by gunicorn with the repository's gunicorn.conf.py (same workers, threads and access log, to a
file) on loopback ports, and wrk loads each path of the product and its baseline equivalent
in turn, in rounds, so that both see the same machine. Per run: requests per second, p50 and
p99 latency, the server's CPU time per request (the gunicorn process tree's, from /proc),
responses that were not 2xx; per path, statements per request (the product's X-Statements
header, STATEMENT_COUNT_HEADER on, from a few requests sent before the load).

Then the standalone measuring scripts that exist (bench/history.py, live_latency.py,
campaign.py, each run with --json; page_weight.py's own output) and the machine's
description. Everything is printed and written to bench/results/<UTC time>.md and .json.

    .venv/bin/python bench/run.py [--seconds 10] [--rounds 3] [--databases sqlite,postgresql]
                                  [--paths activities,wish_submit,...] [--connections 8]
                                  [--no-scripts] [--out bench/results]

BENCH_SECONDS and BENCH_ROUNDS set the defaults of --seconds and --rounds. The server runs
with the per-client hourly limits of anonymous writes lifted: every request of the bench
comes from 127.0.0.1, which the limits would otherwise refuse after a few. Loopback only.
Exit status 0 when every run answered 2xx only, 1 when some path had errors (reported in
the table), 2 when a server could not be run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import secrets
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402

from backend.activities import service as activity_service  # noqa: E402
from backend.app import create_app  # noqa: E402
from backend.auth.service import issue_token  # noqa: E402
from backend.demo import DEMO_PASSWORD, load_demo  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.orgs.models import Org  # noqa: E402
from backend.people.actors import load_actor  # noqa: E402
from backend.people.models import Person  # noqa: E402
from backend.people.service import add_membership, create_person  # noqa: E402
from backend.polls.presets import PRESETS  # noqa: E402
from backend.qrcodes.models import QrCode, QrPurpose  # noqa: E402
from backend.rating.models import RatingPeriod  # noqa: E402
from backend.wishes import service as wish_service  # noqa: E402
from tests.pg import PostgresServer  # noqa: E402

READY_TIMEOUT = 90
#: Rows added to the demo data so that lists are of a realistic length, and enough
#: (volunteer, activity) pairs that no sign-up of a run is refused as a duplicate.
EXTRA_WISHES = 300
VOLUNTEERS = 200
ACTIVITIES = 200
#: Requests per path sent before the load, to warm the workers up and read X-Statements.
SAMPLES = 5
SCRIPTS = ("history", "live_latency", "campaign")


@dataclass
class Target:
    """One row of the table: a path of the product and its baseline equivalent."""

    name: str
    label: str
    method: str
    path: str
    bare: str
    body: str = ""
    header: str = ""
    a_items: list[str] = field(default_factory=list)
    b_items: list[str] = field(default_factory=list)
    #: Numbers {n} are unique across runs of this path (writes).
    unique: bool = False


# --- the database ---------------------------------------------------------------------------

def prepare(url: str) -> dict:
    """Migrate, load the demo data and the extra rows; what the paths need."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    with app.app_context():
        upgrade()
        load_demo()
        db.session.commit()
        heping = db.session.scalar(sa.select(Org).where(Org.kind == "community", Org.name == "和平社区"))
        grids = list(db.session.scalars(sa.select(Org).where(Org.parent_id == heping.id, Org.kind == "grid")))
        qrs = list(db.session.scalars(sa.select(QrCode.code).where(
            QrCode.purpose == QrPurpose.wish.value, QrCode.is_active,
            QrCode.target_id.in_([g.id for g in grids])).order_by(QrCode.id)))
        for i in range(EXTRA_WISHES):
            wish_service.submit(grid=grids[i % len(grids)], title=f"楼道照明维修 {i}", category="生活帮扶",
                                content="三单元楼道灯不亮，晚上老人上下楼不方便，希望帮忙修一下", consent=True,
                                contact_name="王阿姨", contact_phone=f"1390000{i:04d}", qr=qrs[i % len(qrs)])
        db.session.commit()
        secretary = db.session.scalar(sa.select(Person.id).where(Person.username == "heping"))
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=3)
        activities = []
        for i in range(ACTIVITIES):
            # Two hours apart: a volunteer may take every one of them without an overlap.
            begins = start + timedelta(hours=2 * i)
            activities.append(activity_service.create_activity(load_actor(secretary), {
                "org_id": heping.id, "title": f"社区环境整治 {i}", "location": "和平社区广场",
                "starts_at": begins, "ends_at": begins + timedelta(hours=1), "capacity": 10000,
                "waitlist": False}).id)
        tokens = []
        for i in range(VOLUNTEERS):
            person = create_person(name=f"志愿者{i}")
            add_membership(person, heping, "volunteer")
            tokens.append(issue_token(person)[0])
        db.session.commit()
        period = db.session.scalar(sa.select(RatingPeriod.id).where(RatingPeriod.phase == "self_evaluation"))
        world = {"heping": heping.id, "qrs": qrs, "activities": activities, "volunteer_tokens": tokens,
                 "period": period}
        db.session.remove()
        if db.engine.dialect.name == "postgresql":
            # The statistics autovacuum keeps on a live database: without them the planner
            # took the 203 activities for 60 and the page's statement ran three times as long.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
        db.engine.dispose()
    return world


@contextlib.contextmanager
def database(kind: str, tmp: Path):
    """A fresh, empty database of `kind`: its URL, for PostgreSQL a way to make more, and the
    pid of the server whose process tree does the database's work (none for SQLite, which
    works inside gunicorn's processes)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp}/bench.db", None, None
        return
    server = PostgresServer()
    reason = server.unavailable_reason()
    if reason:
        raise Unavailable(reason)
    base = server.start()
    try:
        def make(name: str) -> str:
            engine = sa.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            engine.dispose()
            return f"{base}/{name}"
        postmaster = int((server.datadir / "postmaster.pid").read_text().split()[0])
        yield make("sanwei_bench"), make, postmaster
    finally:
        server.stop()


class Unavailable(RuntimeError):
    """A database or a server could not be had; the message says why."""


# --- the servers ----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                ppid = int(Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[1])
                parents.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, []))
    return tree


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of the process tree under `pid`, children that ended included."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            # utime, stime, cutime, cstime: fields 14 to 17 of proc(5), counted after the name.
            total += sum(int(x) for x in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


class Server:
    """gunicorn with the repository's gunicorn.conf.py on a free loopback port."""

    def __init__(self, name: str, app: str, env: dict[str, str], log: Path, ready_path: str):
        self.name, self.app, self.env, self.log, self.ready_path = name, app, env, log, ready_path
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
                 "--bind", f"127.0.0.1:{self.port}", self.app],
                cwd=ROOT, env={**self.env, "PUBLIC_BASE_URL": self.base}, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

    def wait_ready(self) -> None:
        """Until the app answers 200 (a worker has loaded it), at most READY_TIMEOUT seconds."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Unavailable(f"{self.name}: gunicorn exited with {self.proc.returncode}\n{self.tail()}")
            try:
                if requests.get(self.base + self.ready_path, timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                # Not listening yet: wait a moment, waking at once should gunicorn exit.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=0.1)
        raise Unavailable(f"{self.name}: no answer from {self.base} within {READY_TIMEOUT} s\n{self.tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


# --- the paths ------------------------------------------------------------------------------

def login_token(base: str, username: str) -> str:
    response = requests.post(f"{base}/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD},
                             timeout=30)
    response.raise_for_status()
    return response.json()["token"]


def session_cookie(base: str, username: str) -> str:
    """A signed-in H5 session, as the Cookie header a phone would send."""
    with requests.Session() as http:
        page = http.get(f"{base}/h5/login", timeout=30).text
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        done = http.post(f"{base}/h5/login", data={"username": username, "password": DEMO_PASSWORD,
                                                  "csrf_token": token}, allow_redirects=False, timeout=30)
        if done.status_code != 302:
            raise Unavailable(f"H5 login of {username}: {done.status_code}")
        return "; ".join(f"{k}={v}" for k, v in http.cookies.items())


def make_poll(base: str, world: dict, bearer: str) -> dict:
    """The street's counted mass poll of 和平社区, open now, one answer per device."""
    now = datetime.now(UTC)
    made = requests.post(f"{base}/api/v1/polls", headers={"Authorization": f"Bearer {bearer}"}, timeout=30, json={
        **PRESETS["mass"], "org_id": world["heping"], "modes": ["device"],
        "opens_at": (now - timedelta(minutes=1)).isoformat(), "closes_at": (now + timedelta(days=1)).isoformat()})
    if made.status_code != 201:
        raise Unavailable(f"the poll was not made: {made.status_code} {made.text[:300]}")
    return made.json()


def paths_for(base: str, world: dict, run_id: str) -> list[Target]:
    """The paths measured, with what each request needs (signed in over HTTP, as a client is).
    `run_id`: 24 hex digits, so that a wish's submit_token (run_id-n) is as long as a form's."""
    secretary = f"Authorization: Bearer {login_token(base, 'heping')}"
    poll = make_poll(base, world, login_token(base, "jiedao"))
    sheet = [{"question_id": q["id"], "value": 4 if q["kind"] == "rating5" else [0, 2]}
             for q in poll["questions"] if q["kind"] in ("rating5", "choice")]
    answers = json.dumps(sheet, separators=(",", ":"))
    wish = json.dumps({"qr": "{a}", "title": "压测心愿 {n}", "content": "楼道灯坏了，希望帮忙修一下",
                       "category": "生活帮扶", "consent": True, "submit_token": f"{run_id}-{{n}}"},
                      ensure_ascii=False, separators=(",", ":"))
    bearer = "Authorization: Bearer {b}"
    return [
        Target("activities", "GET /api/v1/activities (bearer)", "GET", "/api/v1/activities", "/json",
              header=secretary),
        Target("scorecard", "GET scorecard JSON", "GET", f"/api/v1/periods/{world['period']}/scorecards/"
              f"{world['heping']}", "/json", header=secretary),
        Target("tasks", "GET /h5/tasks (grid leader)", "GET", "/h5/tasks", "/html",
              header=f"Cookie: {session_cookie(base, 'heping_g1')}"),
        Target("wishes_open", "GET /api/v1/wishes?status=open", "GET", "/api/v1/wishes?status=open", "/json",
              header=secretary),
        Target("wish_submit", "POST /api/v1/wishes (anonymous QR)", "POST", "/api/v1/wishes", "/post",
              body=wish, a_items=world["qrs"], unique=True),
        Target("poll_answer", "POST poll answer (live recompute)", "POST", f"/api/v1/polls/{poll['id']}/responses",
              "/post", body=f'{{"device":"bench-{run_id}-{{n}}","answers":{answers}}}', unique=True),
        Target("signup", "POST activity sign-up", "POST", "/api/v1/activities/{a}/signups", "/post",
              body="{}", header=bearer, a_items=[str(a) for a in world["activities"]],
              b_items=world["volunteer_tokens"], unique=True),
    ]


def data_file(path: Target, bare: bool, tmp: Path) -> Path:
    """The wrk script's description of the requests of one side of a path."""
    if bare:
        lines = [path.method, path.bare, path.body.replace("{a}", "x").replace("{b}", "x"), "", "0"]
    else:
        lines = [path.method, path.path, path.body, path.header, str(len(path.a_items)), *path.a_items,
                 *path.b_items]
    target = tmp / f"{path.name}-{'bare' if bare else 'product'}.txt"
    target.write_text("\n".join(lines) + "\n")
    return target


def fill(template: str, n: int, path: Target) -> str:
    """What wrk.lua makes of a template for request number n (for the requests sent first)."""
    a = path.a_items[n % len(path.a_items)] if path.a_items else ""
    b = path.b_items[(n // max(1, len(path.a_items))) % len(path.b_items)] if path.b_items else ""
    return template.replace("{n}", str(n)).replace("{a}", a).replace("{b}", b)


def sample(base: str, path: Target, bare: bool, first: int) -> tuple[list[int], list[int]]:
    """A few requests as wrk will send them: their statuses and X-Statements counts."""
    statuses, statements = [], []
    for n in range(first, first + SAMPLES):
        url = base + (path.bare if bare else fill(path.path, n, path))
        headers = {}
        if path.header and not bare:
            name, value = fill(path.header, n, path).split(":", 1)
            headers[name] = value.strip()
        body = fill(path.body, n, path).encode() if path.body else None
        if body is not None:
            headers["Content-Type"] = "application/json"
        response = requests.request(path.method, url, data=body, headers=headers, timeout=60)
        statuses.append(response.status_code)
        if "X-Statements" in response.headers:
            statements.append(int(response.headers["X-Statements"]))
    return statuses, statements


def wrk(server: Server, path: Target, bare: bool, tmp: Path, seconds: float, connections: int,
        offset: int, database_pid: int | None) -> dict:
    """One load run; the wrk summary, and the CPU time over it of gunicorn and of the database
    server (its backends are its children: their time is counted as they end)."""
    threads = 2
    script = data_file(path, bare, tmp)
    before = cpu_seconds(server.proc.pid)
    database_before = cpu_seconds(database_pid) if database_pid else 0.0
    done = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
                           "--timeout", "30s", "-s", str(ROOT / "bench" / "wrk.lua"), server.base,
                           "--", str(script), str(offset), str(threads)],
                          capture_output=True, text=True, timeout=seconds + 120)
    spent = cpu_seconds(server.proc.pid) - before
    database_spent = cpu_seconds(database_pid) - database_before if database_pid else 0.0
    if done.returncode != 0 or not done.stdout.strip():
        raise Unavailable(f"wrk failed on {path.name}: {done.stderr.strip() or done.stdout.strip()}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    requests_done = summary["requests"]
    return {"rps": requests_done / (summary["duration_us"] / 1e6), "p50_ms": summary["p50_us"] / 1000,
            "p99_ms": summary["p99_us"] / 1000, "requests": requests_done,
            "errors": summary["non2xx"] + summary["socket_errors"] + summary["timeouts"],
            "cpu_ms_per_request": spent * 1000 / max(1, requests_done),
            "database_cpu_ms_per_request": database_spent * 1000 / max(1, requests_done),
            "error_sample": summary["non2xx_sample"], "next_n": summary["next_n"]}


# --- one database ---------------------------------------------------------------------------

def bench_database(kind: str, args, tmp: Path, env: dict[str, str]) -> dict:
    """Prepare the database, serve both apps, warm up, then the rounds; the figures."""
    with database(kind, tmp) as (url, make, database_pid):
        print(f"\n[{kind}] preparing the database …", flush=True)
        world = prepare(url)
        product = Server("Sanwei", "wsgi:app", {**env, "DATABASE_URL": url}, tmp / f"{kind}-sanwei.log",
                         "/static/app.css")
        bare = Server("bare", "bench.bare_app:app", env, tmp / f"{kind}-bare.log", "/json")
        try:
            # Both load at once; each is then polled until it answers.
            product.start()
            bare.start()
            product.wait_ready()
            bare.wait_ready()
            paths = [p for p in paths_for(product.base, world, secrets.token_hex(12)) if p.name in args.paths]
            offsets = dict.fromkeys((p.name for p in paths), 0)
            statements, warm = {}, {}
            for path in paths:
                statuses, counts = sample(product.base, path, False, offsets[path.name])
                offsets[path.name] += SAMPLES
                bare_statuses, _ = sample(bare.base, path, True, 0)
                warm[path.name] = {"product": statuses, "bare": bare_statuses}
                statements[path.name] = statistics.median(counts) if counts else None
            runs: dict[str, list[dict]] = {p.name: [] for p in paths}
            for r in range(args.rounds):
                for path in paths:
                    # Alternate who goes first, so neither side always meets the other's leftovers.
                    order = [("bare", bare), ("sanwei", product)]
                    for side, server in order if r % 2 == 0 else reversed(order):
                        figures = wrk(server, path, side == "bare", tmp, args.seconds, args.connections,
                                      offsets[path.name] if side == "sanwei" else 0, database_pid)
                        if side == "sanwei" and path.unique:
                            # Past every number a thread used, sent or cut off in flight: fresh pairs.
                            offsets[path.name] = figures["next_n"]
                        runs[path.name].append({"side": side, "round": r + 1, **figures})
                        print(f"  round {r + 1} {path.name:<12} {side:<6} {figures['rps']:8.1f} req/s  "
                              f"p99 {figures['p99_ms']:7.1f} ms  errors {figures['errors']}", flush=True)
        finally:
            product.stop()
            bare.stop()
        scripts = run_scripts(kind, url if kind == "postgresql" else None, make, args) if args.scripts else {}
    return {"database": kind, "paths": [summarise(p, runs[p.name], statements[p.name], warm[p.name])
                                        for p in paths], "scripts": scripts}


def summarise(path: Target, runs: list[dict], statements: float | None, warm: dict) -> dict:
    """Median over the rounds, with the range of req/s, for one path."""
    def side(name: str) -> list[dict]:
        return [r for r in runs if r["side"] == name]

    def med(rows: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    bare, sanwei = side("bare"), side("sanwei")
    ratios = [s["rps"] / b["rps"] for b, s in zip(sorted(bare, key=lambda r: r["round"]),
                                                  sorted(sanwei, key=lambda r: r["round"]), strict=True)]
    return {"name": path.name, "label": path.label,
            "bare_rps": med(bare, "rps"), "bare_range": [min(r["rps"] for r in bare), max(r["rps"] for r in bare)],
            "sanwei_rps": med(sanwei, "rps"),
            "sanwei_range": [min(r["rps"] for r in sanwei), max(r["rps"] for r in sanwei)],
            "ratio": statistics.median(ratios), "p50_ms": med(sanwei, "p50_ms"), "p99_ms": med(sanwei, "p99_ms"),
            "bare_p50_ms": med(bare, "p50_ms"), "bare_p99_ms": med(bare, "p99_ms"),
            "cpu_ms": med(sanwei, "cpu_ms_per_request"),
            "database_cpu_ms": med(sanwei, "database_cpu_ms_per_request"),
            "bare_cpu_ms": med(bare, "cpu_ms_per_request"),
            "statements": statements, "errors": sum(r["errors"] for r in sanwei),
            "bare_errors": sum(r["errors"] for r in bare),
            "error_sample": next((r["error_sample"] for r in runs if r["error_sample"]), ""),
            "warm_up_statuses": warm, "runs": runs}


# --- the other measuring scripts ------------------------------------------------------------

def run_scripts(kind: str, url: str | None, make, args) -> dict:
    """bench/<name>.py --json for those that exist: on a database of their own (a fresh one,
    migrated to head, on the PostgreSQL server; on SQLite they make their own)."""
    found = {}
    for name in SCRIPTS:
        script = ROOT / "bench" / f"{name}.py"
        if not script.exists():
            continue
        command = [sys.executable, str(script), "--json"]
        if url is not None:
            target = make(f"sanwei_{name}")
            migrate(target)
            command += ["--database-url", target]
        print(f"  [{kind}] bench/{name}.py …", flush=True)
        found[name] = run_json(command, args.script_timeout)
    return found


def migrate(url: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        db.engine.dispose()


def run_json(command: list[str], timeout: float) -> dict:
    """The last line of the script's stdout as JSON, or why there is none."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"no answer within {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    try:
        figures = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        figures = None
    if done.returncode != 0 or not isinstance(figures, dict):
        return {"error": f"exit {done.returncode}: {(done.stderr.strip() or done.stdout.strip())[-400:]}"}
    return figures


def page_weight(timeout: float) -> str:
    """bench/page_weight.py's own table (it has no --json)."""
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "page_weight.py")], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)
    if done.returncode == 0:
        return done.stdout.strip()
    why = "\n".join(done.stderr.strip().splitlines()[-3:])
    return f"{done.stdout.strip()}\n(exit status {done.returncode}: over budget or a check failed)\n{why}"


# --- the machine and the report -------------------------------------------------------------

def command_output(*command: str) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                 platform.processor() or "unknown")
    memory = next(line.split(":", 1)[1].strip() for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    pg = PostgresServer()
    commit = command_output("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD")
    dirty = command_output("git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no")
    return {"cpu": model, "cores": os.cpu_count(), "memory": memory, "kernel": platform.release(),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "postgresql": command_output(str(pg.bindir / "postgres"), "--version") if pg.bindir else "not installed",
            "gunicorn": command_output(sys.executable, "-m", "gunicorn", "--version"),
            "wrk": command_output("wrk", "--version").splitlines()[0] if command_output("wrk", "-v") else "unknown",
            "commit": commit + (" (with uncommitted changes)" if dirty else ""),
            "load_average": load_average()}


def load_average() -> str:
    """1, 5 and 15 minutes: how busy the machine was besides the bench."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def table(result: dict, args) -> list[str]:
    lines = [f"### {'SQLite (WAL)' if result['database'] == 'sqlite' else 'PostgreSQL'}", "",
             f"{args.rounds} rounds × {args.seconds:g} s per path and side, wrk 2 threads × {args.connections} "
             "connections; medians over the rounds, req/s range in brackets. Server CPU: user + system time "
             "per request of the gunicorn process tree" + (" + the PostgreSQL server's (its backends)"
                                                           if result["database"] == "postgresql" else "")
             + ", the bare baseline's in brackets. Statements: the product's X-Statements header.", "",
             "| path | bare req/s | Sanwei req/s | ratio | p50 ms | p99 ms | server CPU ms/request (bare) "
             "| statements/request | errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in result["paths"]:
        cpu = number(row["cpu_ms"], 2) + (f" + {number(row['database_cpu_ms'], 2)} PG"
                                          if result["database"] == "postgresql" else "")
        errors = str(row["errors"]) + (f" ({row['error_sample']})" if row["errors"] else "")
        lines.append(
            f"| {row['label']} | {number(row['bare_rps'], 0)} [{number(row['bare_range'][0], 0)}–"
            f"{number(row['bare_range'][1], 0)}] | {number(row['sanwei_rps'])} [{number(row['sanwei_range'][0])}–"
            f"{number(row['sanwei_range'][1])}] | {row['ratio']:.3f} | {number(row['p50_ms'])} | "
            f"{number(row['p99_ms'])} | {cpu} ({number(row['bare_cpu_ms'], 2)}) | "
            f"{number(row['statements'], 0)} | {errors} |")
    for name, figures in result["scripts"].items():
        lines += ["", f"#### bench/{name}.py", ""]
        lines += small_table(figures)
    return lines


def flatten(value, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [row for key, inner in value.items() for row in flatten(inner, f"{prefix}{key}.")]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [row for i, inner in enumerate(value) for row in flatten(inner, f"{prefix}{i}.")]
    shown = f"{value:,.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else json.dumps(value,
                                                                                               ensure_ascii=False)
    return [(prefix.rstrip("."), shown.strip('"'))]


def small_table(figures: dict) -> list[str]:
    """A script's JSON object as a two-column table (nested keys joined with dots)."""
    return ["| figure | value |", "|---|---:|", *(f"| {k} | {v} |" for k, v in flatten(figures))]


def weight_table(output: str) -> list[str]:
    """page_weight.py's total per page (its full output is in the .json), and its verdicts."""
    rows, page = [], None
    for line in output.splitlines():
        heading = re.match(r"^(.+): (/\S*)$", line)
        if heading:
            page = heading.groups()
        elif line.startswith("total") and page:
            wire = line.split()[2]
            rows.append(f"| {page[0]} | `{page[1]}` | {wire} | {line.split('  ')[-1].strip()} |")
            page = None
    verdicts = output.split("\n(exit", 1)
    others = [line for line in verdicts[0].splitlines() if line.startswith(("repeat visit", "sent uncompressed"))]
    failed = ["```", "(exit" + verdicts[1], "```"] if len(verdicts) > 1 else []
    return ["| page | path | bytes on wire, first visit | |", "|---|---|---:|---|", *rows, "", *others, *failed]


def report(results: list[dict], weights: str | None, facts: dict, args, started: datetime) -> str:
    lines = [f"# make bench, {started:%Y-%m-%d %H:%M} UTC", "",
             "| machine | |", "|---|---|", *(f"| {k.replace('_', ' ')} | {v} |" for k, v in facts.items()), "",
             "The product (wsgi:app) and the bare Flask baseline (bench/bare_app.py) under gunicorn with "
             "gunicorn.conf.py, the access log to a file for both; per-client limits of anonymous writes lifted "
             "(every request comes from 127.0.0.1).", ""]
    for result in results:
        lines += [*table(result, args), ""]
    if weights is not None:
        lines += ["### Page weight (bench/page_weight.py)", "", *weight_table(weights), ""]
    return "\n".join(lines)


# --- main -----------------------------------------------------------------------------------

def parse(argv: list[str] | None = None) -> argparse.Namespace:
    names = ["activities", "scorecard", "tasks", "wishes_open", "wish_submit", "poll_answer", "signup"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", "10")),
                        help="length of one wrk run (default BENCH_SECONDS or 10)")
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "3")),
                        help="rounds of every path on both sides (default BENCH_ROUNDS or 3)")
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--paths", default=",".join(names), help=f"comma-separated, of: {', '.join(names)}")
    parser.add_argument("--connections", type=int, default=8, help="wrk's open connections (default 8)")
    parser.add_argument("--no-scripts", dest="scripts", action="store_false",
                        help="skip history.py, live_latency.py, campaign.py and page_weight.py")
    parser.add_argument("--script-timeout", type=float, default=900, help="seconds each of those may take")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="where the results go")
    args = parser.parse_args(argv)
    args.paths = [p for p in args.paths.split(",") if p]
    args.databases = [d for d in args.databases.split(",") if d]
    unknown = set(args.paths) - set(names) | set(args.databases) - {"sqlite", "postgresql"}
    if unknown or args.rounds < 1 or args.seconds <= 0:
        parser.error(f"unknown {', '.join(sorted(unknown))}" if unknown else "at least one round of positive length")
    return args


def interrupted(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # Ctrl-C and kill alike stop the servers (the finally clauses) before the harness exits.
    signal.signal(signal.SIGTERM, interrupted)
    started = datetime.now(UTC)
    facts = machine()
    results = []
    with tempfile.TemporaryDirectory(prefix="sanwei-bench-") as tmp:
        env = {**os.environ, "SECRET_KEY": "bench", "SANWEI_ENV": "development", "SANWEI_INSTANCE_DIR": tmp,
               "LEDGER_ANCHOR_PATH": f"{tmp}/ledger-anchors.jsonl", "EVIDENCE_DIR": f"{tmp}/evidence",
               "STATEMENT_COUNT_HEADER": "1", "POLL_NETWORK_HOURLY_LIMIT": "1000000000",
               "WISH_CLIENT_HOURLY_LIMIT": "1000000000", "BOOKING_CLIENT_HOURLY_LIMIT": "1000000000",
               "POLL_CLIENT_HOURLY_LIMIT": "1000000000"}
        try:
            for kind in args.databases:
                results.append(bench_database(kind, args, Path(tmp), env))
        except Unavailable as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("bench: interrupted, servers stopped", file=sys.stderr)
            return 130
    weights = page_weight(args.script_timeout) if args.scripts else None
    facts["load_average"] = f"{facts['load_average']} at the start, {load_average()} at the end"
    text = report(results, weights, facts, args, started)
    print("\n" + text)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / started.strftime("%Y%m%dT%H%M%SZ")
    stem.with_suffix(".md").write_text(text + "\n")
    stem.with_suffix(".json").write_text(json.dumps(
        {"started": started.isoformat(), "machine": facts, "seconds": args.seconds, "rounds": args.rounds,
         "connections": args.connections, "results": results, "page_weight": weights},
        ensure_ascii=False, indent=1) + "\n")
    print(f"\nwritten to {stem.with_suffix('.md')} and .json")
    return 1 if any(row["errors"] for result in results for row in result["paths"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
