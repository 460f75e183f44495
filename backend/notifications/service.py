"""Writing notifications. Callers add them inside their own unit of work."""

from __future__ import annotations

from backend.extensions import db
from backend.notifications.models import Notification


def notify(person_id: int, kind: str, subject_type: str, subject_id: int, message: str) -> Notification:
    """Queue a notification for one person (committed with the caller's transaction)."""
    note = Notification(person_id=person_id, kind=kind, subject_type=subject_type, subject_id=subject_id,
                        message=message[:200])
    db.session.add(note)
    return note
