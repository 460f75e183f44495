"""People and their roles in organisations."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.core.db import conflict_info
from backend.core.roles import ROLE_LABELS, Role
from backend.extensions import UTCDateTime, db, utcnow
from backend.orgs.models import Org, enum_check


class Person(db.Model):
    __tablename__ = "people"
    __table_args__ = (
        sa.UniqueConstraint("username", name="uq_people_username",
                            info=conflict_info("username_taken", "用户名已被使用")),
        # A unique index, not a constraint: SQLite adds an index without rebuilding the table.
        sa.Index("uq_people_id_number_hash", "id_number_hash", unique=True,
                 info=conflict_info("id_number_taken", "该身份证号已登记在另一人名下")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Real name as the community knows it.
    name: Mapped[str] = mapped_column(sa.String(50))
    #: Staff login name; NULL for people who never sign in with a password.
    username: Mapped[str | None] = mapped_column(sa.String(50))
    #: Werkzeug password hash; NULL when the person has no password login.
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    #: Mobile number, optional (PIPL: collect the minimum); shown masked to others.
    phone: Mapped[str | None] = mapped_column(sa.String(20), index=True)
    #: Keyed hash (HMAC-SHA256, key ID_NUMBER_KEY from the settings) of the 身份证号 given on a
    #: roster import, only to recognise the same person on the next import; the number itself is
    #: never stored (PIPL).
    id_number_hash: Mapped[str | None] = mapped_column(sa.String(64))
    #: 党员.
    is_party_member: Mapped[bool] = mapped_column(default=False)
    #: 在职党员: works in a unit and reports to a residential community (双报到).
    is_in_service: Mapped[bool] = mapped_column(default=False)
    #: 流动党员: membership kept elsewhere, lives or works here for now.
    is_mobile: Mapped[bool] = mapped_column(default=False)
    #: 退休党员: retired; the party member roster's third kind beside in-service and mobile.
    is_retired: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    #: The residential community a party member reports to.
    home_community_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orgs.id", ondelete="SET NULL"))
    #: Work unit of an in-service party member (free text until units are linked).
    work_unit: Mapped[str | None] = mapped_column(sa.String(100))
    #: A deactivated person cannot sign in; their history stays.
    is_active: Mapped[bool] = mapped_column(default=True)
    #: Who created the record; lets a staff member see a person before adding them to an org.
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    #: When the record was created.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    home_community: Mapped[Org | None] = relationship(foreign_keys=[home_community_id])
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="person", cascade="all, delete-orphan", order_by="Membership.id"
    )

    def roles(self) -> set[str]:
        return {m.role for m in self.memberships}


class Membership(db.Model):
    """A person holds a role in an org. A global admin is the one role held without an org."""

    __tablename__ = "memberships"
    __table_args__ = (
        sa.CheckConstraint(enum_check("role", Role), name="role"),
        sa.CheckConstraint("org_id IS NOT NULL OR role = 'admin'", name="org_required"),
        sa.UniqueConstraint("person_id", "org_id", "role", name="uq_memberships_person_org_role",
                            info=conflict_info("duplicate", "该成员已有此角色")),
        sa.Index("ix_memberships_org_id_role", "org_id", "role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Who holds the role.
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"), index=True)
    #: Where; NULL only for a global admin.
    org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    #: One of Role.
    role: Mapped[str] = mapped_column(sa.String(20))
    #: When the role was given.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    person: Mapped[Person] = relationship(back_populates="memberships")
    org: Mapped[Org | None] = relationship()

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[Role(self.role)]
