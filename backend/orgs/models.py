"""The organisation tree: street → community → grid → group, plus resident units (驻区单位)."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.core.db import conflict_info
from backend.extensions import UTCDateTime, db, utcnow


class OrgKind(enum.StrEnum):
    street = "street"
    community = "community"
    grid = "grid"
    group = "group"
    unit = "unit"


#: Chinese labels of org kinds, for pages and posters.
ORG_KIND_LABELS = {
    OrgKind.street: "街道",
    OrgKind.community: "社区",
    OrgKind.grid: "网格",
    OrgKind.group: "党小组",
    OrgKind.unit: "驻区单位",
}

#: Which kinds may sit under which. A street is a root; units hang off a street or community.
ALLOWED_PARENTS: dict[OrgKind, set[OrgKind | None]] = {
    OrgKind.street: {None},
    OrgKind.community: {OrgKind.street},
    OrgKind.grid: {OrgKind.community},
    OrgKind.group: {OrgKind.grid, OrgKind.community},
    OrgKind.unit: {OrgKind.street, OrgKind.community},
}


def enum_check(column: str, enum_cls: type[enum.Enum]) -> str:
    values = ", ".join(f"'{m.value}'" for m in enum_cls)
    return f"{column} IN ({values})"


class Org(db.Model):
    __tablename__ = "orgs"
    __table_args__ = (
        sa.CheckConstraint(enum_check("kind", OrgKind), name="kind"),
        sa.UniqueConstraint("parent_id", "name", name="uq_orgs_parent_id_name",
                            info=conflict_info("duplicate_name", "同级下已有同名组织")),
        sa.CheckConstraint("households IS NULL OR households >= 0", name="households"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Display name, unique among siblings (e.g. 和平社区).
    name: Mapped[str] = mapped_column(sa.String(100))
    #: street, community, grid, group or unit.
    kind: Mapped[str] = mapped_column(sa.String(16))
    #: The org above; NULL only for a street (a root).
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orgs.id", ondelete="RESTRICT"), index=True)
    #: Materialised path "/1/4/9/" of ids from the root down to this org: subtree = prefix match.
    path: Mapped[str] = mapped_column(sa.String(255), index=True, default="")
    #: When the org was added.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Communities only: new micro-wishes wait for a grid leader to publish them (pending_review).
    wish_moderation: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    #: Communities only: households living there (户数), the denominator of per-household rates.
    households: Mapped[int | None] = mapped_column()
    #: Grids only: the buildings the grid covers as the community writes them ("1-3栋、5栋");
    #: buildings are not orgs of their own (docs/rosters.md says why).
    buildings: Mapped[str | None] = mapped_column(sa.String(500))

    parent: Mapped[Org | None] = relationship(remote_side=[id])

    @property
    def kind_label(self) -> str:
        return ORG_KIND_LABELS[OrgKind(self.kind)]

    @property
    def ancestor_ids(self) -> list[int]:
        """Ids from the root down to and including this org."""
        return [int(part) for part in self.path.strip("/").split("/") if part]

    def is_within(self, other_path: str) -> bool:
        return self.path.startswith(other_path)
