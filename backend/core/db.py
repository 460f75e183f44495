"""Transaction helpers used at the request/job boundary.

Unique constraints are the safety net of every "only one" rule. A constraint says which
409 it means through `info={"conflict": (code, message)}`; whichever statement trips it
(flush or commit, any view), the client gets that code.

A database that cannot take the request now (another transaction holds the write lock past
DB_LOCK_TIMEOUT_SECONDS, the disk is full, the server is restarting) answers 503 with
Retry-After. A record a read leaves behind (who saw a resident's phone number) is written
after the read, best effort: a busy database loses the record, with a log line, not the read.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import sqlalchemy as sa
from flask import Response, current_app, g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from backend.core.errors import Conflict, Unavailable, domain_error, unexpected
from backend.extensions import db, unchanged_transaction, write_intent

RETRY_AFTER_SECONDS = 5
#: SQLite's messages for a lock held too long and a full or failing disk.
_SQLITE_BUSY = ("database is locked", "database table is locked", "database or disk is full", "disk i/o error")
#: PostgreSQL's SQLSTATEs (and classes) of the same: lock_not_available, query_canceled
#: (statement_timeout), deadlock and serialization failures, cannot_connect_now; insufficient
#: resources (53: disk full, out of memory) and connection exceptions (08).
_PG_BUSY = ("55P03", "57014", "40P01", "40001", "57P03")
_PG_BUSY_CLASSES = ("53", "08")
#: Best-effort records lost since the process started (in each log line).
dropped_records = 0


class Bound(NamedTuple):
    """A statement built once for its shape (and kept), with the values one use runs it with:
    building a statement, and making its cache key, cost more than running it on SQLite."""

    stmt: sa.Select
    params: dict[str, Any]


def bound(name: str, values: dict[str, Any] | None = None, **kw: Any) -> sa.BindParameter:
    """The parameter `name` of a condition built per shape: bound by name when the statement is
    run (`values` None: a statement built once and kept), or carrying its value from `values`
    (a condition built for one statement, its parameter named uniquely within it)."""
    if values is None:
        return sa.bindparam(name, **kw)
    return sa.bindparam(name, values[name], unique=True, **kw)


def under_paths(path: sa.ColumnElement[str], name: str, count: int,
                values: dict[str, str] | None = None) -> sa.ColumnElement[bool]:
    """SQL condition: `path` lies under one of `count` org paths, bound as `name_0`, `name_1`,
    … (`paths_bound`, or carried from `values`: `bound`): a condition on whose subtrees a
    person holds, built once per count."""
    return sa.or_(*[path.startswith(bound(f"{name}_{i}", values)) for i in range(count)])


def paths_bound(name: str, paths: list[str]) -> dict[str, str]:
    """The values of `under_paths(…, name, len(paths))`."""
    return {f"{name}_{i}": path for i, path in enumerate(paths)}


def read_rows(stmt: sa.Select, params: dict[str, Any]) -> sa.CursorResult:
    """`stmt`, of columns rather than ORM entities, run on the session's connection (in its
    transaction) past the ORM's execution, which would load no objects from it yet costs
    more than SQLite's work on a list's statements, and asks the session's hooks (they watch
    writes). Nothing pending is flushed first: for reads of lists, which write nothing."""
    return db.session.connection().execute(stmt, params)


def conflict_info(code: str, message: str) -> dict:
    """`info=` for a UniqueConstraint (or a primary key): the 409 a violation of it means."""
    return {"conflict": (code, message)}


def _violated(exc: IntegrityError):
    """The unique constraint or unique (partial) index a violation names, if it is ours."""
    # PostgreSQL names the constraint; SQLite names its columns ("UNIQUE constraint failed: t.a, t.b").
    name = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
    text = str(exc.orig)
    for table in db.metadata.tables.values():
        uniques = [c for c in table.constraints if isinstance(c, sa.UniqueConstraint)
                   or (isinstance(c, sa.PrimaryKeyConstraint) and "conflict" in c.info)]
        uniques += [i for i in table.indexes if i.unique]
        for unique in uniques:
            columns = ", ".join(f"{table.name}.{c.name}" for c in unique.columns)
            if name == unique.name or text == f"UNIQUE constraint failed: {columns}":
                return unique
    return None


def conflict_for(exc: IntegrityError) -> Conflict:
    constraint = _violated(exc)
    if constraint is not None and "conflict" in constraint.info:
        code, message = constraint.info["conflict"]
        return Conflict(message, code=code)
    return Conflict("数据已存在或与现有数据冲突")


def integrity_error(exc: IntegrityError):
    """A constraint violation that reached the request's edge: its 409, nothing kept."""
    db.session.rollback()
    return domain_error(conflict_for(exc))


def commit() -> None:
    """Commit the unit of work; a constraint violation becomes its 409 and nothing is kept.

    A request's commit is its last write: the answer is then made from the objects as the
    request left them, not read back (which on SQLite would take the write lock a second
    time), and whatever is still to be loaded is read in a read transaction. The services
    refresh what a conditional UPDATE changed behind the session's back, so the objects are
    what was written. Outside a request (jobs, commands) a commit expires everything, as
    usual, so the next unit of work reads afresh.

    Loaded collections are still expired: a row added by its foreign key (an event by its
    wish_id) is not in a collection loaded before it, and the answer must show it."""
    session = db.session()
    in_request = has_request_context()
    session.expire_on_commit = not in_request
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise conflict_for(exc) from exc
    finally:
        session.expire_on_commit = True
    if in_request:
        write_intent.set(False)
        _expire_collections(session)
        g.kept_loaded = True


def _expire_collections(session: Session) -> None:
    for obj in list(session.identity_map.values()):
        state = sa.inspect(obj)
        loaded = [rel.key for rel in state.mapper.relationships if rel.uselist and rel.key in state.dict]
        if loaded:
            session.expire(obj, loaded)


def forget_loaded(exc: BaseException | None = None) -> None:
    """teardown_request: what a request's commit kept loaded is expired once the answer is
    made, should the session live on (an app context that spans requests, as in tests): after
    the request it is as if the commit had expired it, as any other commit does."""
    if g.pop("kept_loaded", False) and db.session.registry.has():
        db.session.expire_all()


def end_reading(exc: BaseException | None = None) -> None:
    """teardown_request: on PostgreSQL, a request's transaction that only read ends with COMMIT.

    The session would end it with ROLLBACK, the same for a read; but psycopg forgets every
    statement it has prepared on the connection at each ROLLBACK, so a pooled connection that
    serves reads never kept one, and PostgreSQL planned each of a request's statements afresh
    (0.1–0.5 ms each). A transaction that wrote, locked or notified, or a session still
    holding changes, is left to the ROLLBACK."""
    if not db.session.registry.has():
        return
    session = db.session()
    if not session.in_transaction() or session.new or session.dirty or session.deleted:
        return
    conn = session.connection()
    if conn.dialect.name == "postgresql" and unchanged_transaction(conn):
        # What the request loaded stays loaded: a read changed nothing to read again.
        session.expire_on_commit = False
        try:
            session.commit()
        except sa.exc.DBAPIError:
            # The connection went away after the answer was made: nothing was to be kept.
            session.rollback()
        finally:
            session.expire_on_commit = True


def begin_write() -> None:
    """Close the read transaction so the writes that follow start their own.

    SQLite: a GET starts a deferred (read) transaction; one that then writes may fail at once
    when another connection wrote meanwhile. Committing first and marking write intent makes
    the next transaction BEGIN IMMEDIATE, which waits its turn instead.
    """
    db.session.commit()
    write_intent.set(True)


def is_busy(exc: OperationalError) -> bool:
    """Whether the database refused for a while (locked, full, restarting), not for a bug."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate:
        return sqlstate in _PG_BUSY or sqlstate.startswith(_PG_BUSY_CLASSES)
    return str(exc.orig).lower().startswith(_SQLITE_BUSY)


def database_unavailable(exc: OperationalError):
    """A busy database is 503 with Retry-After; any other operational error is a 500."""
    db.session.rollback()
    if not is_busy(exc):
        return unexpected(exc)
    current_app.logger.warning("database busy on %s %s: %s", request.method, request.path, exc.orig)
    return domain_error(Unavailable(headers={"Retry-After": str(RETRY_AFTER_SECONDS)}))


def record_best_effort(add: Callable[[], None]) -> None:
    """Have `add` (which adds rows to the session) run after this request's answer is made, in
    a transaction of its own; outside a request it runs now, in the caller's transaction."""
    if has_request_context():
        g.setdefault("best_effort", []).append(add)
    else:
        add()


def write_best_effort(response: Response) -> Response:
    """after_request: write what record_best_effort queued, if the answer was a success."""
    global dropped_records
    pending = g.pop("best_effort", [])
    if not pending or response.status_code >= 400:
        return response
    try:
        db.session.commit()
        write_intent.set(True)
        for add in pending:
            add()
        db.session.commit()
    except OperationalError as exc:
        db.session.rollback()
        dropped_records += len(pending)
        current_app.logger.warning("best-effort record dropped on %s %s (%d since start): %s",
                                   request.method, request.path, dropped_records, exc.orig)
    return response


def dialect_insert(dialect_name: str) -> Callable:
    """The INSERT of the database named, which can say ON CONFLICT (an upsert)."""
    return postgresql.insert if dialect_name == "postgresql" else sqlite.insert


def add_to(model, keys: dict, values: dict) -> None:
    """Add `values` (column → amount) to the row of `model` whose primary key is `keys`,
    creating it with them: one statement (an upsert), atomic on both databases, for running
    totals moved in the writer's transaction."""
    add_to_many(model, tuple(keys), [{**keys, **values}])


def add_to_many(model, keys: tuple[str, ...], rows: list[dict]) -> None:
    """`add_to` for each of `rows` (the key columns `keys`, and amounts), in their order: rows
    that two writers share are then waited on in the same order, never in a circle."""
    if rows:
        amounts = tuple(name for name in rows[0] if name not in keys)
        db.session.execute(_upsert(model.__table__, keys, amounts, db.engine.dialect.name), rows)


@functools.cache
def _upsert(table: sa.Table, keys: tuple[str, ...], amounts: tuple[str, ...], dialect_name: str):
    """The upsert of `add_to_many`, built once per table and columns: hot writes run it, and
    building a statement costs more than running it."""
    stmt = dialect_insert(dialect_name)(table)
    return stmt.on_conflict_do_update(index_elements=list(keys),
                                      set_={name: table.c[name] + stmt.excluded[name] for name in amounts})


def get_by(model, statement: sa.Select, ident: int):
    """`db.session.get(model, ident)` through `statement`, built once with its loader options and
    the id bound as `ident`: the object the session holds when it holds one (its attributes
    load when read, as after `get`), else the one `statement` reads, or None. `get` with options
    builds its statement on every call, which costs more than running it."""
    found = db.session.identity_map.get(identity_key(model, ident))
    return found if found is not None else db.session.scalars(statement, {"ident": ident}).unique().first()


def hook_sessions(**hooks: Callable) -> None:
    """Listen to every ORM session's events (event name → function), once per process however
    many apps are made: a function already listening is not added again."""
    for name, fn in hooks.items():
        if not event.contains(Session, name, fn):
            event.listen(Session, name, fn)


@contextmanager
def session_flag(session: Session, key: str) -> Iterator[None]:
    """`session.info[key]` set for the block, so the session's own hooks can tell the block's
    statements from the ones they watch (a running total read or moved is not a change to it)."""
    session.info[key] = True
    try:
        yield
    finally:
        session.info.pop(key, None)

