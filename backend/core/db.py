"""Transaction helpers used at the request/job boundary.

Unique constraints are the safety net of every "only one" rule. A constraint says which
409 it means through `info={"conflict": (code, message)}`; whichever statement trips it
(flush or commit, any view), the client gets that code.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from backend.core.errors import Conflict, domain_error
from backend.extensions import db, write_intent


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
    """Commit the unit of work; a constraint violation becomes its 409 and nothing is kept."""
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise conflict_for(exc) from exc


def begin_write() -> None:
    """Close the read transaction so the writes that follow start their own.

    SQLite: a GET starts a deferred (read) transaction; one that then writes may fail at once
    when another connection wrote meanwhile. Committing first and marking write intent makes
    the next transaction BEGIN IMMEDIATE, which waits its turn instead.
    """
    db.session.commit()
    write_intent.set(True)
