"""WeChat accounts linked to people, the one-time codes that link a staff member's or
volunteer's WeChat to their record, and what each person agreed to be sent."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.core.db import conflict_info
from backend.extensions import UTCDateTime, db, utcnow
from backend.orgs.models import enum_check
from backend.people.models import Person


class AppKind(enum.StrEnum):
    #: Web pages opened inside WeChat, authorised through the 公众号 (服务号).
    h5 = "h5"
    #: The mini-program.
    miniprogram = "miniprogram"


class LinkedBy(enum.StrEnum):
    #: A resident created on their first visit, with nothing but the openid.
    first_visit = "first_visit"
    #: A binding code issued by staff for a known person.
    binding = "binding"
    #: The same WeChat user (unionid) already known through the other app.
    unionid = "unionid"


class WechatIdentity(db.Model):
    """One WeChat account of one app, and the person it signs in as."""

    __tablename__ = "wechat_identities"
    __table_args__ = (
        sa.CheckConstraint(enum_check("app_kind", AppKind), name="app_kind"),
        sa.CheckConstraint(enum_check("linked_by", LinkedBy), name="linked_by"),
        # An openid is only unique within the app that issued it.
        sa.UniqueConstraint("app_id", "openid", name="uq_wechat_identities_app_id_openid",
                            info=conflict_info("wechat_already_bound", "该微信已绑定其他人员")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Who signs in with this WeChat account.
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"), index=True)
    #: Which kind of app issued the openid.
    app_kind: Mapped[str] = mapped_column(sa.String(12))
    #: The WeChat appid that issued the openid (a new 公众号 means new openids).
    app_id: Mapped[str] = mapped_column(sa.String(32))
    #: The user's id within that app.
    openid: Mapped[str] = mapped_column(sa.String(64))
    #: The user's id across the apps of one WeChat Open Platform account, when WeChat gives it.
    unionid: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    #: How the account came to be linked to the person (LinkedBy).
    linked_by: Mapped[str] = mapped_column(sa.String(12))
    #: When the link was made.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    person: Mapped[Person] = relationship()


class BindingCode(db.Model):
    """A one-time code (24 h) that links the WeChat account which opens it to a person.

    Only the SHA-256 of the code is stored: whoever reads the database cannot bind with it.
    It is used once, by one conditional UPDATE of `used_at`."""

    __tablename__ = "wechat_binding_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: sha256 hex of the code; the code itself is shown once and never stored.
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: Whose WeChat the code binds.
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"), index=True)
    #: The staff member who issued it.
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    #: Issued at.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Not usable from this moment on.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When it linked an account; a used code never works again.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship(foreign_keys=[person_id])


class WechatSubscription(db.Model):
    """What a person allowed the 服务号 to send them with one subscribe-message template.

    A one-time template (一次性订阅) allows one message per "允许" tap: `remaining` counts them
    and queuing a message spends one. A long-term template (长期订阅, open to 政务民生
    accounts) allows messages until the person turns it off; WeChat then answers 43101 and the
    row is dropped."""

    __tablename__ = "wechat_subscriptions"
    __table_args__ = (
        sa.UniqueConstraint("person_id", "template_id", name="uq_wechat_subscriptions_person_id_template_id"),
        sa.CheckConstraint("remaining >= 0", name="remaining"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"))
    #: The 服务号 template the person allowed.
    template_id: Mapped[str] = mapped_column(sa.String(64))
    #: A long-term subscription (WECHAT_LONG_TERM_TEMPLATES) is not spent by sending.
    long_term: Mapped[bool] = mapped_column(default=False)
    #: One-time subscriptions allowed and not yet spent.
    remaining: Mapped[int] = mapped_column(default=0)
    #: When the person last tapped 允许.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
