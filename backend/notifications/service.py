"""Notifications: written in the caller's unit of work (an outbox), read in the person's inbox.

Each notification names what it is about (`subject_type`, `subject_id`); the inbox links it to
the page where the person acts on it. The links are page endpoint names, so this module
imports no domain and no page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app

from backend.core.errors import Forbidden, NotFound
from backend.core.permissions import Actor, can
from backend.core.privacy import mask_phone
from backend.core.timeutil import local_zone
from backend.extensions import db, utcnow
from backend.notifications import channels
from backend.notifications.models import Delivery, DeliveryStatus, Notification

#: kind → the short title shown above the message.
TITLES = {
    "wish_assigned": "心愿指派",
    "wish_reopened": "心愿被退回",
    "wish_claim_expired": "认领已退回",
    "wish_escalated": "心愿超时提醒",
    "booking_promoted": "候补成功",
    "booking_reminder": "活动提醒",
    "booking_reminder_soon": "活动即将开始",
    "booking_cancelled": "报名被取消",
    "checkout_undone": "签退已撤销",
    "period_phase": "星级创评",
    "appeal_filed": "收到申诉",
    "appeal_decided": "申诉结果",
    "appeal_deadline": "申诉即将截止",
    "poll_opened": "党员测评",
    "wish_new": "新心愿",
    "wish_review": "心愿待审核",
    "wish_released": "心愿退回待认领",
    "wish_claimed": "心愿已被认领",
    "wish_fulfilled": "心愿已办好",
    "wish_confirm_reminder": "请确认心愿",
    "double_report_confirmed": "双报到已确认",
    "double_report_rejected": "双报到未通过",
    "score_drift": "评分核查异常",
    "ledger_mismatch": "台账校验未通过",
}
#: subject type → the path of the page where the person acts on it (paths, not endpoint
#: lookups: the delivery job builds links outside any request).
PAGES: dict[str, Callable[[int], str]] = {
    "wish": lambda wish_id: f"/h5/tasks/{wish_id}",
    # a resident's own wish, opened signed in (the receipt's secret is not kept)
    "resident_wish": lambda wish_id: f"/h5/me/wishes/{wish_id}",
    "booking": lambda booking_id: "/h5/me/bookings",
    "service_booking": lambda booking_id: f"/h5/me/service-bookings/{booking_id}",
    "double_report": lambda report_id: "/h5/me/double-report",
    "period": lambda period_id: f"/h5/rating/{period_id}",
    "poll": lambda poll_id: f"/h5/p/{poll_id}",
}


def notify(person_id: int | None, kind: str, subject_type: str, subject_id: int, message: str, *,
           phone: str | None = None) -> Notification | None:
    """Queue a notification (committed with the caller's transaction, so a change that is
    rolled back tells nobody): in the person's inbox; on each installed channel that reaches
    the person with this kind (WeChat, when they allowed it); and by SMS to `phone` — a number
    a resident left with consent — when SMS is on and the kind has an SMS template."""
    by_sms = bool(phone) and channels.sms_provider() is not None and kind in current_app.config["SMS_TEMPLATES"]
    if person_id is None and not by_sms:
        return None   # a resident who left no number (or SMS is off): nobody to tell
    addresses = _routes(person_id, kind) if person_id else []
    addresses += [("sms", phone)] if by_sms else []
    return _write(person_id, kind, subject_type, subject_id, message, addresses)


def notify_all(person_ids: list[int], kind: str, subject_type: str, subject_id: int, message: str) -> None:
    """`notify` each of `person_ids`: the inbox rows of those no channel reaches
    are written by one INSERT (a new wish tells a grid's whole crew)."""
    inbox_only = []
    for person_id in person_ids:
        addresses = _routes(person_id, kind)
        if addresses:
            _write(person_id, kind, subject_type, subject_id, message, addresses)
        else:
            inbox_only.append({"person_id": person_id, "kind": kind, "subject_type": subject_type,
                               "subject_id": subject_id, "message": message[:200]})
    if inbox_only:
        db.session.execute(_INBOX, inbox_only)


#: Of the table, not the model: an ORM statement is annotated afresh on every run (built once:
#: every new wish tells its grid's crew).
_INBOX = sa.insert(Notification.__table__)


def _routes(person_id: int, kind: str) -> list[tuple[str, str]]:
    """The channels that reach the person with this kind, and their addresses (asked once:
    a route may spend a one-time permission)."""
    return [(name, address) for name, route in channels.ROUTES.items() if (address := route(person_id, kind))]


def _write(person_id: int | None, kind: str, subject_type: str, subject_id: int, message: str,
           addresses: list[tuple[str, str]]) -> Notification:
    note = Notification(person_id=person_id, kind=kind, subject_type=subject_type, subject_id=subject_id,
                        message=message[:200])
    db.session.add(note)
    if addresses:
        db.session.flush()
        db.session.add_all(Delivery(notification_id=note.id, channel=name, address=address)
                           for name, address in addresses)
    return note


def already_told(subject_type: str, subject_id: int, kind: str) -> bool:
    """Whether a notification of `kind` about this subject was written (reminders go once)."""
    return bool(db.session.scalar(sa.select(sa.exists().where(
        Notification.subject_type == subject_type, Notification.subject_id == subject_id,
        Notification.kind == kind))))


def title_of(note: Notification) -> str:
    """The short title of a notification."""
    return TITLES.get(note.kind, "通知")


def link_of(note: Notification) -> str | None:
    """The page a notification opens, if its subject has one."""
    page = PAGES.get(note.subject_type)
    return page(note.subject_id) if page else None


def inbox(actor: Actor, unread_only: bool = False) -> sa.Select:
    """The person's notifications, unread first, newest first (a statement, for paging)."""
    stmt = sa.select(Notification).where(Notification.person_id == actor.person_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return stmt.order_by(Notification.read_at.is_not(None), Notification.created_at.desc(), Notification.id.desc())


def recent(actor: Actor, limit: int = 100) -> list[Notification]:
    """The person's latest notifications, unread first (the 消息 page)."""
    return list(db.session.scalars(inbox(actor).limit(limit)))


#: Every signed-in page's tab bar counts these: built once, its person bound.
_UNREAD = sa.select(sa.func.count()).select_from(Notification).where(
    Notification.person_id == sa.bindparam("person_id"), Notification.read_at.is_(None))


def unread_count(actor: Actor | None) -> int:
    """How many of the person's notifications are unread (0 for a visitor)."""
    if actor is None:
        return 0
    return db.session.scalar(_UNREAD, {"person_id": actor.person_id})


def mark_read(actor: Actor, ids: list[int] | None = None) -> int:
    """Mark the person's own notifications read (`ids`, or all of them); how many changed.
    Another person's ids are ignored, never read."""
    stmt = sa.update(Notification).where(Notification.person_id == actor.person_id,
                                         Notification.read_at.is_(None))
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(ids))
    return db.session.execute(stmt.values(read_at=utcnow()).execution_options(synchronize_session=False)).rowcount


def open_note(actor: Actor, note_id: int) -> Notification:
    """One of the person's notifications, marked read as it is opened (404 for anyone else's)."""
    note = db.session.get(Notification, note_id)
    if note is None or note.person_id != actor.person_id:
        raise NotFound("找不到这条消息")
    mark_read(actor, [note.id])
    return note


# --- delivery: after the commit, by the scheduler ---------------------------------------------

D = DeliveryStatus


def _quiet_until(delivery: Delivery, now: datetime) -> datetime | None:
    """For SMS in the quiet hours (NOTIFY_QUIET_HOURS, local time), when they end."""
    start, end = current_app.config["NOTIFY_QUIET_HOURS"]
    if delivery.channel != "sms":
        return None
    local = now.astimezone(local_zone())
    if end <= local.hour < start:
        return None
    day = local.date() + timedelta(days=1) if local.hour >= start else local.date()
    return datetime.combine(day, time(end), local_zone())


def _sent_today(delivery: Delivery, now: datetime) -> int:
    midnight = datetime.combine(now.astimezone(local_zone()).date(), time(), local_zone())
    # A sent SMS keeps only the masked number (see _close): count by that.
    address = mask_phone(delivery.address) if delivery.channel == "sms" else delivery.address
    return db.session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(
        Delivery.channel == delivery.channel, Delivery.address == address,
        Delivery.status == D.sent.value, Delivery.sent_at >= midnight))


def _message(delivery: Delivery) -> channels.Message:
    note = delivery.notification
    link = link_of(note)
    return channels.Message(kind=note.kind, key=delivery.key, at=note.created_at,
                            params={"title": title_of(note)[:20], "detail": note.message[:20]},
                            url=f"{current_app.config['PUBLIC_BASE_URL']}{link}" if link else None)


def _close(delivery: Delivery, status: DeliveryStatus, error: str | None, now: datetime) -> None:
    delivery.status = status.value
    delivery.last_error = error
    delivery.sent_at = now if status == D.sent else None
    # Nothing more will be sent: keep no more of the address than a person needs to recognise it.
    delivery.address = mask_phone(delivery.address) if delivery.channel == "sms" else delivery.address


def _attempt(delivery: Delivery, now: datetime) -> None:
    cfg = current_app.config
    quiet = _quiet_until(delivery, now)
    if quiet is not None:
        delivery.next_attempt_at = quiet
        return
    if _sent_today(delivery, now) >= cfg["NOTIFY_DAILY_CAP"]:
        _close(delivery, D.skipped, "已达每日发送上限（站内消息照常）", now)
        return
    delivery.attempts += 1
    try:
        channels.SENDERS[delivery.channel](delivery.address, _message(delivery))
    except channels.Refused as exc:
        _close(delivery, D.dead, str(exc)[:200], now)
    except channels.Retry as exc:
        if delivery.attempts >= cfg["NOTIFY_MAX_ATTEMPTS"]:
            _close(delivery, D.dead, str(exc)[:200], now)
        else:
            delivery.last_error = str(exc)[:200]
            wait = cfg["NOTIFY_RETRY_SECONDS"] * 2 ** (delivery.attempts - 1)
            delivery.next_attempt_at = now + timedelta(seconds=min(wait, 6 * 3600))
    else:
        _close(delivery, D.sent, None, now)


def deliver_due(now: datetime | None = None, limit: int = 200) -> int:
    """Send the deliveries that are due; how many were tried. Each outcome is committed at
    once, before the next send: a crash between two sends never repeats the first."""
    now = now or utcnow()
    due = db.session.scalars(sa.select(Delivery.id).where(
        Delivery.status == D.pending.value, Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit)).all()
    for delivery_id in due:
        delivery = db.session.get(Delivery, delivery_id)
        if delivery.status == D.pending.value:
            _attempt(delivery, now)
            db.session.commit()
    return len(due)


def dead_letters(actor: Actor, limit: int = 200) -> list[Delivery]:
    """Deliveries given up on, newest first (for admins)."""
    if not can(actor, "notifications.dead_letters"):
        raise Forbidden("只有系统管理员可以查看发送失败的消息")
    return list(db.session.scalars(sa.select(Delivery).where(Delivery.status == D.dead.value)
                                   .order_by(Delivery.id.desc()).limit(limit)))
