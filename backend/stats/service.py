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
from backend.orgs.subtrees import Subtrees
from backend.people.models import Membership, Person, Role
from backend.services.models import ServiceBooking, ServiceSlot
from backend.teams.models import Team
from backend.wishes.models import Wish, WishStatus


def _ratio(part: float, whole: float, digits: int = 4) -> float | None:
    return round(part / whole, digits) if whole else None


def _subtree_ids(org: Org) -> sa.Select:
    return sa.select(Org.id).where(Org.path.startswith(org.path))


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


def _count(select: sa.Select) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(select.subquery())))


def service_figures_of(trees: Subtrees, start: datetime, end: datetime) -> dict[int, dict]:
    """Micro-services each org's subtree delivered in the period, and the residents' ratings
    given in it (how many, their mean), counted from every booking, two statements for all
    the orgs: {org id: {"delivered", "ratings", "mean_rating"}}. The star rating's live scores
    read the same from running totals (`backend.services.figures`); the nightly check compares
    the two."""
    # A delivery marked before its time began (the rule now refuses it) is not one: neither it
    # nor its rating counts.
    in_time = ServiceBooking.delivered_at >= Slot.starts_at
    delivered = trees.add_up(db.session.execute(
        sa.select(Slot.org_id, sa.func.count(ServiceBooking.id)).join(Booking, Booking.slot_id == Slot.id)
        .join(ServiceSlot, ServiceSlot.slot_id == Booking.slot_id)
        .join(ServiceBooking, ServiceBooking.booking_id == Booking.id)
        .where(Slot.org_id.in_(trees.ids), in_time, ServiceBooking.delivered_at >= start,
               ServiceBooking.delivered_at < end).group_by(Slot.org_id)), ("delivered",))
    rated = trees.add_up(db.session.execute(
        sa.select(Slot.org_id, sa.func.count(Booking.rating), sa.func.sum(Booking.rating))
        .join(Booking, Booking.slot_id == Slot.id).join(ServiceBooking, ServiceBooking.booking_id == Booking.id)
        .where(Slot.org_id.in_(trees.ids), ServiceBooking.rated_at >= start, ServiceBooking.rated_at < end,
               Booking.rating.is_not(None), in_time).group_by(Slot.org_id)), ("ratings", "total"))
    return {org_id: {"delivered": delivered[org_id]["delivered"], "ratings": (n := rated[org_id]["ratings"]),
                     "mean_rating": round(rated[org_id]["total"] / n, 2) if n else None} for org_id in trees.orgs}


def service_figures(org: Org, start: datetime, end: datetime) -> dict:
    """`service_figures_of` one org."""
    return service_figures_of(Subtrees([org]), start, end)[org.id]


def activity_figures_of(trees: Subtrees, start: datetime, end: datetime, now: datetime | None = None
                        ) -> dict[int, dict]:
    """Activities of each org's subtree held in the period (ended, someone attended), and
    those co-organised with a unit in the area; one statement for all the orgs."""
    now = now or utcnow()
    attended = sa.select(Booking.id).where(Booking.slot_id == Slot.id, Booking.status == BookingStatus.attended.value)
    return trees.add_up(db.session.execute(
        sa.select(Activity.org_id, sa.func.count(Activity.id), sa.func.count(Activity.partner_unit_id))
        .join(Slot, Slot.id == Activity.slot_id)
        .where(Activity.org_id.in_(trees.ids), Slot.ends_at >= start, Slot.ends_at < end, Slot.ends_at <= now,
               attended.exists()).group_by(Activity.org_id)), ("activities_held", "co_organised_activities"))


def double_report_figures_of(trees: Subtrees, years: range) -> dict[int, dict]:
    """In-service party members who belong to each org's subtree — living there (home
    community), holding a party-member role there, or having reported there in the period's
    years — and those who reported to it; two statements for all the orgs."""
    serving = (Person.is_party_member.is_(True), Person.is_in_service.is_(True))
    by_home = sa.select(Person.home_community_id, Person.id).where(Person.home_community_id.in_(trees.ids), *serving)
    by_role = (sa.select(Membership.org_id, Membership.person_id).join(Person, Person.id == Membership.person_id)
               .where(Membership.org_id.in_(trees.ids), Membership.role == Role.party_member.value, *serving))
    reported = sa.select(DoubleReport.community_id, DoubleReport.person_id).where(
        DoubleReport.community_id.in_(trees.ids), DoubleReport.year.in_(list(years)),
        DoubleReport.status != ReportStatus.rejected.value)
    in_service = trees.distinct(db.session.execute(sa.union(by_home, by_role, reported)))
    confirmed = trees.distinct(db.session.execute(sa.select(DoubleReport.community_id, DoubleReport.person_id).where(
        DoubleReport.community_id.in_(trees.ids), DoubleReport.year.in_(list(years)),
        DoubleReport.status == ReportStatus.confirmed.value).distinct()))
    return {org_id: {"in_service_party_members": in_service[org_id], "double_reported": confirmed[org_id],
                     "double_report_share": _ratio(confirmed[org_id], in_service[org_id])}
            for org_id in trees.orgs}


def team_figures_of(trees: Subtrees) -> dict[int, dict]:
    """Active teams, communities and grids of each org's subtree, and the grids with a leader
    and an active team; two statements for all the orgs."""
    grid = Org.kind == OrgKind.grid.value
    staffed = sa.and_(grid, sa.exists().where(Membership.org_id == Org.id, Membership.role == Role.grid_leader.value),
                      sa.exists().where(Team.grid_id == Org.id, Team.is_active.is_(True)))
    tests = (Org.kind == OrgKind.community.value, grid, staffed)
    kinds = trees.add_up(db.session.execute(
        sa.select(Org.id, *[sa.case((test, 1), else_=0) for test in tests]).where(Org.id.in_(trees.ids))),
        ("communities", "grids", "grids_staffed"))
    teams = trees.add_up(db.session.execute(
        sa.select(Team.org_id, sa.func.count(Team.id)).where(Team.org_id.in_(trees.ids), Team.is_active.is_(True))
        .group_by(Team.org_id)), ("teams",))
    return {org_id: {"communities": kinds[org_id]["communities"], "teams": teams[org_id]["teams"],
                     "teams_per_community": _ratio(teams[org_id]["teams"], kinds[org_id]["communities"], 2),
                     "grids": kinds[org_id]["grids"], "grids_staffed": kinds[org_id]["grids_staffed"]}
            for org_id in trees.orgs}


def micro_stats(org: Org, start: datetime, end: datetime, now: datetime | None = None) -> dict:
    """The numbers the star rating reads from micro-power and micro-services (each metric
    reads only its own part: the functions above)."""
    years = years_of(start, end)
    party = _party_member_ids(org, years)
    party_count = _count(party)
    minutes = _minutes_given(org, start, end)
    party_minutes = _minutes_given(org, start, end, person_filter=party)
    trees = Subtrees([org])
    services = service_figures_of(trees, start, end)[org.id]
    return {
        "org_id": org.id,
        "from": start,
        "to": end,
        **activity_figures_of(trees, start, end, now)[org.id],
        "volunteer_hours": round(minutes / 60, 2),
        "party_members": party_count,
        "party_member_hours": round(party_minutes / 60, 2),
        "hours_per_party_member": _ratio(party_minutes / 60, party_count, 2),
        **double_report_figures_of(trees, years)[org.id],
        **team_figures_of(trees)[org.id],
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
    return [row | {"name": row["name"] if row["person_id"] == actor.person_id else mask_name(row["name"])}
            for row in rows]


def leaderboard_for(actor: Actor | None, org_id: int, start: datetime, end: datetime, *, by: str = "hours",
                    limit: int = 20) -> tuple[Org, list[dict]]:
    """An org the person sees and its leaderboard, names masked as names_for_viewer says."""
    org = org_for(actor, org_id)
    return org, names_for_viewer(actor, org, leaderboard(org, start, end, by=by, limit=limit))
