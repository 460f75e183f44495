"""Volunteer teams (志愿服务队) of a community: a name, a leader, members and their skills."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.core.db import conflict_info
from backend.extensions import UTCDateTime, db, utcnow
from backend.orgs.models import Org
from backend.people.models import Person


class Team(db.Model):
    __tablename__ = "teams"
    __table_args__ = (
        sa.UniqueConstraint("org_id", "name", name="uq_teams_org_id_name",
                            info=conflict_info("duplicate_name", "本社区已有同名志愿服务队")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The community the team belongs to.
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id", ondelete="RESTRICT"), index=True)
    #: The grid it serves, when it is a grid's service team (counts for 每个网格有服务团队).
    grid_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orgs.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(sa.String(40))
    #: What the team does, comma-separated (e.g. 理发,陪诊,家电维修).
    skills: Mapped[str | None] = mapped_column(sa.String(200))
    description: Mapped[str | None] = mapped_column(sa.String(500))
    leader_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"))
    #: Disbanded teams keep their history but take no members and count nowhere.
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org: Mapped[Org] = relationship(foreign_keys=[org_id])
    grid: Mapped[Org | None] = relationship(foreign_keys=[grid_id])
    leader: Mapped[Person | None] = relationship()
    members: Mapped[list[TeamMember]] = relationship(back_populates="team", order_by="TeamMember.id",
                                                     cascade="all, delete-orphan")


class TeamMember(db.Model):
    __tablename__ = "team_members"
    __table_args__ = (
        sa.UniqueConstraint("team_id", "person_id", name="uq_team_members_team_id_person_id",
                            info=conflict_info("already_member", "已是该队队员")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"), index=True)
    #: The member's own skills (e.g. 会理发), shown on the team page.
    skills: Mapped[str | None] = mapped_column(sa.String(100))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    team: Mapped[Team] = relationship(back_populates="members")
    person: Mapped[Person] = relationship()
