"""Micro-power and micro-service figures for the star rating, and the community leaderboard.

Every figure is for an org's subtree (grid, community or street) and a period [start, end).
Hours come from the ledger (what was actually credited), never from sign-ups."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from backend.activities.models import Activity
from backend.bookings.models import Booking, BookingStatus, Slot
from backend.core.errors import Forbidden
from backend.core.periods import years_of
from backend.core.permissions import Actor
from backend.core.privacy import mask_name
from backend.double_reports.models import DoubleReport, ReportStatus
from backend.extensions import db, utcnow
from backend.hours.models import AccountKind, HoursEntry, Unit
from backend.orgs.models import Org, OrgKind
from backend.orgs.service import org_for
from backend.people.models import Membership, Person, Role
from backend.services.models import ServiceBooking, ServiceSlot
from backend.teams.models import Team
from backend.wishes.models import Wish, WishStatus


def _ratio(part: float, whole: float, digits: int = 4) -> float | None:
    return round(part / whole, digits) if whole else None


def _subtree_ids(org: Org) -> sa.Select:
    return sa.select(Org.id).where(Org.path.startswith(org.path))


def activities_held(org: Org, start: datetime, end: datetime, now: datetime | None = None) -> sa.Select:
    """Activities of the subtree that ended in the period with at least one person attending."""
    now = now or utcnow()
    attended = sa.select(Booking.id).where(Booking.slot_id == Slot.id, Booking.status == BookingStatus.attended.value)
    return (sa.select(Activity).join(Slot, Slot.id == Activity.slot_id)
            .where(Activity.org_id.in_(_subtree_ids(org)), Slot.ends_at >= start, Slot.ends_at < end,
                   Slot.ends_at <= now, attended.exists()))


def _minutes_given(org: Org, start: datetime, end: datetime, person_filter=None) -> int:
    """Volunteer minutes the subtree's orgs credited in the period (their ledger debits)."""
    stmt = sa.select(sa.func.coalesce(sa.func.sum(-HoursEntry.amount), 0)).where(
        HoursEntry.account_kind == AccountKind.org.value, HoursEntry.account_id.in_(_subtree_ids(org)),
        HoursEntry.unit == Unit.minutes.value, HoursEntry.created_at >= start, HoursEntry.created_at < end)
    if person_filter is not None:
        credited = aliased(HoursEntry)
        stmt = stmt.where(sa.exists().where(
            credited.txn_id == HoursEntry.txn_id, credited.account_kind == AccountKind.person.value,
            credited.account_id.in_(person_filter)))
    return int(db.session.scalar(stmt))


def _party_member_ids(org: Org, years: range) -> sa.Select:
    """Party members of the subtree: party-member roles there, and confirmed double reports to it."""
    by_role = sa.select(Membership.person_id).where(
        Membership.role == Role.party_member.value, Membership.org_id.in_(_subtree_ids(org)))
    by_report = sa.select(DoubleReport.person_id).where(
        DoubleReport.community_id.in_(_subtree_ids(org)), DoubleReport.year.in_(list(years)),
        DoubleReport.status == ReportStatus.confirmed.value)
    return sa.union(by_role, by_report)


def _in_service_ids(org: Org, years: range) -> sa.Select:
    """In-service party members who belong here: living here (home community), holding a
    party-member role here, or having reported here in the period's years."""
    subtree = _subtree_ids(org)
    known = sa.select(Person.id).where(Person.is_party_member.is_(True), Person.is_in_service.is_(True), sa.or_(
        Person.home_community_id.in_(subtree),
        sa.exists().where(Membership.person_id == Person.id, Membership.role == Role.party_member.value,
                          Membership.org_id.in_(subtree))))
    reported = sa.select(DoubleReport.person_id).where(
        DoubleReport.community_id.in_(subtree), DoubleReport.year.in_(list(years)),
        DoubleReport.status != ReportStatus.rejected.value)
    return sa.union(known, reported)


def _count(select: sa.Select) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(select.subquery())))


def service_figures(org: Org, start: datetime, end: datetime) -> dict:
    """Micro-services the subtree delivered in the period, and the residents' ratings given in
    it (how many, their mean), counted from every booking: {"delivered", "ratings",
    "mean_rating"}. The star rating's live scores read the same from running totals
    (`backend.services.figures`); the nightly check compares the two."""
    # A delivery marked before its time began (the rule now refuses it) is not one: neither it
    # nor its rating counts.
    in_time = ServiceBooking.delivered_at >= Slot.starts_at
    delivered = _count(sa.select(ServiceBooking.id).join(Booking, Booking.id == ServiceBooking.booking_id)
                       .join(ServiceSlot, ServiceSlot.slot_id == Booking.slot_id)
                       .join(Slot, Slot.id == Booking.slot_id)
                       .where(Slot.org_id.in_(_subtree_ids(org)), in_time, ServiceBooking.delivered_at >= start,
                              ServiceBooking.delivered_at < end))
    n, total = db.session.execute(
        sa.select(sa.func.count(Booking.rating), sa.func.sum(Booking.rating))
        .join(ServiceBooking, ServiceBooking.booking_id == Booking.id).join(Slot, Slot.id == Booking.slot_id)
        .where(Slot.org_id.in_(_subtree_ids(org)), ServiceBooking.rated_at >= start, ServiceBooking.rated_at < end,
               Booking.rating.is_not(None), in_time)).one()
    return {"delivered": delivered, "ratings": int(n), "mean_rating": round(int(total) / n, 2) if n else None}


def activity_figures(org: Org, start: datetime, end: datetime, now: datetime | None = None) -> dict:
    """Activities of the subtree held in the period (ended, someone attended), and those
    co-organised with a unit in the area."""
    held = activities_held(org, start, end, now)
    return {"activities_held": _count(held),
            "co_organised_activities": _count(held.where(Activity.partner_unit_id.is_not(None)))}


def double_report_figures(org: Org, years: range) -> dict:
    """In-service party members who belong to the subtree, and those who reported to it."""
    in_service = _count(_in_service_ids(org, years))
    reported = _count(sa.select(DoubleReport.person_id).where(
        DoubleReport.community_id.in_(_subtree_ids(org)), DoubleReport.year.in_(list(years)),
        DoubleReport.status == ReportStatus.confirmed.value).distinct())
    return {"in_service_party_members": in_service, "double_reported": reported,
            "double_report_share": _ratio(reported, in_service)}


def team_figures(org: Org) -> dict:
    """Active teams, communities and grids of the subtree, and the grids with a leader and an
    active team."""
    communities = _count(sa.select(Org.id).where(Org.path.startswith(org.path),
                                                 Org.kind == OrgKind.community.value))
    teams = _count(sa.select(Team.id).where(Team.org_id.in_(_subtree_ids(org)), Team.is_active.is_(True)))
    grids = sa.select(Org.id).where(Org.path.startswith(org.path), Org.kind == OrgKind.grid.value)
    staffed = _count(grids.where(
        sa.exists().where(Membership.org_id == Org.id, Membership.role == Role.grid_leader.value),
        sa.exists().where(Team.grid_id == Org.id, Team.is_active.is_(True))))
    return {"communities": communities, "teams": teams, "teams_per_community": _ratio(teams, communities, 2),
            "grids": _count(grids), "grids_staffed": staffed}


def micro_stats(org: Org, start: datetime, end: datetime, now: datetime | None = None) -> dict:
    """The numbers the star rating reads from micro-power and micro-services (each metric
    reads only its own part: the functions above)."""
    years = years_of(start, end)
    party = _party_member_ids(org, years)
    party_count = _count(party)
    minutes = _minutes_given(org, start, end)
    party_minutes = _minutes_given(org, start, end, person_filter=party)
    services = service_figures(org, start, end)
    return {
        "org_id": org.id,
        "from": start,
        "to": end,
        **activity_figures(org, start, end, now),
        "volunteer_hours": round(minutes / 60, 2),
        "party_members": party_count,
        "party_member_hours": round(party_minutes / 60, 2),
        "hours_per_party_member": _ratio(party_minutes / 60, party_count, 2),
        **double_report_figures(org, years),
        **team_figures(org),
        "service_bookings_delivered": services["delivered"],
        "service_ratings": services["ratings"],
        "mean_service_rating": services["mean_rating"],
    }


def leaderboard(org: Org, start: datetime, end: datetime, *, by: str = "hours", limit: int = 20) -> list[dict]:
    """People ranked by volunteer hours credited in `org`'s subtree or by the wishes there
    they fulfilled (fulfilled or confirmed, not merely claimed), with the other figure beside."""
    subtree = _subtree_ids(org)
    org_side = aliased(HoursEntry)
    minutes = (sa.select(HoursEntry.account_id.label("person_id"), sa.func.sum(HoursEntry.amount).label("minutes"))
               .join(org_side, sa.and_(org_side.txn_id == HoursEntry.txn_id,
                                       org_side.account_kind == AccountKind.org.value))
               .where(HoursEntry.account_kind == AccountKind.person.value, HoursEntry.unit == Unit.minutes.value,
                      org_side.unit == Unit.minutes.value, org_side.account_id.in_(subtree),
                      HoursEntry.created_at >= start, HoursEntry.created_at < end)
               .group_by(HoursEntry.account_id).subquery())
    wishes = (sa.select(Wish.claimant_id.label("person_id"), sa.func.count().label("wishes"))
              .where(Wish.community_id.in_(subtree), Wish.claimant_id.is_not(None),
                     Wish.status.in_([WishStatus.fulfilled.value, WishStatus.confirmed.value]),
                     Wish.fulfilled_at >= start, Wish.fulfilled_at < end)
              .group_by(Wish.claimant_id).subquery())
    hours_col = sa.func.coalesce(minutes.c.minutes, 0)
    wishes_col = sa.func.coalesce(wishes.c.wishes, 0)
    order = (wishes_col.desc(), hours_col.desc()) if by == "wishes" else (hours_col.desc(), wishes_col.desc())
    rows = db.session.execute(
        sa.select(Person.id, Person.name, hours_col, wishes_col)
        .outerjoin(minutes, minutes.c.person_id == Person.id)
        .outerjoin(wishes, wishes.c.person_id == Person.id)
        .where(sa.or_(minutes.c.minutes > 0, wishes.c.wishes > 0))
        .order_by(*order, Person.id).limit(limit)).all()
    board, rank, previous = [], 0, None
    for position, (person_id, name, mins, count) in enumerate(rows, start=1):
        key = (count, mins) if by == "wishes" else (mins, count)
        if key != previous:  # equal figures share a rank (1, 2, 2, 4)
            rank, previous = position, key
        board.append({"rank": rank, "person_id": person_id, "name": name, "hours": round(int(mins) / 60, 1),
                      "fulfilled_wishes": int(count)})
    return board


# --- the doors: look up, authorise (API and pages call these) -----------------------------------

def figures_org(actor: Actor | None, org_id: int) -> Org:
    """The org whose figures (micro-stats, wish statistics) are asked for: for its staff and
    the staff above it (404 outside the person's organisations, 403 for others)."""
    org = org_for(actor, org_id)
    if not actor.is_staff_over(org):
        raise Forbidden()
    return org


def micro_stats_for(actor: Actor | None, org_id: int, start: datetime, end: datetime) -> dict:
    """micro_stats of an org, for its staff."""
    return micro_stats(figures_org(actor, org_id), start, end)


def names_for_viewer(actor: Actor, org: Org, rows: list[dict]) -> list[dict]:
    """Leaderboard names as the viewer may see them: in full for the org's staff, otherwise
    only their own (the rest 张**)."""
    if actor.is_staff_over(org):
        return rows
    return [row | {"name": row["name"] if row["person_id"] == actor.person.id else mask_name(row["name"])}
            for row in rows]


def leaderboard_for(actor: Actor | None, org_id: int, start: datetime, end: datetime, *, by: str = "hours",
                    limit: int = 20) -> tuple[Org, list[dict]]:
    """An org the person sees and its leaderboard, names masked as names_for_viewer says."""
    org = org_for(actor, org_id)
    return org, names_for_viewer(actor, org, leaderboard(org, start, end, by=by, limit=limit))
