"""Unbound extensions, the SQLAlchemy base, and the database-level rules every model relies on."""

from __future__ import annotations

import contextvars
import sqlite3
import threading
import time
import weakref
from datetime import UTC, datetime

import sqlalchemy as sa
from flask_compress import Compress
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

#: Constraint names are stable across SQLite and PostgreSQL, so migrations can name them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.types.TypeDecorator):
    """Stores UTC without zone (both databases agree on that), hands back aware UTC datetimes.

    Naive datetimes are refused: a time without a zone is a bug waiting for a summer.
    """

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def _render_item(type_, obj, autogen_context):
    """Migrations name plain SQLAlchemy types, so they never import application code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True, compare_type=True, render_item=_render_item)
compress = Compress()


def engine_options(config) -> dict:
    """The engine's options, with how long a statement waits for another transaction's lock
    before it fails and the request answers 503 (backend.core.db): SQLite's busy timeout,
    PostgreSQL's lock_timeout, both DB_LOCK_TIMEOUT_SECONDS.

    A pooled PostgreSQL connection is pinged before use: the server may have restarted since.
    A SQLite connection is a file handle that cannot go stale, so the ping would only add a
    statement to every request."""
    seconds = config["DB_LOCK_TIMEOUT_SECONDS"]
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    connect_args = dict(options.get("connect_args") or {})
    url = config["SQLALCHEMY_DATABASE_URI"]
    options.setdefault("pool_pre_ping", not url.startswith("sqlite"))
    if url.startswith("sqlite"):
        connect_args["timeout"] = seconds
    elif url.startswith("postgresql"):
        connect_args["options"] = f"-c lock_timeout={round(seconds * 1000)}"
    return {**options, "connect_args": connect_args}


def utcnow() -> datetime:
    return datetime.now(UTC)


#: False while serving a read-only request: SQLite then opens a deferred transaction, so
#: readers never queue behind the write lock. Everything else writes.
write_intent: contextvars.ContextVar[bool] = contextvars.ContextVar("write_intent", default=True)


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, connection_record):
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    # Take transaction control away from the driver so we can say BEGIN IMMEDIATE ourselves.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def sqlite_durability(engine: Engine, level: str) -> None:
    """Every connection `engine` opens syncs at `level` (SQLITE_SYNCHRONOUS). A setting of the
    app, so the app factory sets it on its engine rather than the listener above, which every
    engine shares."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _synchronous(dbapi_connection, connection_record):
        dbapi_connection.execute(f"PRAGMA synchronous={level}")


class WriterQueue:
    """How the writers of one SQLite database take its write lock, in turn.

    SQLite lets one transaction write at a time, and a writer that finds the lock taken waits
    in its busy handler, which looks again 1, 2, 5, 10 … then every 100 ms: under a queue the
    sleepers miss their turns while the lock lies idle. Here a process's writers queue on a
    lock of their own (threads blocked, not polling), and the one at the head looks for
    SQLite's lock every half to two milliseconds, so the processes sharing the file (the web
    workers, the scheduler) take turns within a few milliseconds of each other. The wait is
    as long as SQLite's would be (DB_LOCK_TIMEOUT_SECONDS) and ends as it does: "database is
    locked", a 503."""

    def __init__(self, seconds: float):
        self.lock = threading.Lock()
        self.seconds = seconds
        self.busy_ms = round(seconds * 1000)

    def begin(self, conn) -> None:
        """BEGIN IMMEDIATE on `conn`, in this process's turn and then SQLite's. The tries go
        to the driver's connection: a refusal there costs microseconds, where one through the
        engine's error handling cost milliseconds of CPU per write at 16 writers."""
        deadline = time.monotonic() + self.seconds
        if not self.lock.acquire(timeout=self.seconds):
            raise _locked()
        conn.info[_HELD] = self
        raw = conn.connection.dbapi_connection
        try:
            raw.execute("PRAGMA busy_timeout = 0")
            pause = 0.0005
            while True:
                try:
                    raw.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc):
                        raise sa.exc.OperationalError("BEGIN IMMEDIATE", None, exc) from exc
                if time.monotonic() + pause > deadline:
                    raise _locked()
                time.sleep(pause)
                pause = min(pause * 2, 0.002)
        except BaseException:
            self.leave(conn.info)
            raise
        finally:
            raw.execute(f"PRAGMA busy_timeout = {self.busy_ms}")

    @staticmethod
    def leave(info: dict) -> None:
        queue = info.pop(_HELD, None)
        if queue is not None:
            queue.lock.release()


def _locked() -> sa.exc.OperationalError:
    return sa.exc.OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))


_HELD = "sanwei_writer_queue"
_QUEUES: weakref.WeakKeyDictionary[Engine, WriterQueue] = weakref.WeakKeyDictionary()


def sqlite_writer_queue(engine: Engine, seconds: float) -> None:
    """Queue the writers of `engine` (SQLite): see WriterQueue."""
    if engine.dialect.name != "sqlite" or engine in _QUEUES:
        return
    _QUEUES[engine] = WriterQueue(seconds)

    # A transaction ends by commit or rollback; its connection going back to the pool, or
    # thrown away after an error, ends it too.
    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _ended(conn):
        # An invalidated connection gave its turn back when it was thrown away (below).
        if not conn.invalidated:
            WriterQueue.leave(conn.info)

    @event.listens_for(engine.pool, "checkin")
    def _returned(dbapi_connection, record):
        if record is not None:
            WriterQueue.leave(record.info)

    @event.listens_for(engine.pool, "invalidate")
    def _thrown_away(dbapi_connection, record, exception):
        if record is not None:
            WriterQueue.leave(record.info)


_CHANGED = "sanwei_changed"


def note_changes(engine: Engine) -> None:
    """On PostgreSQL, note in a connection's info whether its transaction ran anything but a
    SELECT (a write, a lock, a NOTIFY): `unchanged_transaction` tells a transaction that only
    read, which may then end with COMMIT rather than ROLLBACK (see core.db.end_reading)."""
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "begin")
    def _begun(conn):
        conn.info.pop(_CHANGED, None)

    @event.listens_for(engine, "before_cursor_execute")
    def _ran(conn, cursor, statement, parameters, context, executemany):
        if not statement.startswith("SELECT") or " FOR UPDATE" in statement:
            conn.info[_CHANGED] = True


def unchanged_transaction(conn) -> bool:
    """Whether `conn`'s transaction has only read (PostgreSQL engines, note_changes)."""
    return _CHANGED not in conn.info


@event.listens_for(Engine, "begin")
def _sqlite_on_begin(conn):
    if conn.dialect.name != "sqlite":
        return
    # A deferred transaction that later writes cannot wait for the lock (SQLITE_BUSY at once),
    # so any transaction that may write takes the write lock up front.
    queue = _QUEUES.get(conn.engine) if write_intent.get() else None
    if queue is not None and _HELD not in conn.info:
        queue.begin(conn)
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write_intent.get() else "BEGIN")
