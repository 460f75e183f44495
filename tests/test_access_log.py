"""Receipts and feed tokens stay out of the access log: it shows the route of a secret URL,
never its secret, its query string or the page it came from."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from flask import request, request_finished

from backend.core.logpaths import LOG_PATH_KEY
from tests import factories as f
from tests.conftest import migrate_to_head
from tests.test_cli_migrations_jobs import _wait_for

ROOT = Path(__file__).resolve().parent.parent
WISH = {"title": "楼道灯坏了", "content": "3号楼2单元楼道灯不亮", "category": "环境改善", "consent": True,
        "contact_phone": "13800001111"}


@pytest.fixture
def logged(app):
    """The path each request left for the access log, in order."""
    paths: list[str] = []

    def keep(sender, response, **extra):
        paths.append(request.environ.get(LOG_PATH_KEY))

    request_finished.connect(keep, app)
    yield paths
    request_finished.disconnect(keep, app)


def test_a_secret_url_is_logged_as_its_route(client, app, logged):
    orgs = f.tree()
    f.person("李红梅", username="sec_a", role="secretary", org=orgs["a"])
    staff = client.application.test_client()   # another browser: the QR code's maker
    token = f.login(staff, "sec_a")
    qr = staff.post("/api/v1/qrcodes", json={"purpose": "wish", "target_id": orgs["a1"].id}, headers=token).get_json()
    made = client.post("/api/v1/wishes", json={**WISH, "qr": qr["code"]}).get_json()
    receipt = made["receipt"]

    assert client.get(f"/h5/w/r/{receipt}").status_code == 200
    assert logged[-1] == "/h5/w/r/<receipt>"
    assert client.post(f"/h5/w/r/{receipt}/cancel", data={"csrf_token": "forged"}).status_code == 400
    assert logged[-1] == "/h5/w/r/<receipt>/cancel"       # refused by a later hook, logged all the same
    assert client.get(f"/api/v1/wishes/{made['id']}?receipt={receipt}").status_code == 200
    assert logged[-1] == f"/api/v1/wishes/{made['id']}"  # no query string
    client.get(f"/h5/b/r/{receipt}")
    assert logged[-1] == "/h5/b/r/<receipt>"
    client.get("/cal/" + "t" * 43 + ".ics")
    assert logged[-1] == "/cal/<token>.ics"
    assert client.get(f"/h5/w/r/{receipt}/no-such-action/x").status_code == 404
    assert receipt not in logged[-1] and logged[-1].startswith("/h5/w/r/")
    # Paths without secrets are logged as they are.
    client.get(f"/h5/w/new?qr={qr['code']}")
    assert logged[-1] == "/h5/w/new"


# --- the real server's log ---------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(base: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120   # a safety net for a server that never starts
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            requests.get(f"{base}/h5/privacy", timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise AssertionError(f"{base} did not start")


@pytest.mark.slow
def test_gunicorn_logs_the_route_not_the_receipt(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'log.db'}"
    migrate_to_head(db_url)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": db_url, "SECRET_KEY": "access-log-test", "SANWEI_ENV": "development",
           "SANWEI_INSTANCE_DIR": str(tmp_path), "WEB_CONCURRENCY": "1", "GUNICORN_THREADS": "4",
           "PUBLIC_BASE_URL": base, "EVIDENCE_DIR": str(tmp_path)}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind",
                               f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:app"], cwd=ROOT, env=env,
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _ready(base, server)
        receipt = "0123456789abcdef" * 2 + "deadbeef"   # shaped like a receipt; secret all the same
        with requests.Session() as http:
            http.get(f"{base}/h5/w/r/{receipt}", timeout=10)
            http.post(f"{base}/h5/w/r/{receipt}/confirm", data={"csrf_token": "x", "rating": "5"},
                      headers={"Referer": f"{base}/h5/w/r/{receipt}"}, timeout=10)
            http.get(f"{base}/api/v1/wishes/1?receipt={receipt}", timeout=10)
            http.get(f"{base}/h5/login?next=/h5/w/r/{receipt}", timeout=10)
            http.get(f"{base}/h5/orgs/last-request", timeout=10)
        log = _wait_for(server, "/h5/orgs/last-request", timeout=60)
        assert receipt not in log
        assert '"GET /h5/w/r/<receipt> HTTP/1.1" 404' in log
        assert '"POST /h5/w/r/<receipt>/confirm HTTP/1.1" 400' in log
        assert '"GET /api/v1/wishes/1 HTTP/1.1"' in log and '"GET /h5/login HTTP/1.1" 200' in log
    finally:
        server.terminate()
        server.wait(timeout=30)
