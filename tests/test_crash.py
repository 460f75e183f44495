"""The crash harness (bench/crash.py): a short run with kills passes, and its checks catch
what they are there to catch (a harness that cannot fail proves nothing)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from backend.demo import DEMO_PASSWORD
from backend.extensions import db
from backend.polls.models import PollTally
from backend.polls.presets import PRESETS
from bench import crash

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_a_short_crash_run_keeps_every_acknowledged_write():
    """gunicorn on SQLite, two workers killed and the master once during 5 s of wishes, poll
    answers and score entries (about 20 s in all): every check passes. Orphaned workers
    may serve for 2 s after their master dies, which keeps the restart short."""
    done = subprocess.run([sys.executable, "bench/crash.py", "--seconds", "5", "--worker-kills", "2",
                           "--master-kills", "1", "--graceful-timeout", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert re.search(r"kills \(SIGKILL\): workers 2, master 1; gunicorn started 2 times", done.stdout), done.stdout
    assert "checks: 10 of 10 passed" in done.stdout, done.stdout
    total = re.search(r"^total +([\d,]+) +([\d,]+)", done.stdout, re.MULTILINE)
    assert int(total[2].replace(",", "")) > 0, done.stdout


def test_the_checks_catch_lost_writes_and_wrong_tallies(tmp_path, monkeypatch):
    """A wish, a poll answer and a score acknowledged but not stored, and a running tally
    moved by hand: each is a failed check; what is sound still passes."""
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    for name, value in {"DATABASE_URL": url, "SECRET_KEY": "crash-test", "SANWEI_ENV": "development",
                        "LEDGER_ANCHOR_PATH": str(tmp_path / "anchors.jsonl"),
                        "EVIDENCE_DIR": str(tmp_path / "evidence")}.items():
        monkeypatch.setenv(name, value)
    world = crash.prepare(url)
    app = crash.app_for()
    with app.app_context():
        client = app.test_client()
        token = client.post("/api/v1/auth/login", json={"username": "jiedao", "password": DEMO_PASSWORD})
        now = datetime.now(UTC)
        poll = client.post("/api/v1/polls", headers={"Authorization": f"Bearer {token.get_json()['token']}"}, json={
            **PRESETS["mass"], "org_id": world.poll_org_id, "modes": ["device"],
            "opens_at": (now - timedelta(minutes=1)).isoformat(), "closes_at": (now + timedelta(days=1)).isoformat()})
        assert poll.status_code == 201, poll.get_json()
        poll = poll.get_json()
        sheet = [{"question_id": q["id"], "value": 5} for q in poll["questions"] if q["kind"] == "rating5"]
        answered = [client.post(f"/api/v1/polls/{poll['id']}/responses",
                                json={"device": f"crash-test-device-{i:04d}", "answers": sheet}) for i in range(3)]
        assert [a.status_code for a in answered] == [201] * 3
        db.session.execute(sa.update(PollTally).where(PollTally.poll_id == poll["id"], PollTally.key == "5")
                           .values(count=PollTally.count + 1))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()

    heping = world.secretaries["heping"]
    log = crash.Log()
    log.wish_tokens, log.wishes = ["crash-test-wish-0001"], {"crash-test-wish-0001": 12345}
    log.devices = [f"crash-test-device-{i:04d}" for i in range(4)]
    log.answers = [a.get_json()["id"] for a in answered] + [99999]
    # The demo entered G1 = 5; the log says 1.23 was acknowledged last.
    log.initial[(heping, "G1")] = Decimal(5)
    log.scores[(heping, "G1")] = [(Decimal("1.23"), True)]
    results, _ = crash.check(world, log, poll["id"])
    failed = {name for name, ok, _ in results if not ok}
    assert failed == {"every acknowledged wish stored under its token", "every acknowledged poll answer stored",
                      "poll tallies = recount of the stored answers",
                      "each criterion holds its last acknowledged score (or a later one sent)",
                      "no scorecard drifts from a full recompute"}
    assert len(results) == 10
