"""Rosters by Excel (名册导入): the doors the API and the pages call.

A run reads the workbook, checks every row against the database in a handful of queries and
plans what would change (backend.rosters.plan). A dry run stops there and reports. The real run
is all or nothing: one row error and nothing is written; otherwise the plan is applied in the
caller's transaction. People are recognised by the keyed hash of their ID number, else by phone,
so importing the same workbook again changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import FileStorage

from backend.core.errors import Forbidden, Invalid, NotFound
from backend.core.permissions import Actor, can
from backend.core.roles import ROLE_LABELS, Role
from backend.extensions import db
from backend.orgs.models import Org
from backend.orgs.service import org_for, visible_orgs
from backend.people.models import Membership, Person
from backend.rosters import workbook
from backend.rosters.permissions import IMPORT_KINDS
from backend.rosters.plan import DraftOrg, Plan, SheetCount
from backend.rosters.workbook import RowError
from backend.wechat import service as wechat

#: Slips on one binding-code sheet: a few pages of print, and the codes are issued at once.
MAX_SLIPS = 300
_GRID_STAFF = (Role.grid_leader.value, Role.grid_member.value)


@dataclass(frozen=True)
class StaffMember:
    """A grid leader or member the import brought in (who gets a binding code)."""

    person: Person
    grid: Org
    role: Role


@dataclass
class Report:
    """What a run found and (for the real run) did."""

    org: Org
    dry_run: bool
    errors: list[RowError]
    sheets: list[SheetCount]
    #: orgs_created, orgs_updated, people_created, people_updated, memberships_created.
    counts: dict[str, int]
    imported: bool = False
    staff: list[StaffMember] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class RosterRejected(Invalid):
    """A real run found row errors, so nothing was imported; `report` lists them. The API answer
    names each cell in `fields` ("党员!C12": [reason])."""

    code = "roster_invalid"

    def __init__(self, report: Report):
        fields: dict[str, list[str]] = {}
        for error in report.errors:
            fields.setdefault(f"{error.sheet}!{error.cell or error.row}", []).append(error.message)
        super().__init__(f"名册有 {len(report.errors)} 处错误，未导入任何内容", fields=fields)
        self.report = report


def template_for(actor: Actor) -> bytes:
    """The empty roster workbook with its Chinese headers, for staff."""
    if not can(actor, "rosters.template"):
        raise Forbidden()
    return workbook.template()


def importable_orgs(actor: Actor) -> list[Org]:
    """The streets and communities the person may import a roster into, in tree order."""
    stmt = visible_orgs(actor).where(Org.kind.in_(IMPORT_KINDS))
    return [org for org in db.session.scalars(stmt) if can(actor, "org.roster.import", org)]


def _receive(upload: FileStorage | None) -> bytes:
    limit = current_app.config["ROSTER_MAX_BYTES"]
    data = upload.stream.read(limit + 1) if upload is not None else b""
    if not data:
        raise Invalid("请选择名册文件", code="roster_empty", fields={"file": ["请选择名册文件"]})
    if len(data) > limit:
        message = f"文件不能超过 {limit // (1024 * 1024)} MB"
        raise Invalid(message, code="roster_too_large", fields={"file": [message]})
    return data


def _take_turns(org: Org) -> None:
    """Imports into one street take turns: two at once could each find a phone new and create the
    person twice. (A row lock on PostgreSQL; SQLite writers take turns anyway.)"""
    db.session.execute(sa.select(Org.id).where(Org.id == org.ancestor_ids[0]).with_for_update())


def _staff(plan: Plan) -> list[StaffMember]:
    return [StaffMember(row.person.person, row.grid.org if isinstance(row.grid, DraftOrg) else row.grid, row.role)
            for row in plan.staff]


def import_roster(actor: Actor, org_id: int, upload: FileStorage | None, *, dry_run: bool) -> Report:
    """Check a roster workbook against the street or community `org_id` and, unless `dry_run`,
    import it all or nothing: RosterRejected (422, nothing written) when any row has an error."""
    org = org_for(actor, org_id, "org.roster.import")
    parsed = workbook.read(_receive(upload))
    if not dry_run:
        _take_turns(org)
    plan = Plan(org, parsed)
    report = Report(org, dry_run, plan.errors, list(plan.sheets.values()), plan.counts())
    if dry_run:
        return report
    if report.errors:
        raise RosterRejected(report)
    plan.apply(actor.person)
    report.imported, report.staff = True, _staff(plan)
    return report


# --- the binding-code sheet for imported staff -----------------------------------------------------

@dataclass(frozen=True)
class BindingSlip:
    """One cut-out slip of the sheet: whose WeChat the code binds, and the address it encodes."""

    person: Person
    #: "第三网格网格长": the grid posts the person holds.
    posts: str
    url: str
    expires_at: datetime


def binding_codes_available() -> bool:
    """Whether WeChat sign-in is configured, so binding codes can be issued at all."""
    return wechat.web_enabled() or wechat.miniprogram_enabled()


def binding_sheet(actor: Actor, person_ids: list[int]) -> tuple[list[BindingSlip], list[int]]:
    """A one-time WeChat binding code for each of the people (the grid staff an import brought
    in), as slips to print; and the ids of those the actor may not issue one for (the WeChat
    binding rule decides), left off the sheet."""
    if not binding_codes_available():
        raise wechat.WechatOff()
    ids = list(dict.fromkeys(person_ids))
    if not ids or len(ids) > MAX_SLIPS:
        raise Invalid(f"一次可为 1 到 {MAX_SLIPS} 人生成绑定码", code="binding_sheet_size")
    people = {p.id: p for p in db.session.scalars(sa.select(Person).where(Person.id.in_(ids)).options(
        selectinload(Person.memberships).selectinload(Membership.org)))}
    slips, refused = [], []
    for person_id in ids:
        try:
            code, binding = wechat.issue_binding_code_by(actor, person_id)
        except (Forbidden, NotFound):
            refused.append(person_id)
            continue
        person = people[person_id]
        posts = "、".join(f"{m.org.name}{ROLE_LABELS[Role(m.role)]}" for m in person.memberships
                         if m.role in _GRID_STAFF)
        slips.append(BindingSlip(person, posts, wechat.binding_url(code), binding.expires_at))
    return slips, refused
