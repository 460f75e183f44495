"""Notifications leave by SMS only after their change commits, once each, never in the
quiet hours, within a daily cap, retried through an outage, and dead letters are listed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from backend.extensions import db
from backend.notifications import service
from backend.notifications.models import Delivery
from tests import factories as f
from tests.fake_sms import KEY_ID, KEY_SECRET, fake_sms

#: 10:00 in Shanghai.
DAY = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
PHONE = "13812345678"


@pytest.fixture
def sms(app):
    with fake_sms() as (base, fake):
        app.config.update(SMS_PROVIDER="aliyun", SMS_API_BASE=base, SMS_ACCESS_KEY_ID=KEY_ID,
                          SMS_ACCESS_KEY_SECRET=KEY_SECRET, SMS_SIGN_NAME="三微",
                          SMS_TEMPLATES={"wish_fulfilled": "SMS_100"}, NOTIFY_RETRY_SECONDS=60,
                          NOTIFY_MAX_ATTEMPTS=5, NOTIFY_DAILY_CAP=2)
        yield fake


def _tell(phone: str = PHONE, text: str = "您的心愿“修路灯”已办好，请确认") -> Delivery:
    note = service.notify(None, "wish_fulfilled", "wish", 1, text, phone=phone)
    db.session.commit()
    return db.session.scalar(sa.select(Delivery).where(Delivery.notification_id == note.id))


def test_a_rolled_back_change_tells_nobody(app, sms):
    service.notify(None, "wish_fulfilled", "wish", 1, "不会发出", phone=PHONE)
    db.session.rollback()
    assert service.deliver_due(DAY) == 0 and sms.calls == 0


def test_an_outage_then_recovery_delivers_each_message_once(app, sms):
    first, second = _tell(), _tell("13900001111", "您的心愿“换灯泡”已办好，请确认")
    sms.fail_next(6)   # three tries of each fail
    now = DAY
    for _ in range(3):
        assert service.deliver_due(now) == 2
        now = now + timedelta(hours=1)
    db.session.expire_all()
    assert first.status == "pending" and first.attempts == 3 and "HTTP 500" in first.last_error
    assert first.next_attempt_at > DAY
    service.deliver_due(now)
    service.deliver_due(now + timedelta(hours=1))
    db.session.expire_all()
    assert (first.status, second.status) == ("sent", "sent") and first.attempts == 4
    assert len(sms.delivered) == 2 and sms.calls == 8
    assert sms.delivered[first.key] == {"phone": PHONE, "template": "SMS_100",
                                        "params": {"title": "心愿已办好", "detail": "您的心愿“修路灯”已办好，请确认"}}
    assert first.address == "138****5678"   # nothing more will be sent: the number is not kept


def test_quiet_hours_wait_for_the_morning(app, sms):
    delivery = _tell()
    night = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)   # 22:30 in Shanghai
    service.deliver_due(night)
    db.session.expire_all()
    assert sms.calls == 0 and delivery.next_attempt_at == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
    assert service.deliver_due(night + timedelta(hours=4)) == 0
    service.deliver_due(datetime(2026, 12, 2, 0, 0, tzinfo=UTC))
    db.session.expire_all()
    assert delivery.status == "sent" and sms.calls == 1


def test_a_daily_cap_per_number(app, sms):
    deliveries = [_tell(text=f"消息{n}") for n in range(3)]
    service.deliver_due(DAY)
    db.session.expire_all()
    assert [d.status for d in deliveries] == ["sent", "sent", "skipped"] and len(sms.delivered) == 2
    assert "上限" in deliveries[2].last_error


def test_refused_and_exhausted_deliveries_are_dead_letters(app, client, sms):
    refused, exhausted = _tell("10000000000"), _tell("13900002222")
    sms.fail_next(1, "code", "isv.MOBILE_NUMBER_ILLEGAL")
    sms.fail_next(5, "code", "isp.SYSTEM_ERROR")
    now = DAY
    for _ in range(5):
        service.deliver_due(now)
        now += timedelta(hours=2)
    db.session.expire_all()
    assert (refused.status, refused.attempts) == ("dead", 1)
    assert (exhausted.status, exhausted.attempts) == ("dead", 5) and "isp.SYSTEM_ERROR" in exhausted.last_error
    assert not sms.delivered
    f.person("管理员", username="root", role="admin")
    f.person("李红梅", username="sec", role="secretary", org=f.tree()["a"])
    listed = client.get("/api/v1/admin/notification-deliveries", headers=f.login(client, "root")).get_json()
    assert [d["id"] for d in listed] == [exhausted.id, refused.id]
    assert listed[0]["address"] == "139****2222" and listed[0]["channel"] == "sms"
    assert client.get("/api/v1/admin/notification-deliveries", headers=f.login(client, "sec")).status_code == 403
