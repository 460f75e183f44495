"""Running figures of micro-services for the star rating — deliveries, and the residents'
ratings — kept per org and (local) year in the transaction of every change, so that a write
costs the same whatever the history.

A service booking's share is made from its delivery and rating times, its rating, and its
slot's org and start (a delivery marked before the service began is not one): it is added to
`ServiceFigures` and remembered on the row (`ServiceBooking.tallied`), so the next change takes
out exactly what was added. None of it moves with time alone. Changes are seen on the three
rows that make it — a service booking, its booking (the rating), its slot (org, start) — at
each flush and in UPDATEs by statement that set those columns; shares are settled before the
commit and before any read. The nightly check counts them again (`recount`).
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.bookings.models import Booking, Slot
from backend.core.db import add_to, hook_sessions, session_flag
from backend.core.timeutil import local_zone
from backend.extensions import db
from backend.orgs.models import Org
from backend.orgs.subtrees import Subtrees
from backend.services.models import ServiceBooking, ServiceFigures, ServiceSlot

_PENDING = "service_figures_pending"
_SETTLING = "service_figures_settling"
COUNTERS = ("delivered", "ratings", "rating_sum")
#: Per watched class: the attributes that make a share, and how its rows reach service bookings.
_WATCHED = {ServiceBooking: frozenset({"delivered_at", "rated_at", "booking_id"}),
            Booking: frozenset({"rating", "slot_id"}), Slot: frozenset({"starts_at", "org_id"})}
_COLUMNS = (ServiceBooking.id, ServiceBooking.delivered_at, ServiceBooking.rated_at, Booking.rating, Slot.org_id,
            Slot.starts_at, ServiceSlot.id.label("service_slot_id"), ServiceBooking.tallied)


def _year(moment: datetime) -> int:
    return moment.astimezone(local_zone()).year


@dataclass(frozen=True)
class Share:
    """What one service booking adds: a delivery in a year, a rating in a year."""

    org_id: int
    delivered_in: int | None
    rated_in: int | None
    rating: int

    def encode(self) -> str:
        return ":".join("" if v is None else str(v) for v in astuple(self))

    @classmethod
    def decode(cls, text: str | None) -> Share | None:
        if not text:
            return None
        return cls(*(int(v) if v else None for v in text.split(":")))


def share_of(row) -> Share | None:
    """A delivery counts from the start of the service's time, never before: neither a delivery
    marked early nor its rating counts."""
    if row.delivered_at is None or row.delivered_at < row.starts_at:
        return None
    delivered_in = _year(row.delivered_at) if row.service_slot_id is not None else None
    rated = row.rated_at is not None and row.rating is not None
    if delivered_in is None and not rated:
        return None
    return Share(row.org_id, delivered_in, _year(row.rated_at) if rated else None, row.rating if rated else 0)


def _moves(share: Share | None, sign: int, into: dict) -> None:
    if share is None:
        return
    if share.delivered_in is not None:
        into.setdefault((share.org_id, share.delivered_in), dict.fromkeys(COUNTERS, 0))["delivered"] += sign
    if share.rated_in is not None:
        row = into.setdefault((share.org_id, share.rated_in), dict.fromkeys(COUNTERS, 0))
        row["ratings"] += sign
        row["rating_sum"] += sign * share.rating


def _move(old: Share | None, new: Share | None) -> None:
    changes: dict = {}
    _moves(old, -1, changes)
    _moves(new, +1, changes)
    _apply(changes)


def _apply(changes: dict) -> None:
    """Move the running rows, in key order (two transactions never wait on each other in a circle)."""
    for (org_id, year), values in sorted(changes.items()):
        values = {k: n for k, n in values.items() if n}
        if values:
            add_to(ServiceFigures, {"org_id": org_id, "year": year}, values)


def _rows(where) -> sa.Select:
    return (sa.select(*_COLUMNS).join(Booking, Booking.id == ServiceBooking.booking_id)
            .join(Slot, Slot.id == Booking.slot_id).outerjoin(ServiceSlot, ServiceSlot.slot_id == Slot.id)
            .where(where))


def settle(session: Session | None = None) -> None:
    """Move the running figures by what changed since the last settling."""
    session = session if session is not None else db.session
    if session.info.get(_SETTLING):
        return
    with session_flag(session, _SETTLING):
        while pending := session.info.pop(_PENDING, None):
            touched = sa.or_(*[column.in_(sorted(ids)) for column, ids in (
                (ServiceBooking.id, pending.get(ServiceBooking)), (Booking.id, pending.get(Booking)),
                (Booking.slot_id, pending.get(Slot))) if ids])
            changes: dict = {}
            for row in db.session.execute(_rows(touched)).all():
                share = share_of(row)
                tallied = share.encode() if share else None
                if tallied != row.tallied:
                    _moves(Share.decode(row.tallied), -1, changes)
                    _moves(share, +1, changes)
                    _mark(row.id, tallied)
            _apply(changes)


def _mark(record_id: int, tallied: str | None) -> None:
    table = ServiceBooking.__table__
    db.session.execute(sa.update(table).where(table.c.id == record_id).values(tallied=tallied))


def _note(session: Session, kind: type, ids) -> None:
    if ids:
        session.info.setdefault(_PENDING, {}).setdefault(kind, set()).update(ids)


def _touched(obj, names: frozenset[str]) -> bool:
    state = sa.inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


def _after_flush(session: Session, flush_context) -> None:
    # A new booking or slot has no service booking yet (one made with it is new itself, and
    # one moved onto it changes a watched key): a sign-up costs no look-up.
    new = session.new
    for obj in new:
        if isinstance(obj, ServiceBooking):
            _note(session, ServiceBooking, [obj.id])
    for obj in session.dirty:
        names = _WATCHED.get(type(obj))
        if names is not None and _touched(obj, names):
            _note(session, type(obj), [obj.id])


def _before_flush(session: Session, flush_context, instances) -> None:
    """A service booking deleted through the session takes its share with it."""
    gone = [obj.id for obj in session.deleted if isinstance(obj, ServiceBooking)]
    if gone:
        _forget(session, ServiceBooking.id.in_(gone))


def _forget(session: Session, where) -> None:
    with session_flag(session, _SETTLING):
        for tallied in session.scalars(sa.select(ServiceBooking.tallied).where(where)):
            _move(Share.decode(tallied), None)


def _sets_any(statement, names: frozenset[str]) -> bool:
    """Whether an UPDATE may set one of `names` (when its values cannot be told, it may)."""
    values = getattr(statement, "_values", None)
    return not values or bool({getattr(k, "key", k) for k in values} & names)


def _on_execute(state) -> None:
    """UPDATEs and DELETEs by statement bypass the flush: the rows they touch are read with the
    statement's own WHERE clause just before it runs — only for UPDATEs that set a column a
    share is made from (a sign-up moving a slot's seat count reads nothing)."""
    kind = state.bind_mapper.class_ if state.bind_mapper is not None else None
    names = _WATCHED.get(kind)
    if names is None or not (state.is_update or state.is_delete) or state.session.info.get(_SETTLING):
        return
    key = sa.inspect(kind).primary_key[0]
    where = state.statement.whereclause
    if where is None and isinstance(state.parameters, list):   # bulk UPDATE by primary key
        where = key.in_([p[key.key] for p in state.parameters])
    where = where if where is not None else sa.true()
    if state.is_delete:
        if kind is ServiceBooking:
            _forget(state.session, where)
        return
    if not _sets_any(state.statement, names) and not isinstance(state.parameters, list):
        return
    with session_flag(state.session, _SETTLING):
        _note(state.session, kind, state.session.scalars(sa.select(key).where(where)).all())


def _before_commit(session: Session) -> None:
    session.flush()
    settle(session)


def install() -> None:
    """Hook the sessions (once per process)."""
    hook_sessions(before_flush=_before_flush, after_flush=_after_flush, do_orm_execute=_on_execute,
                  before_commit=_before_commit)


# --- reading them --------------------------------------------------------------------------------

#: Built once: every write a live campaign watches runs it.
_TOTALS = (sa.select(ServiceFigures.org_id, *[sa.func.sum(getattr(ServiceFigures, c)) for c in COUNTERS])
           .where(ServiceFigures.org_id.in_(sa.bindparam("orgs", expanding=True)),
                  ServiceFigures.year == sa.bindparam("year"))
           .group_by(ServiceFigures.org_id))


def read(orgs: list[Org], year: int, trees: Subtrees | None = None) -> dict[int, dict]:
    """Deliveries and ratings of `year` for each org's subtree, one query for all the orgs
    (`trees`: their subtrees, when already read): {"delivered", "ratings", "mean_rating"}."""
    settle()
    trees = trees or Subtrees(orgs)
    totals = trees.add_up(db.session.execute(_TOTALS, {"orgs": trees.ids, "year": year}), COUNTERS)
    return {org_id: {"delivered": t["delivered"], "ratings": t["ratings"],
                     "mean_rating": round(t["rating_sum"] / t["ratings"], 2) if t["ratings"] else None}
            for org_id, t in totals.items()}


# --- the nightly check ----------------------------------------------------------------------------

def recount(org: Org | None = None) -> list[tuple[str, object, object]]:
    """Count the running figures of `org`'s subtree (of every org when None) again from the
    service bookings and repair what differs; what differed, as (what, stored, counted)."""
    settle()
    orgs = sa.select(Org.id).where(Org.path.startswith(org.path)) if org is not None else sa.select(Org.id)
    counted, marks, found = _recount(orgs)
    if found:
        _rewrite(orgs, counted, marks)
    return [what for _, what in found]


def recount_many(orgs: list[Org], trees: Subtrees | None = None) -> list[list[tuple[str, object, object]]]:
    """`recount` of each of `orgs` in turn, in the same few statements for all of them, as
    `backend.wishes.figures.recount_many` does for the wish figures."""
    settle()
    trees = trees or Subtrees(orgs)
    counted, marks, found = _recount(trees.ids)
    answers, within = trees.share_out(orgs, found)
    if within:
        kept = set(within)
        _rewrite(within, {k: v for k, v in counted.items() if k[0] in kept},
                 [mark for mark in marks if mark[2] in kept])
    return answers


def _recount(orgs) -> tuple[dict, list, list[tuple[int, tuple[str, object, object]]]]:
    """The figures of the service bookings of `orgs` (ids, or a statement giving them) counted
    again: (counted, bookings to mark (id, tallied, org), and the differences as
    (org, (what, stored, counted)) in the order `recount` answers them)."""
    counted: dict = {}
    marks = []
    for row in db.session.execute(_rows(Slot.org_id.in_(orgs)).order_by(ServiceBooking.id)).all():
        share = share_of(row)
        _moves(share, +1, counted)
        if (share.encode() if share else None) != row.tallied:
            marks.append((row.id, share.encode() if share else None, row.org_id))
    stored = {(r.org_id, r.year): {c: getattr(r, c) for c in COUNTERS}
              for r in db.session.scalars(sa.select(ServiceFigures).where(ServiceFigures.org_id.in_(orgs)))}
    zero = dict.fromkeys(COUNTERS, 0)
    found = [(o, (f"service_figures.{o}.{y}", stored.get((o, y), zero), counted.get((o, y), zero)))
             for o, y in sorted(set(stored) | set(counted)) if stored.get((o, y), zero) != counted.get((o, y), zero)]
    found += [(org_id, (f"service_bookings.{record_id}.tallied", None, tallied))
              for record_id, tallied, org_id in marks]
    return counted, marks, found


def _rewrite(orgs, counted: dict, marks: list) -> None:
    db.session.execute(sa.delete(ServiceFigures).where(ServiceFigures.org_id.in_(orgs)))
    if counted:
        db.session.execute(sa.insert(ServiceFigures), [{"org_id": o, "year": y, **v} for (o, y), v in counted.items()])
    with session_flag(db.session, _SETTLING):
        for record_id, tallied, _ in marks:
            _mark(record_id, tallied)
