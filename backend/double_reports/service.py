"""Double reporting (双报到): report once a year, the community confirms, and the member
then serves there as a volunteer."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from backend.core.errors import Conflict, Forbidden, Invalid, NotFound
from backend.core.permissions import Actor, authorize, can, load_authorized
from backend.core.timeutil import local_zone
from backend.double_reports.models import DoubleReport, ReportStatus
from backend.extensions import db, utcnow
from backend.notifications.service import notify
from backend.orgs.models import Org, OrgKind
from backend.people.models import Membership, Person, Role

S = ReportStatus


def this_year() -> int:
    """The current year in local time (reports are per calendar year)."""
    return datetime.now(local_zone()).year


def report(person: Person, community: Org, *, work_unit: str, offer: str | None = None,
           year: int | None = None) -> DoubleReport:
    """A party member reports to a residential community; 409 `already_reported` the second
    time in a year (a partial unique index, so two at once cannot both pass)."""
    if not person.is_party_member:
        raise Forbidden("双报到仅面向党员", code="not_party_member")
    if community.kind != OrgKind.community.value:
        message = "请选择居住地所在的社区"
        raise Invalid(message, code="invalid_org", fields={"community_id": [message]})
    year = year or this_year()
    if year not in (this_year(), this_year() + 1):
        message = "只能报到本年度或下一年度"
        raise Invalid(message, code="invalid_year", fields={"year": [message]})
    record = DoubleReport(person=person, community=community, year=year, work_unit=work_unit.strip(),
                          offer=offer, status=S.pending.value)
    db.session.add(record)
    db.session.flush()
    return record


def _decide(record: DoubleReport, decider: Person, status: ReportStatus, reason: str | None = None) -> None:
    done = db.session.execute(
        sa.update(DoubleReport).where(DoubleReport.id == record.id, DoubleReport.status == S.pending.value)
        .values(status=status.value, decided_at=utcnow(), decided_by_id=decider.id, reason=reason)
        .execution_options(synchronize_session=False)).rowcount == 1
    db.session.refresh(record)
    if not done:
        raise Conflict(f"该报到已处理（{record.status_label}）", code="already_decided")


def confirm(record: DoubleReport, decider: Person) -> None:
    """The community accepts: the member is recorded as in service with this work unit and
    home community, and appears among its volunteers."""
    _decide(record, decider, S.confirmed)
    person = record.person
    person.is_in_service = True
    person.work_unit = record.work_unit
    person.home_community_id = record.community_id
    held = db.session.scalar(sa.select(sa.exists().where(
        Membership.person_id == person.id, Membership.org_id == record.community_id,
        Membership.role == Role.volunteer.value)))
    if not held:
        db.session.add(Membership(person=person, org_id=record.community_id, role=Role.volunteer.value))
    db.session.flush()
    notify(person.id, "double_report_confirmed", "double_report", record.id,
           f"{record.community.name}已确认您的双报到，欢迎参加社区志愿服务")


def reject(record: DoubleReport, decider: Person, reason: str) -> None:
    """Not accepted (e.g. not living here); the member may report again, elsewhere or corrected."""
    _decide(record, decider, S.rejected, reason)
    notify(record.person_id, "double_report_rejected", "double_report", record.id,
           f"{record.community.name}未通过您的双报到：{reason}")


def reports_for(org: Org, year: int | None = None, status: str | None = None) -> sa.Select:
    """Reports to communities in `org`'s subtree, pending first, then newest."""
    stmt = sa.select(DoubleReport).where(DoubleReport.community.has(Org.path.startswith(org.path)))
    if year is not None:
        stmt = stmt.where(DoubleReport.year == year)
    if status is not None:
        stmt = stmt.where(DoubleReport.status == status)
    pending_first = sa.case((DoubleReport.status == S.pending.value, 0), else_=1)
    return stmt.order_by(pending_first, DoubleReport.reported_at.desc(), DoubleReport.id.desc())


def communities() -> list[Org]:
    """Every community, by street and name: where a member may live is not limited to their scope."""
    street = aliased(Org)
    return list(db.session.scalars(sa.select(Org).join(street, street.id == Org.parent_id)
                                   .where(Org.kind == OrgKind.community.value).order_by(street.name, Org.name)))


def mine(person: Person) -> sa.Select:
    """The person's own reports, latest year first."""
    return sa.select(DoubleReport).where(DoubleReport.person_id == person.id).order_by(
        DoubleReport.year.desc(), DoubleReport.id.desc())


def reports_of(person: Person) -> list[DoubleReport]:
    """The person's own reports, latest year first."""
    return list(db.session.scalars(mine(person)))


# --- the doors: look up, authorise, act (API and pages call these) -----------------------------

REASON_MESSAGE = "请填写退回原因（至少 2 个字）"


def report_by(actor: Actor, community_id: int, *, work_unit: str, offer: str | None = None,
              year: int | None = None) -> DoubleReport:
    """The person reports to the community `community_id` (404 when there is none)."""
    community = db.session.get(Org, community_id)
    if community is None:
        raise NotFound("找不到该社区", fields={"community_id": ["找不到该社区"]})
    return report(actor.person, community, work_unit=work_unit, offer=offer, year=year)


def reports_to(actor: Actor | None, org_id: int, year: int | None = None,
               status: str | None = None) -> tuple[Org, sa.Select]:
    """An org and the reports to its communities, for its staff and the staff above (404 / 403)."""
    org = db.session.get(Org, org_id)
    authorize(actor, "org.members.view", org)
    return org, reports_for(org, year, status)


def report_for(actor: Actor | None, report_id: int, action: str = "double_report.view") -> DoubleReport:
    """A report its member or the community's staff may see, if the person may `action` it."""
    return load_authorized(actor, DoubleReport, report_id, action)


def may_decide(actor: Actor | None, record: DoubleReport) -> bool:
    """Whether the person confirms or rejects this report (the community's organisers)."""
    return can(actor, "double_report.decide", record)


def confirm_by(actor: Actor, report_id: int) -> DoubleReport:
    """The community's organisers confirm a pending report."""
    record = report_for(actor, report_id, "double_report.decide")
    confirm(record, actor.person)
    return record


def reject_by(actor: Actor, report_id: int, reason: str | None) -> DoubleReport:
    """The community's organisers turn a pending report down, saying why (2–200 characters)."""
    record = report_for(actor, report_id, "double_report.decide")
    reason = (reason or "").strip()
    if not 2 <= len(reason) <= 200:
        raise Invalid(REASON_MESSAGE, fields={"reason": [REASON_MESSAGE]})
    reject(record, actor.person, reason)
    return record
