"""Who the client is behind the proxy, and login limits that fall on that client, not on everyone.

Behind nginx every connection comes from 127.0.0.1: the client is the entry nginx appended to
X-Forwarded-For, believed only with TRUSTED_PROXY_HOPS set and only from FORWARDED_ALLOW_IPS.
A wrong password locks that client out of that account; failures from many clients slow the
account down (one password check per slot) instead of locking its owner out.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa

from backend import config
from backend.app import create_app
from backend.auth.current import client_ip
from backend.core import limits
from backend.core.limits import RateCount
from backend.extensions import db, utcnow
from jobs.__main__ import run_job
from jobs.registry import JOBS
from tests import factories as f
from tests.conftest import TEST_CONFIG
from tests.live import serve

LOGIN = "/api/v1/auth/login"


def _app(db_url, **config):
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": db_url, **config})
    app.add_url_rule("/_probe/ip", "probe_ip", client_ip)
    return app


def _from(client, peer: str, forwarded: str | None = None) -> str:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return client.get("/_probe/ip", headers=headers, environ_base={"REMOTE_ADDR": peer}).text


# --- the client's address ------------------------------------------------------------------

def test_behind_a_trusted_proxy_the_client_is_what_the_proxy_appended(db_url):
    client = _app(db_url, TRUSTED_PROXY_HOPS=1).test_client()
    # nginx appends the address it saw; whatever the client wrote before it is not believed.
    assert _from(client, "127.0.0.1", "203.0.113.7") == "203.0.113.7"
    assert _from(client, "127.0.0.1", "10.9.9.9, 203.0.113.7") == "203.0.113.7"
    assert _from(client, "127.0.0.1") == "127.0.0.1"


def test_two_proxy_hops_name_the_client_before_both(db_url):
    client = _app(db_url, TRUSTED_PROXY_HOPS=2, FORWARDED_ALLOW_IPS="127.0.0.1").test_client()
    assert _from(client, "127.0.0.1", "1.1.1.1, 203.0.113.7, 10.0.0.2") == "203.0.113.7"


def test_without_trusted_hops_a_forged_header_is_ignored(db_url):
    client = _app(db_url).test_client()      # development: TRUSTED_PROXY_HOPS 0
    assert _from(client, "127.0.0.1", "203.0.113.7") == "127.0.0.1"


def test_a_peer_that_is_not_a_trusted_proxy_cannot_name_another_client(db_url):
    client = _app(db_url, TRUSTED_PROXY_HOPS=1, FORWARDED_ALLOW_IPS="127.0.0.1,10.0.0.0/8").test_client()
    assert _from(client, "198.51.100.4", "203.0.113.7") == "198.51.100.4"
    assert _from(client, "10.1.2.3", "203.0.113.7") == "203.0.113.7"


def test_production_trusts_one_proxy_on_loopback_by_default(monkeypatch):
    monkeypatch.setenv("SANWEI_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 50)
    monkeypatch.delenv("TRUSTED_PROXY_HOPS", raising=False)
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    settings = config.load_config()
    assert (settings["TRUSTED_PROXY_HOPS"], settings["FORWARDED_ALLOW_IPS"]) == (1, "127.0.0.1")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "not-an-address")
    with pytest.raises(config.ConfigError):
        config.load_config()


# --- login limits per client -----------------------------------------------------------------

def _login(client, username, password, address):
    return client.post(LOGIN, json={"username": username, "password": password},
                       headers={"X-Forwarded-For": address})


@pytest.fixture
def proxied(db_url):
    """The app as production runs it behind nginx: every request from 127.0.0.1."""
    app = _app(db_url, TRUSTED_PROXY_HOPS=1)
    with app.app_context():
        yield app, app.test_client()
        db.session.remove()
        db.engine.dispose()


def test_failures_from_one_client_lock_only_that_client_out_of_the_account(proxied):
    app, client = proxied
    f.person(username="heping")
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert _login(client, "heping", "wrong", "203.0.113.66").status_code == 401
    locked = _login(client, "heping", f.PASSWORD, "203.0.113.66")
    assert locked.status_code == 429 and locked.get_json()["error"]["code"] == "too_many_attempts"
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    # The owner, at another address, signs in.
    assert _login(client, "heping", f.PASSWORD, "198.51.100.20").status_code == 200


def test_one_client_trying_many_accounts_is_stopped_and_no_one_else(proxied):
    app, client = proxied
    f.person(username="heping")
    for i in range(app.config["LOGIN_MAX_FAILURES_PER_IP"]):
        assert _login(client, f"user{i}", "wrong", "203.0.113.66").status_code == 401
    assert _login(client, "heping", f.PASSWORD, "203.0.113.66").status_code == 429
    assert _login(client, "heping", f.PASSWORD, "198.51.100.20").status_code == 200


def test_a_success_is_not_held_against_the_client(proxied):
    app, client = proxied
    f.person(username="heping")
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_IP"] + 5):
        assert _login(client, "heping", f.PASSWORD, "203.0.113.66").status_code == 200


def _end_slots():
    """The current back-off slot of every account ends (as time passing would do; the purge
    job would then remove it)."""
    db.session.execute(sa.delete(RateCount).where(RateCount.bucket == "login.slot"))
    db.session.commit()


def test_failures_from_many_clients_slow_the_account_but_never_lock_out_its_owner(proxied):
    app, client = proxied
    # A slot far longer than the test once the back-off has grown, so no slot ends by itself.
    app.config["LOGIN_BACKOFF_MAX_SECONDS"] = most = 2 ** 20
    f.person(username="heping")
    after = app.config["LOGIN_BACKOFF_AFTER"]
    for i in range(after):    # a botnet: one guess per address, each a password check
        assert _login(client, "heping", "wrong", f"203.0.113.{i + 1}").status_code == 401
    for i in range(25):       # in back-off: one guess per slot, the slot doubling each time
        _end_slots()
        assert _login(client, "heping", "wrong", f"198.18.0.{i + 1}").status_code == 401
    slowed = _login(client, "heping", "wrong", "203.0.113.201")
    assert slowed.status_code == 429 and slowed.get_json()["error"]["code"] == "too_many_attempts"
    assert 0 < int(slowed.headers["Retry-After"]) <= most
    waited = _login(client, "heping", f.PASSWORD, "198.51.100.20")
    assert waited.status_code == 429 and 0 < int(waited.headers["Retry-After"]) <= most
    # The owner's next slot lets them in (with the default setting, within a minute)...
    _end_slots()
    assert _login(client, "heping", f.PASSWORD, "198.51.100.20").status_code == 200
    # ...and signing in ends the back-off.
    assert _login(client, "heping", "wrong", "203.0.113.202").status_code == 401
    assert _login(client, "heping", "wrong", "203.0.113.203").status_code == 401


def test_the_html_login_says_when_to_come_back(proxied):
    app, client = proxied
    f.person(username="heping")
    page = client.get("/h5/login", headers={"X-Forwarded-For": "203.0.113.66"})
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"username": "heping", "password": "wrong", "csrf_token": token}
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert client.post("/h5/login", data=form, headers={"X-Forwarded-For": "203.0.113.66"}).status_code == 401
    locked = client.post("/h5/login", data=form, headers={"X-Forwarded-For": "203.0.113.66"})
    assert locked.status_code == 429 and "分钟后再试" in locked.text and int(locked.headers["Retry-After"]) > 0


def test_the_purge_job_keeps_only_current_windows(proxied):
    app, client = proxied
    _login(client, "heping", "wrong", "203.0.113.66")
    current = db.session.scalar(sa.select(sa.func.count()).select_from(RateCount))
    db.session.add(RateCount(bucket="login.client", key="x" * 64, ends_at=utcnow() - timedelta(minutes=1), count=3))
    db.session.commit()
    run_job(app, next(j for j in JOBS if j.id == "limits.purge_ended"))
    db.session.expire_all()
    assert current > 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RateCount)) == current


# --- over real HTTP, at once ------------------------------------------------------------------

ATTACKERS = 20


@pytest.mark.slow
def test_in_back_off_concurrent_guesses_from_many_clients_get_one_password_check(db_url):
    # A slot far longer than the test, so its edge never falls inside it.
    with serve(db_url, TRUSTED_PROXY_HOPS=1, LOGIN_BACKOFF_MAX_SECONDS=2 ** 20) as (base_url, app):
        with app.app_context():
            f.person(username="heping")
            failures = limits.Limit("login.account", 0, app.config["LOGIN_FAILURE_WINDOW_MINUTES"] * 60)
            for _ in range(app.config["LOGIN_BACKOFF_AFTER"] + 25):
                limits.add(failures, limits.keyed("heping"))
            db.session.commit()
            db.session.remove()

        barrier = threading.Barrier(ATTACKERS)
        answers: list[int] = []
        lock = threading.Lock()

        def guess(i: int) -> None:
            with requests.Session() as http:
                barrier.wait(timeout=30)
                response = http.post(base_url + LOGIN, timeout=60, json={"username": "heping", "password": "wrong"},
                                     headers={"X-Forwarded-For": f"203.0.113.{i + 1}"})
            with lock:
                answers.append(response.status_code)

        threads = [threading.Thread(target=guess, args=(i,)) for i in range(ATTACKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert Counter(answers) == Counter({401: 1, 429: ATTACKERS - 1})
