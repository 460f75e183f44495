"""Rosters by Excel (名册导入): the doors the API and the pages call.

A run reads the workbook, checks every row against the database in a handful of queries and
plans what would change (backend.rosters.plan). A dry run stops there and reports. The real run
is all or nothing: one row error and nothing is written; otherwise the plan is applied in the
caller's transaction. People are recognised by the keyed hash of their ID number, else by phone,
so importing the same workbook again changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import current_app
from werkzeug.datastructures import FileStorage

from backend.core.errors import Forbidden, Invalid
from backend.core.permissions import Actor, can
from backend.core.roles import Role
from backend.extensions import db
from backend.orgs.models import Org
from backend.orgs.service import org_for, visible_orgs
from backend.people.models import Person
from backend.rosters import workbook
from backend.rosters.permissions import IMPORT_KINDS
from backend.rosters.plan import DraftOrg, Plan, SheetCount
from backend.rosters.workbook import RowError


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
