"""Settings from the environment and the SQLite connection rules."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.exc import OperationalError

from backend import config
from backend.app import create_app
from backend.extensions import db, write_intent
from tests.conftest import TEST_CONFIG


@pytest.fixture
def env(monkeypatch, tmp_path):
    for name in ("DATABASE_URL", "SECRET_KEY", "SANWEI_ENV", "PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path)
    return monkeypatch


def test_development_defaults(env, tmp_path):
    settings = config.load_config()
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'sanwei.db'}"
    assert settings["TIMEZONE"] == "Asia/Shanghai"
    assert settings["PUBLIC_BASE_URL"] == "http://127.0.0.1:5000"
    assert settings["PUBLIC_BASE_URL_SET"] is False   # pages use the address each request came to
    assert settings["SESSION_COOKIE_SECURE"] is False
    # the generated secret is kept, private, and reused on the next start
    key = settings["SECRET_KEY"]
    assert len(key) >= 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert config.load_config()["SECRET_KEY"] == key


def test_production_requires_a_secret_key(env):
    env.setenv("SANWEI_ENV", "production")
    with pytest.raises(config.ConfigError):
        config.load_config()
    env.setenv("SECRET_KEY", "s" * 50)
    assert config.load_config()["SECRET_KEY"] == "s" * 50


@pytest.mark.parametrize(("given", "expected"), [
    ("postgres://u:p@db/sanwei", "postgresql+psycopg://u:p@db/sanwei"),
    ("postgresql://u:p@db/sanwei", "postgresql+psycopg://u:p@db/sanwei"),
    ("postgresql+psycopg://u@db/x", "postgresql+psycopg://u@db/x"),
])
def test_database_url_uses_psycopg3(env, given, expected):
    env.setenv("DATABASE_URL", given)
    assert config.load_config()["SQLALCHEMY_DATABASE_URI"] == expected


def test_https_base_url_makes_cookies_secure(env):
    env.setenv("PUBLIC_BASE_URL", "https://sanwei.example.cn/")
    settings = config.load_config()
    assert settings["PUBLIC_BASE_URL"] == "https://sanwei.example.cn"
    assert settings["PUBLIC_BASE_URL_SET"] is True
    assert settings["SESSION_COOKIE_SECURE"] is True


@pytest.fixture
def sqlite_app(tmp_path):
    """These rules are SQLite's own; PostgreSQL needs none of them."""
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'rules.db'}"})
    with app.app_context():
        yield app
        db.engine.dispose()


def test_sqlite_connection_rules(sqlite_app):
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1   # NORMAL, the default


def test_sqlite_synchronous_is_a_setting(env, tmp_path):
    """An operator who cannot lose the last commits on power loss sets FULL; OFF, which may
    corrupt the file, is refused with the others."""
    env.setenv("SQLITE_SYNCHRONOUS", "full")
    assert config.load_config()["SQLITE_SYNCHRONOUS"] == "FULL"
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'full.db'}"})
    with app.app_context(), db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    with app.app_context():
        db.engine.dispose()
    for level in ("OFF", "sometimes"):
        env.setenv("SQLITE_SYNCHRONOUS", level)
        with pytest.raises(config.ConfigError, match="SQLITE_SYNCHRONOUS"):
            config.load_config()


def test_sqlite_writes_take_the_lock_up_front(sqlite_app):
    """A write transaction holds the write lock from BEGIN, so a second writer waits instead
    of failing half-way; a read-only transaction does not block writers."""
    path = sqlite_app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")  # BEGIN IMMEDIATE: write intent is the default
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                probe.execute("BEGIN IMMEDIATE")
        token = write_intent.set(False)
        try:
            with db.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")  # deferred: no lock taken
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("ROLLBACK")
        finally:
            write_intent.reset(token)
    finally:
        probe.close()


def test_a_process_writers_take_the_lock_in_turn(sqlite_app):
    """Threads of one process queue for the write lock (WriterQueue) and each gets it as the
    one before commits; one that waits past DB_LOCK_TIMEOUT_SECONDS is told the database is
    locked, as SQLite would tell it."""
    order: list[str] = []
    first_in, release = threading.Event(), threading.Event()

    def first():
        with sqlite_app.app_context(), db.engine.begin() as conn:
            conn.exec_driver_sql("SELECT 1")
            order.append("first in")
            first_in.set()
            release.wait(30)
            order.append("first out")

    def second():
        first_in.wait(30)
        with sqlite_app.app_context(), db.engine.begin() as conn:
            conn.exec_driver_sql("SELECT 1")
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_in.wait(30)
    waited_at = len(order)
    release.set()
    for thread in threads:
        thread.join(30)
    assert waited_at == 1
    assert order == ["first in", "first out", "second in"]

    short = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": sqlite_app.config["SQLALCHEMY_DATABASE_URI"],
                        "DB_LOCK_TIMEOUT_SECONDS": 0.2})
    with short.app_context(), db.engine.begin() as holder:
        holder.exec_driver_sql("SELECT 1")
        waiting = ThreadPoolExecutor(1).submit(_try_to_write, short)
        with pytest.raises(OperationalError, match="database is locked"):
            waiting.result(30)
    with short.app_context():
        db.engine.dispose()


def _try_to_write(app):
    with app.app_context(), db.engine.begin() as conn:
        conn.exec_driver_sql("SELECT 1")


def test_a_connection_thrown_away_gives_its_turn_back(sqlite_app):
    """A writer whose connection is invalidated mid-transaction (a broken file handle, an
    interrupted statement) does not keep the process's other writers waiting."""
    with sqlite_app.app_context():
        conn = db.engine.connect()
        conn.exec_driver_sql("SELECT 1")
        conn.invalidate()
        with db.engine.begin() as other:
            assert other.exec_driver_sql("SELECT 1").scalar() == 1
        conn.rollback()
        conn.close()
