"""Notifications: written in the caller's unit of work (an outbox), read in the person's inbox.

Each notification names what it is about (`subject_type`, `subject_id`); the inbox links it to
the page where the person acts on it. The links are page endpoint names, so this module
imports no domain and no page.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask import url_for

from backend.core.errors import NotFound
from backend.core.permissions import Actor
from backend.extensions import db, utcnow
from backend.notifications.models import Notification

#: kind → the short title shown above the message.
TITLES = {
    "wish_assigned": "心愿指派",
    "wish_reopened": "心愿被退回",
    "wish_claim_expired": "认领已退回",
    "wish_escalated": "心愿超时提醒",
    "booking_promoted": "候补成功",
}
#: subject type → the page where the person acts on it.
PAGES: dict[str, Callable[[int], str]] = {
    "wish": lambda wish_id: url_for("wish_pages.task", wish_id=wish_id),
    "booking": lambda booking_id: url_for("activity_pages.my_bookings"),
    "double_report": lambda report_id: url_for("team_pages.double_report"),
}


def notify(person_id: int, kind: str, subject_type: str, subject_id: int, message: str) -> Notification:
    """Queue a notification for one person (committed with the caller's transaction)."""
    note = Notification(person_id=person_id, kind=kind, subject_type=subject_type, subject_id=subject_id,
                        message=message[:200])
    db.session.add(note)
    return note


def title_of(note: Notification) -> str:
    """The short title of a notification."""
    return TITLES.get(note.kind, "通知")


def link_of(note: Notification) -> str | None:
    """The page a notification opens, if its subject has one."""
    page = PAGES.get(note.subject_type)
    return page(note.subject_id) if page else None


def inbox(actor: Actor, unread_only: bool = False) -> sa.Select:
    """The person's notifications, unread first, newest first (a statement, for paging)."""
    stmt = sa.select(Notification).where(Notification.person_id == actor.person.id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return stmt.order_by(Notification.read_at.is_not(None), Notification.created_at.desc(), Notification.id.desc())


def recent(actor: Actor, limit: int = 100) -> list[Notification]:
    """The person's latest notifications, unread first (the 消息 page)."""
    return list(db.session.scalars(inbox(actor).limit(limit)))


def unread_count(actor: Actor | None) -> int:
    """How many of the person's notifications are unread (0 for a visitor)."""
    if actor is None:
        return 0
    return db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.person_id == actor.person.id, Notification.read_at.is_(None)))


def mark_read(actor: Actor, ids: list[int] | None = None) -> int:
    """Mark the person's own notifications read (`ids`, or all of them); how many changed.
    Another person's ids are ignored, never read."""
    stmt = sa.update(Notification).where(Notification.person_id == actor.person.id,
                                         Notification.read_at.is_(None))
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(ids))
    return db.session.execute(stmt.values(read_at=utcnow()).execution_options(synchronize_session=False)).rowcount


def open_note(actor: Actor, note_id: int) -> Notification:
    """One of the person's notifications, marked read as it is opened (404 for anyone else's)."""
    note = db.session.get(Notification, note_id)
    if note is None or note.person_id != actor.person.id:
        raise NotFound("找不到这条消息")
    mark_read(actor, [note.id])
    return note
