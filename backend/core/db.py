"""Transaction helpers used at the request/job boundary."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from backend.core.errors import Conflict
from backend.extensions import db


def commit(conflict_code: str = "conflict", conflict_message: str = "数据已存在或与现有数据冲突") -> None:
    """Commit the unit of work; a constraint violation becomes a 409 and nothing is kept."""
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(conflict_message, code=conflict_code) from exc
