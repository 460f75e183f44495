"""Test fixtures. Every database test runs on SQLite and on PostgreSQL 15 (browser tests on
SQLite only: the pages do not differ by database).

- `REQUIRE_POSTGRES=1` turns "PostgreSQL unavailable" from a skip into a failure (CI).
- `TEST_POSTGRES_URL` uses an existing server instead of starting one.
- Each test gets a fresh database: a copy of the migrated SQLite file, or truncated tables.
- Markers added here: `pg` on every test run on PostgreSQL, `browser` on tests/browser.
- Under pytest-xdist (`make test`) every worker is a session of its own: its own PostgreSQL
  server (or, with `TEST_POSTGRES_URL`, its own database), templates and temporary dirs.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from werkzeug.routing import Rule

from backend.app import create_app
from backend.extensions import db
from tests.pg import PostgresServer

BACKENDS = ("sqlite", "postgresql")
BROWSER_TESTS = Path(__file__).resolve().parent / "browser"
# pytest-xdist names its workers gw0, gw1, ...; a plain run is one session.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")

TEST_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret",
    "PUBLIC_BASE_URL": "http://sanwei.test",
    # scrypt is right for production and too slow for hundreds of logins in tests.
    "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
}


# --- one URL builder per route and process -----------------------------------------------
# Every test makes its own app, and Werkzeug generates and compiles two URL-building functions
# for each of its ~260 routes: most of an app's start (70 ms of it). A builder depends only on
# the rule's text, its parsed trace and defaults, and takes the rule as its first argument
# (Werkzeug binds it to the rule), so the suite makes each once per process and every app's
# rule of the same text binds the same function. Werkzeug is pinned (requirements.txt).
_compile_builder = Rule._compile_builder
_builders: dict[tuple, object] = {}


def _reused_builder(self: Rule, append_unknown: bool = True):
    key = (self.rule, tuple(self._trace), repr(sorted((self.defaults or {}).items())), append_unknown)
    if key not in _builders:
        _builders[key] = _compile_builder(self, append_unknown)
    return _builders[key]


Rule._compile_builder = _reused_builder


def _require(var: str) -> bool:
    return os.environ.get(var, "") not in ("", "0", "false")


@pytest.hookimpl(tryfirst=True)   # before -m deselects by these markers
def pytest_collection_modifyitems(items):
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("database") == "postgresql":
            item.add_marker(pytest.mark.pg)
        if BROWSER_TESTS in item.path.parents:
            item.add_marker(pytest.mark.browser)


# --- nothing leaves the machine ---------------------------------------------------------

_real_connect = socket.socket.connect


def _loopback_only(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            ok = ipaddress.ip_address(host).is_loopback
        except ValueError:
            ok = host == "localhost"
        if not ok:
            raise RuntimeError(f"test tried to reach non-loopback address {host!r}")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


@pytest.fixture(scope="session", autouse=True)
def _evidence_dir(tmp_path_factory):
    """Uploaded evidence files go to a temporary directory, never into instance/."""
    TEST_CONFIG["EVIDENCE_DIR"] = str(tmp_path_factory.mktemp("evidence"))
    # Ledger anchors never go to (or are read from) instance/; each `app` gets its own file.
    TEST_CONFIG["LEDGER_ANCHOR_PATH"] = str(tmp_path_factory.mktemp("anchors") / "ledger-anchors.jsonl")


# --- database servers and migrated templates --------------------------------------------

@pytest.fixture(scope="session")
def postgres_url():
    """Base URL (no database name) of a PostgreSQL server, started for this session."""
    if os.environ.get("TEST_POSTGRES_URL"):
        yield os.environ["TEST_POSTGRES_URL"].rstrip("/")
        return
    server = PostgresServer()
    reason = server.unavailable_reason()
    if reason:
        if _require("REQUIRE_POSTGRES"):
            pytest.fail(f"REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    try:
        url = server.start()
    except Exception as exc:  # a failed start must say why
        log = server.workdir / "server.log"
        detail = f"{exc} {log.read_text()[-2000:] if log.exists() else ''}"
        if _require("REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL did not start: {detail}")
        pytest.skip(f"PostgreSQL did not start: {detail}")
    yield url
    server.stop()


def create_database(base_url: str, name: str) -> str:
    engine = sa.create_engine(f"{base_url}/postgres", isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return f"{base_url}/{name}"


def migrate_to_head(url: str) -> None:
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database(request, tmp_path_factory):
    """(backend, template): a migrated SQLite file to copy, or a migrated PostgreSQL URL."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "template.db"
        migrate_to_head(f"sqlite:///{path}")
        yield "sqlite", path
    else:
        # One database per xdist worker, should they share a server (TEST_POSTGRES_URL).
        url = create_database(request.getfixturevalue("postgres_url"), f"sanwei_test_{WORKER}")
        migrate_to_head(url)
        yield "postgresql", url


@pytest.fixture
def db_url(database, tmp_path):
    """A clean, migrated database for one test."""
    backend, template = database
    if backend == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    engine = sa.create_engine(template, poolclass=sa.pool.NullPool)
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    engine.dispose()
    return template


@pytest.fixture
def app(db_url, tmp_path):
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": db_url,
                      "LEDGER_ANCHOR_PATH": str(tmp_path / "ledger-anchors.jsonl")})
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
