"""Double reporting (双报到): report once a year, the community confirms, and the member
then serves there as a volunteer."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from backend.core.errors import Conflict, Forbidden, Invalid
from backend.core.timeutil import local_zone
from backend.double_reports.models import DoubleReport, ReportStatus
from backend.extensions import db, utcnow
from backend.orgs.models import Org, OrgKind
from backend.people.models import Membership, Person, Role

S = ReportStatus


def this_year() -> int:
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


def reject(record: DoubleReport, decider: Person, reason: str) -> None:
    """Not accepted (e.g. not living here); the member may report again, elsewhere or corrected."""
    _decide(record, decider, S.rejected, reason)


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


def reports_of(person: Person) -> list[DoubleReport]:
    return list(db.session.scalars(sa.select(DoubleReport).where(DoubleReport.person_id == person.id)
                                   .order_by(DoubleReport.year.desc(), DoubleReport.id.desc())))
