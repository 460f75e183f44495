"""`make bench`: the statement count its server reports, and the harness itself on a short run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from backend.app import create_app
from backend.extensions import db
from tests import factories as f
from tests.conftest import TEST_CONFIG

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def counting_app(db_url, tmp_path):
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": db_url, "STATEMENT_COUNT_HEADER": True,
                      "LEDGER_ANCHOR_PATH": str(tmp_path / "ledger-anchors.jsonl")})
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_statements_per_request_in_a_header(counting_app):
    f.person(username="zhang")
    client = counting_app.test_client()
    auth = f.login(client, "zhang")
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    sa.event.listen(db.engine, "before_cursor_execute", listener)
    try:
        response = client.get("/api/v1/me", headers=auth)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listener)
    assert response.status_code == 200
    assert int(response.headers["X-Statements"]) == len(statements) > 0
    # A request that touches no table says so.
    assert client.get("/static/app.css").headers["X-Statements"] == "0"


def test_no_statement_count_unless_asked(client):
    f.person(username="zhang")
    response = client.get("/api/v1/me", headers=f.login(client, "zhang"))
    assert response.status_code == 200
    assert "X-Statements" not in response.headers


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)")
def test_harness_prints_a_ratio(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--seconds", "1", "--rounds", "1", "--databases", "sqlite",
         "--paths", "scorecard", "--no-scripts", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    row = next(line for line in done.stdout.splitlines() if line.startswith("| GET scorecard JSON |"))
    bare, sanwei, ratio = (cell.split()[0].replace(",", "") for cell in row.split("|")[2:5])
    assert float(ratio) > 0
    assert float(ratio) == pytest.approx(float(sanwei) / float(bare), rel=0.05, abs=0.002)
    [written] = tmp_path.glob("*.json")
    result = json.loads(written.read_text())["results"][0]
    assert result["database"] == "sqlite"
    assert result["paths"][0]["statements"] > 0 and result["paths"][0]["errors"] == 0
    assert (tmp_path / written.name.replace(".json", ".md")).exists()
