"""Operator surface: demo data, create-user, migrations on both databases, the scheduler."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from backend.app import create_app
from backend.auth.models import AuthToken
from backend.demo import DEMO_PASSWORD
from backend.extensions import db, utcnow
from backend.people.models import Person
from jobs.__main__ import run_job
from jobs.registry import JOBS
from tests import factories as f
from tests.conftest import TEST_CONFIG, create_database

ROOT = Path(__file__).resolve().parent.parent


def row_counts() -> dict[str, int]:
    return {t.name: db.session.scalar(sa.select(sa.func.count()).select_from(t)) for t in db.metadata.sorted_tables}


def test_demo_prints_accounts_and_is_idempotent(runner, client):
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert DEMO_PASSWORD in first.output
    for username in ("admin", "jiedao", "heping", "xingfu", "guangming", "heping_g1", "heping_dy1"):
        assert username in first.output
    counts = row_counts()
    assert counts["orgs"] == 1 + 3 + 8 + 1 and counts["qr_codes"] == 8   # street, communities, grids, a unit
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0
    assert row_counts() == counts
    in_service = db.session.scalar(sa.select(sa.func.count()).where(Person.is_in_service.is_(True)))
    assert in_service == 5   # four in the communities, one reporting from 区人民医院
    assert f.login(client, "heping", DEMO_PASSWORD)


def test_demo_refuses_production_without_force(app, runner):
    app.config["SANWEI_ENV"] = "production"
    result = runner.invoke(args=["demo"])
    assert result.exit_code != 0 and "production" in result.output
    assert row_counts()["orgs"] == 0


def test_create_user(runner, client):
    orgs = f.tree()
    result = runner.invoke(args=["create-user", "chen", "--password", "long-enough-1", "--role", "secretary",
                                 "--org", str(orgs["a"].id), "--name", "陈书记"])
    assert result.exit_code == 0, result.output
    me = client.get("/api/v1/me", headers=f.login(client, "chen", "long-enough-1")).get_json()
    assert me["name"] == "陈书记" and me["memberships"][0]["role"] == "secretary"
    admin = runner.invoke(args=["create-user", "root2", "--password", "long-enough-1", "--role", "admin"])
    assert admin.exit_code == 0, admin.output
    assert client.get("/api/v1/me", headers=f.login(client, "root2", "long-enough-1")).get_json()["is_admin"]


@pytest.mark.parametrize(("args", "message"), [
    (["xx1", "--password", "long-enough-1", "--role", "secretary", "--org", "99999"], "no org"),
    (["xx2", "--password", "long-enough-1", "--role", "secretary"], "--org is required"),
    (["xx3", "--password", "short", "--role", "admin"], "密码至少 8 位"),
    (["a b", "--password", "long-enough-1", "--role", "admin"], "用户名"),
])
def test_create_user_refuses_bad_input(runner, args, message):
    result = runner.invoke(args=["create-user", *args])
    assert result.exit_code != 0
    assert message in result.output
    assert row_counts()["people"] == 0


def test_create_user_refuses_a_taken_username(runner):
    assert runner.invoke(args=["create-user", "dup", "--password", "long-enough-1", "--role", "admin"]).exit_code == 0
    result = runner.invoke(args=["create-user", "DUP", "--password", "long-enough-1", "--role", "admin"])
    assert result.exit_code != 0 and "用户名已被使用" in result.output


def test_migrations_match_models_and_round_trip(database, tmp_path):
    backend, template = database
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrations.db'}"
    else:
        url = create_database(template.rsplit("/", 1)[0], "sanwei_migrations")
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, db.metadata) == []
        downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert {t.name for t in db.metadata.sorted_tables} <= set(sa.inspect(db.engine).get_table_names())
        db.engine.dispose()


def test_purge_job_removes_only_stale_rows(app):
    person = f.person(username="old")
    long_ago = utcnow() - timedelta(days=40)
    db.session.add_all([
        AuthToken(token_hash="a" * 64, kind="bearer", person_id=person.id, expires_at=long_ago),
        AuthToken(token_hash="b" * 64, kind="bearer", person_id=person.id, expires_at=utcnow() + timedelta(days=1)),
    ])
    db.session.commit()
    job = next(j for j in JOBS if j.id == "auth.purge_stale")
    run_job(app, job)
    db.session.expire_all()
    assert db.session.scalars(sa.select(AuthToken.token_hash)).all() == ["b" * 64]


PATIENCE = 300   # seconds: a safety net for a process that never says it, not a speed assertion


def _wait_for(proc: subprocess.Popen, text: str, timeout: float = PATIENCE) -> str:
    """Read the process's output until a line containing `text` arrives; fail if the process ends first.

    One reader thread per process moves every line into a queue as it is written. (Waiting on
    the pipe with select() and then reading a line from the buffered text stream loses lines:
    those that arrive together sit in Python's buffer, and select() never wakes for them.)"""
    lines = getattr(proc, "lines", None)
    if lines is None:
        lines = proc.lines = queue.Queue()

        def pump():
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)   # end of output: the process has exited

        threading.Thread(target=pump, daemon=True).start()
    seen = ""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            seen += f"[exited with {proc.wait()}]"
            break
        seen += line
        if text in line:
            return seen
    raise AssertionError(f"{text!r} not seen; output was:\n{seen}")


@pytest.mark.slow
def test_one_scheduler_runs_a_second_stands_by(tmp_path):
    env = {**os.environ, "SANWEI_INSTANCE_DIR": str(tmp_path), "SECRET_KEY": "x",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.db'}"}

    def start():
        return subprocess.Popen([sys.executable, "-m", "jobs"], cwd=ROOT, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    leader = start()
    standby = None
    try:
        _wait_for(leader, "scheduler started with 22 jobs: auth.purge_stale")
        standby = start()
        _wait_for(standby, "standing by")
        leader.send_signal(signal.SIGTERM)
        assert leader.wait(timeout=10) == 0
    finally:
        for proc in (leader, standby):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
