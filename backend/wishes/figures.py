"""Running figures of micro-wishes for the star rating, kept per grid and (local) year in the
transaction of every change to a wish, so that a write costs the same in year three as on
day one.

A wish's figures are of two kinds. Its settled share never changes with time alone: counted
or not, rejected, confirmed (by the resident or by the rule), its rating, the time to its
first claim once claimed, whether it was done by its due time once fulfilled or rejected.
That share is added to `WishFigures` and `WishClaimTime` and remembered on the row
(`Wish.tallied`), so the next change to the wish takes out exactly what was added before it
adds the new share: a stale read, a raw UPDATE or a change seen twice cannot count twice.
The rest moves with the clock — a wish waiting for review, a claim or fulfilment falls
overdue, its waiting hours grow: such wishes carry `figures_open` and are read live. They
are the community's current workload (and rejections the street has not ruled on), bounded
by it, not by the years behind it.

Every change reaches here: new and changed Wish rows at each flush, and the UPDATEs and
DELETEs of wishes by statement (how states move), read with the statement's own WHERE clause
just before it runs. Shares are settled before the commit, and before any read. The nightly
check counts everything again from the wishes (`recount`) and repairs what differs.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import astuple, dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from backend.core.db import add_to, hook_sessions, session_flag
from backend.core.timeutil import local_zone
from backend.extensions import UTCDateTime, db
from backend.orgs.models import Org
from backend.orgs.subtrees import Subtrees
from backend.wishes.models import Wish, WishClaimTime, WishFigures, WishStatus

S = WishStatus
_NOT_REJECTED = [status.value for status in S if status != S.rejected]
_PENDING = "wish_figures_pending"
_SETTLING = "wish_figures_settling"

#: The resolution of the time to claim: a tenth of an hour (6 minutes), rounded down. The
#: median is taken over values at this resolution by both the running figures and the full
#: recompute, so the two agree exactly and the histogram has at most ten rows per hour.
TENTH = timedelta(minutes=6)
#: What a confirmation by the rule (nobody asked the resident) is worth against one the
#: resident gave: half.
AUTO_CONFIRMED_CREDIT = 0.5
COUNTERS = ("counted", "rejected", "confirmed", "auto_confirmed", "ratings", "rating_sum", "decided", "on_time")
#: The columns the figures of a wish are made from.
_COLUMNS = (Wish.id, Wish.grid_id, Wish.status, Wish.created_at, Wish.first_claimed_at, Wish.fulfilled_at,
            Wish.due_at, Wish.rating, Wish.auto_confirmed, Wish.rejection_upheld_at)


# --- the rules, one form for the running figures and the full recompute -----------------------

def is_counted(wish) -> bool:
    """Every wish counts but those the resident withdrew and rejections the street upheld."""
    return wish.status != S.cancelled and wish.rejection_upheld_at is None


def _tenths(span: timedelta) -> int:
    return span // TENTH


def claim_tenths(wish, now: datetime, review: timedelta) -> int | None:
    """Tenths of an hour from submission to the first claim. A wish nobody claimed — still
    waiting, or rejected without the street upholding it — counts with the time it has waited
    so far once the review window has passed (before that it is not counted yet), so leaving a
    wish unreviewed or unclaimed, or turning it down, never makes the median look faster."""
    if wish.first_claimed_at is not None:
        return _tenths(wish.first_claimed_at - wish.created_at)
    if now > wish.created_at + review:
        return _tenths(now - wish.created_at)
    return None


def on_time(wish, now: datetime, review_hours: int) -> bool | None:
    """Whether the wish was done by its due time; None while that is still open. A rejection
    the street has not upheld is a wish not done."""
    if wish.status == S.rejected:
        return False
    if wish.fulfilled_at is not None:
        return wish.fulfilled_at <= wish.due_at
    return False if Wish.is_late(wish, now, review_hours) else None


def median_hours(histogram: dict[int, int]) -> float | None:
    """The median of tenths-of-an-hour values given as value → how many, in hours."""
    total = sum(histogram.values())
    if not total:
        return None
    middle, picked, seen = {(total - 1) // 2, total // 2}, [], 0
    for value in sorted(histogram):
        picked += [value for i in middle if seen <= i < seen + histogram[value]]
        seen += histogram[value]
    return round(statistics.median(picked) / 10, 2)


def year_of(moment: datetime) -> int:
    return moment.astimezone(local_zone()).year


@dataclass(frozen=True)
class Share:
    """What one wish adds to the running figures of its grid and year."""

    grid_id: int
    year: int
    counted: int
    rejected: int
    confirmed: int
    auto_confirmed: int
    ratings: int
    rating_sum: int
    decided: int
    on_time: int
    #: The time to its first claim, once claimed.
    tenths: int | None

    def encode(self) -> str:
        return ":".join("" if v is None else str(v) for v in astuple(self))

    @classmethod
    def decode(cls, text: str | None) -> Share | None:
        if not text:
            return None
        *numbers, tenths = text.split(":")
        return cls(*map(int, numbers), int(tenths) if tenths else None)


def share_of(wish) -> Share | None:
    """The settled share of a wish: what no longer changes with time alone (None: it counts for nothing)."""
    if not is_counted(wish):
        return None
    confirmed = wish.status == S.confirmed
    rated = confirmed and wish.rating is not None
    rejected = wish.status == S.rejected
    fulfilled = not rejected and wish.fulfilled_at is not None
    claimed = wish.first_claimed_at is not None
    return Share(wish.grid_id, year_of(wish.created_at), 1, int(rejected), int(confirmed),
                 int(confirmed and bool(wish.auto_confirmed)), int(rated), wish.rating if rated else 0,
                 int(rejected or fulfilled), int(fulfilled and wish.fulfilled_at <= wish.due_at),
                 _tenths(wish.first_claimed_at - wish.created_at) if claimed else None)


def is_open(wish) -> bool:
    """Whether some figure of the wish still moves with time alone: unclaimed (its waiting
    hours), waiting for review, or neither rejected nor fulfilled (it may fall overdue)."""
    return is_counted(wish) and (wish.first_claimed_at is None or wish.status == S.pending_review
                                 or (wish.status != S.rejected and wish.fulfilled_at is None))


# --- keeping them: each change moves them by the difference --------------------------------------

def _moves(old: Share | None, new: Share | None) -> tuple[Counter, Counter]:
    """(grid, year, counter) → change and (grid, year, tenths) → change, from `old` to `new`."""
    counters: Counter = Counter()
    claims: Counter = Counter()
    for share, sign in ((old, -1), (new, +1)):
        if share is None:
            continue
        for name in COUNTERS:
            counters[(share.grid_id, share.year, name)] += sign * getattr(share, name)
        if share.tenths is not None:
            claims[(share.grid_id, share.year, share.tenths)] += sign
    return counters, claims


def _move(old: Share | None, new: Share | None) -> None:
    _apply(*_moves(old, new))


def _apply(counters: Counter, claims: Counter) -> None:
    """Move the running rows, in key order (two transactions never wait on each other in a circle)."""
    by_row: dict[tuple[int, int], dict[str, int]] = {}
    for (grid_id, year, name), n in sorted(counters.items()):
        if n:
            by_row.setdefault((grid_id, year), {})[name] = n
    for (grid_id, year), values in by_row.items():
        add_to(WishFigures, {"grid_id": grid_id, "year": year}, values)
    for (grid_id, year, tenths), n in sorted(claims.items()):
        if n:
            add_to(WishClaimTime, {"grid_id": grid_id, "year": year, "tenths": tenths}, {"wishes": n})


def _mark(wish_id: int, tallied: str | None, figures_open: bool) -> None:
    db.session.execute(_MARK, {"wish": wish_id, "mark_tallied": tallied, "mark_open": figures_open})


#: The statements of `settle`, built once (every write of a wish runs them): the wishes to
#: settle, and the mark of what a wish adds to the figures (by the table: not a watched UPDATE).
_SETTLING_ROWS = sa.select(*_COLUMNS, Wish.tallied, Wish.figures_open).where(
    Wish.id.in_(sa.bindparam("wishes", expanding=True)))
_MARK = sa.update(Wish.__table__).where(Wish.__table__.c.id == sa.bindparam("wish")).values(
    tallied=sa.bindparam("mark_tallied"), figures_open=sa.bindparam("mark_open"))


def settle(session: Session | None = None) -> None:
    """Move the running figures by what the wishes changed since the last settling."""
    session = session if session is not None else db.session
    if session.info.get(_SETTLING):
        return
    with session_flag(session, _SETTLING):
        while ids := session.info.pop(_PENDING, None):
            rows = db.session.execute(_SETTLING_ROWS, {"wishes": sorted(ids)}).all()
            counters: Counter = Counter()
            claims: Counter = Counter()
            for row in rows:
                share = share_of(row)
                tallied, figures_open = share.encode() if share else None, is_open(row)
                if (tallied, figures_open) != (row.tallied, bool(row.figures_open)):
                    more, more_claims = _moves(Share.decode(row.tallied), share)
                    counters.update(more)
                    claims.update(more_claims)
                    _mark(row.id, tallied, figures_open)
            _apply(counters, claims)


def _note(session: Session, ids) -> None:
    session.info.setdefault(_PENDING, set()).update(ids)


#: Attributes a wish's figures are made from: a change elsewhere (contact erased, escalation) moves nothing.
_ATTRIBUTES = tuple(column.key for column in _COLUMNS)


def _touched(obj) -> bool:
    state = sa.inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in _ATTRIBUTES)


def _after_flush(session: Session, flush_context) -> None:
    new = session.new
    ids = {obj.id for obj in new if isinstance(obj, Wish)}
    ids |= {obj.id for obj in session.dirty if isinstance(obj, Wish) and _touched(obj)}
    if ids:
        _note(session, ids)


def _before_flush(session: Session, flush_context, instances) -> None:
    """A wish deleted through the session takes its share with it."""
    gone = [obj.id for obj in session.deleted if isinstance(obj, Wish)]
    if gone:
        _forget(session, Wish.id.in_(gone))


def _forget(session: Session, where) -> None:
    with session_flag(session, _SETTLING):
        for tallied in session.scalars(sa.select(Wish.tallied).where(where)):
            _move(Share.decode(tallied), None)


def _on_execute(state) -> None:
    """UPDATEs and DELETEs of wishes by statement bypass the flush: the wishes they touch are
    read with the statement's own WHERE clause just before it runs."""
    if (not (state.is_update or state.is_delete) or state.bind_mapper is None
            or state.bind_mapper.class_ is not Wish or state.session.info.get(_SETTLING)):
        return
    where = state.statement.whereclause
    if where is None and isinstance(state.parameters, list):   # bulk UPDATE by primary key
        where = Wish.id.in_([p["id"] for p in state.parameters])
    where = where if where is not None else sa.true()
    if state.is_delete:
        _forget(state.session, where)
        return
    with session_flag(state.session, _SETTLING):
        _note(state.session, state.session.scalars(sa.select(Wish.id).where(where)).all())


def _before_commit(session: Session) -> None:
    session.flush()
    settle(session)


def install() -> None:
    """Hook the sessions (once per process)."""
    hook_sessions(before_flush=_before_flush, after_flush=_after_flush, do_orm_execute=_on_execute,
                  before_commit=_before_commit)


# --- reading them --------------------------------------------------------------------------------

def _year_bounds(year: int) -> tuple[datetime, datetime]:
    return (datetime.combine(date(year, 1, 1), time(), local_zone()),
            datetime.combine(date(year + 1, 1, 1), time(), local_zone()))


def read(orgs: list[Org], year: int, now: datetime, trees: Subtrees | None = None) -> dict[int, dict]:
    """The wish figures the star rating reads, for each org's subtree and the wishes submitted
    in `year`, as of `now`: the running figures of the subtree's grids, plus the open wishes
    read live, each with one query for all the orgs (`trees`: their subtrees, when already
    read). The cost does not grow with the closed wishes, nor the number of statements with
    the number of orgs."""
    settle()
    tops = (trees or Subtrees(orgs)).tops
    sums = {org.id: dict.fromkeys(COUNTERS, 0) for org in orgs}
    claims: dict[int, Counter] = {org.id: Counter() for org in orgs}
    for grid_id, tenths, *values in db.session.execute(_RUNNING, {"grids": list(tops), "year": year}):
        for top_id in tops[grid_id]:
            if tenths is None:
                for name, value in zip(COUNTERS, values, strict=True):
                    sums[top_id][name] += value
            else:
                claims[top_id][tenths] += values[0]
    unreviewed = _read_open(tops, year, now, sums, claims)
    return {org.id: _figures(sums[org.id], claims[org.id], unreviewed[org.id]) for org in orgs}


# The statements of `read`, built once (every write a live campaign watches runs them), their
# values bound: the grids (`grids`), the year or its bounds (`start`, `end`), `now`, and the
# end of the review window (`waited`).
_GRIDS = sa.bindparam("grids", expanding=True)
_NOW, _WAITED = sa.bindparam("now", type_=UTCDateTime()), sa.bindparam("waited", type_=UTCDateTime())
_NONE = sa.literal_column("0")
#: The running figures and claim times of the grids, in one statement: (grid, no tenths, the
#: COUNTERS) for the figures, (grid, tenths, wishes, then zeros) for the claim times.
_RUNNING = sa.union_all(
    sa.select(WishFigures.grid_id, sa.null().label("tenths"), *[getattr(WishFigures, c) for c in COUNTERS])
    .where(WishFigures.grid_id.in_(_GRIDS), WishFigures.year == sa.bindparam("year")),
    sa.select(WishClaimTime.grid_id, WishClaimTime.tenths, WishClaimTime.wishes, *[_NONE] * (len(COUNTERS) - 1))
    .where(WishClaimTime.grid_id.in_(_GRIDS), WishClaimTime.year == sa.bindparam("year"), WishClaimTime.wishes != 0))
_OPEN = (Wish.grid_id.in_(_GRIDS), Wish.figures_open == sa.true(),
         Wish.created_at >= sa.bindparam("start", type_=UTCDateTime()),
         Wish.created_at < sa.bindparam("end", type_=UTCDateTime()))
_PENDING_REVIEW = Wish.status == S.pending_review.value
#: The open wishes' counts per grid, in three parts of one statement, each an index seek:
#: (grid, late, overdue for review, waiting past the review window). The workload (waiting
#: for review, a claim or fulfilment) falling overdue: late by `Wish.is_late`, and overdue
#: for review; its states are named, not `!= rejected`, so the index seeks to them past the
#: rejections. Waiting past the review window for a claim, or (rejected) for the street's
#: ruling: the rejections from the index alone (they are what piles up over a year), the
#: unclaimed workload beside them.
_OPEN_COUNTS = sa.union_all(
    sa.select(Wish.grid_id,
              sa.func.count().filter(sa.and_(Wish.fulfilled_at.is_(None), sa.or_(
                  Wish.due_at < _NOW, sa.and_(_PENDING_REVIEW, Wish.created_at < _WAITED)))),
              sa.func.count().filter(sa.and_(_PENDING_REVIEW, sa.or_(
                  sa.func.coalesce(Wish.fulfilled_at, _NOW) > Wish.due_at, Wish.created_at < _WAITED))),
              _NONE)
    .where(*_OPEN, Wish.status.in_(_NOT_REJECTED)).group_by(Wish.grid_id),
    sa.select(Wish.grid_id, _NONE, _NONE, sa.func.count())
    .where(*_OPEN, Wish.status == S.rejected.value, Wish.created_at < _WAITED).group_by(Wish.grid_id),
    sa.select(Wish.grid_id, _NONE, _NONE, sa.func.count())
    .where(*_OPEN, Wish.status.in_(_NOT_REJECTED), Wish.first_claimed_at.is_(None), Wish.created_at < _WAITED)
    .group_by(Wish.grid_id))
#: The same wishes one by one, with when each was submitted.
_WAITING_SINCE = sa.select(Wish.grid_id, Wish.created_at).where(
    *_OPEN, sa.or_(Wish.first_claimed_at.is_(None), Wish.status == S.rejected.value), Wish.created_at < _WAITED)


def _read_open(tops: dict[int, list[int]], year: int, now: datetime, sums: dict,
               claims: dict[int, Counter]) -> Counter:
    """Add what the open wishes of the grids in `tops` give as of `now` (their waiting hours,
    falling overdue) to `sums` and `claims`; the unreviewed wishes overdue, per org.

    The rules are those of `on_time` and `Wish.is_late`, counted by the database per grid: the
    open wishes are the community's whole workload, and reading each of them costs far more
    than a count. Only the waiting times are read row by row, for the wishes past the review
    window (each is its own value of the histogram)."""
    waited = now - timedelta(hours=current_app.config["WISH_REVIEW_HOURS"])
    start, end = _year_bounds(year)
    params = {"grids": list(tops), "start": start, "end": end, "now": now, "waited": waited}
    unreviewed: Counter = Counter()
    more: Counter = Counter()
    for grid_id, n_late, n_overdue, n_waiting in db.session.execute(_OPEN_COUNTS, params):
        for top_id in tops[grid_id]:
            sums[top_id]["decided"] += n_late
            unreviewed[top_id] += n_overdue
            if n_waiting:   # a grid with none waiting is no grid to look at (see `exact`)
                more[top_id] += n_waiting
    # Waiting past the review window for a claim, or (rejected) for the street's ruling: the
    # time waited so far, each at least the review window. Where the median lies below that
    # window whatever those times are, their count is enough; only the other orgs read them.
    floor = _tenths(now - waited)
    exact = {top_id for top_id, n in more.items() if not _median_below(claims[top_id], floor, n)}
    for top_id in more.keys() - exact:
        claims[top_id][floor] += more[top_id]
    grids = [grid_id for grid_id, top_ids in tops.items() if exact.intersection(top_ids)]
    if grids:
        for grid_id, created_at in db.session.execute(_WAITING_SINCE, {**params, "grids": grids}):
            for top_id in exact.intersection(tops[grid_id]):
                claims[top_id][_tenths(now - created_at)] += 1
    return unreviewed


def _median_below(histogram: Counter, floor: int, more: int) -> bool:
    """Whether the median of `histogram` and `more` values, each at least `floor`, is made of
    values below `floor` only, so that it does not depend on what those `more` values are."""
    below = sum(n for value, n in histogram.items() if value < floor)
    return (sum(histogram.values()) + more) // 2 < below


def _figures(sums: dict, claims: Counter, unreviewed: int) -> dict:
    """The figures under the names `wish_stats` gives them."""
    return {
        "counted": sums["counted"],
        "rejected": sums["rejected"],
        "unreviewed_overdue": unreviewed,
        "confirmed": sums["confirmed"],
        "auto_confirmed": sums["auto_confirmed"],
        "confirmed_credit": sums["confirmed"] - (1 - AUTO_CONFIRMED_CREDIT) * sums["auto_confirmed"],
        "median_hours_to_claim": median_hours(claims),
        "mean_rating": round(sums["rating_sum"] / sums["ratings"], 2) if sums["ratings"] else None,
        "ratings": sums["ratings"],
        "decided": sums["decided"],
        "closed_on_time": sums["on_time"],
    }


# --- the nightly check ----------------------------------------------------------------------------

def recount(org: Org | None = None) -> list[tuple[str, object, object]]:
    """Count the running figures of `org`'s subtree (of every org when None) again from the
    wishes, and repair what differs; what differed, as (what, stored, counted)."""
    settle()
    grids = sa.select(Org.id).where(Org.path.startswith(org.path)) if org is not None else sa.select(Org.id)
    counters, claims, marks, found = _recount(grids)
    if found:
        _rewrite(grids, counters, claims, marks)
    return [what for _, what in found]


def recount_many(orgs: list[Org], trees: Subtrees | None = None) -> list[list[tuple[str, object, object]]]:
    """`recount` of each of `orgs` in turn, with the same few statements for all of them
    (`trees`: their subtrees, when already read): a difference is answered for the first org
    whose subtree holds it, as a recount of each in turn would have repaired it before the
    next; the subtrees of the orgs where something differed are rewritten, as each of those
    recounts would have."""
    settle()
    trees = trees or Subtrees(orgs)
    counters, claims, marks, found = _recount(trees.ids)
    answers, grids = trees.share_out(orgs, found)
    if grids:
        within = set(grids)
        _rewrite(grids, Counter({k: n for k, n in counters.items() if k[0] in within}),
                 Counter({k: n for k, n in claims.items() if k[0] in within}),
                 [mark for mark in marks if mark[3] in within])
    return answers


def _recount(grids) -> tuple[Counter, Counter, list, list[tuple[int, tuple[str, object, object]]]]:
    """The figures of the wishes of `grids` (ids, or a statement giving them) counted again:
    (counters, claims, wishes to mark (id, tallied, open, grid), and the differences as
    (grid, (what, stored, counted)) in the order `recount` answers them)."""
    counters: Counter = Counter()
    claims: Counter = Counter()
    marks = []
    for row in db.session.execute(sa.select(*_COLUMNS, Wish.tallied, Wish.figures_open)
                                  .where(Wish.grid_id.in_(grids)).order_by(Wish.id)):
        share = share_of(row)
        tallied, figures_open = share.encode() if share else None, is_open(row)
        if (tallied, figures_open) != (row.tallied, bool(row.figures_open)):
            marks.append((row.id, tallied, figures_open, row.grid_id))
        more, more_claims = _moves(None, share)
        counters.update(more)
        claims.update(more_claims)
    stored: Counter = Counter()
    for row in db.session.scalars(sa.select(WishFigures).where(WishFigures.grid_id.in_(grids))):
        stored.update({(row.grid_id, row.year, name): getattr(row, name) for name in COUNTERS})
    stored_claims = Counter({(g, y, t): n for g, y, t, n in db.session.execute(
        sa.select(WishClaimTime.grid_id, WishClaimTime.year, WishClaimTime.tenths, WishClaimTime.wishes)
        .where(WishClaimTime.grid_id.in_(grids)))})
    found = [(g, (f"wish_figures.{g}.{y}.{name}", stored[(g, y, name)], counters[(g, y, name)]))
             for g, y, name in sorted(set(stored) | set(counters)) if stored[(g, y, name)] != counters[(g, y, name)]]
    found += [(g, (f"wish_claim_times.{g}.{y}.{t}", stored_claims[(g, y, t)], claims[(g, y, t)]))
              for g, y, t in sorted(set(stored_claims) | set(claims)) if stored_claims[(g, y, t)] != claims[(g, y, t)]]
    found += [(grid_id, (f"wishes.{wish_id}.tallied", None, tallied)) for wish_id, tallied, _, grid_id in marks]
    return counters, claims, marks, found


def _rewrite(grids, counters: Counter, claims: Counter, marks: list) -> None:
    db.session.execute(sa.delete(WishFigures).where(WishFigures.grid_id.in_(grids)))
    db.session.execute(sa.delete(WishClaimTime).where(WishClaimTime.grid_id.in_(grids)))
    rows: dict[tuple[int, int], dict] = {}
    for (grid_id, year, name), n in counters.items():
        rows.setdefault((grid_id, year), {"grid_id": grid_id, "year": year, **dict.fromkeys(COUNTERS, 0)})[name] = n
    if rows:
        db.session.execute(sa.insert(WishFigures), list(rows.values()))
    kept = [{"grid_id": g, "year": y, "tenths": t, "wishes": n} for (g, y, t), n in claims.items() if n]
    if kept:
        db.session.execute(sa.insert(WishClaimTime), kept)
    with session_flag(db.session, _SETTLING):
        for wish_id, tallied, figures_open, _ in marks:
            _mark(wish_id, tallied, figures_open)


def rebuild() -> None:
    """Count every running figure again from the wishes (after rows were written straight into the table)."""
    recount()
