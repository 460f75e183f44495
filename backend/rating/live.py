"""Live scores: whatever transaction changes the data a criterion reads also recomputes that
criterion, before it commits.

A flush notes which topics changed and for which org (a wish of grid 7, an attendance at an
activity of community 3, a poll answer ...); just before the commit the criteria reading
those topics are recomputed on every live scorecard whose org contains that org. Watching
the rows rather than each service function means no code path (API, page, job) can change
a figure without its score following. Time passing (a quarter ending, a wish falling
overdue) changes figures with no write at all: the scheduler's `refresh_live` catches those,
through the drift check of `backend.rating.watch`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.activities.models import Activity
from backend.bookings.models import Booking, Slot
from backend.core.db import hook_sessions
from backend.double_reports.models import DoubleReport
from backend.extensions import db, utcnow
from backend.orgs.models import Org
from backend.people.models import Membership
from backend.polls import service as polls
from backend.polls.models import AUDIENCE_LABELS, Audience, Poll, PollResponse
from backend.polls.service import respondent_counts
from backend.rating import stream, watch
from backend.rating.dashboard import answer_cause
from backend.rating.engine import Place, Sheet, recompute_sheet, sheets
from backend.rating.metrics import METRICS
from backend.rating.models import LIVE_PHASES, Meeting, RatingPeriod, Rubric, Scorecard, Source
from backend.rating.service import campaign_for_poll
from backend.services.models import ServiceBooking
from backend.teams.models import Team, TeamMember
from backend.wishes.models import Wish, WishEvent

_PENDING = "rating_touched"
_BUSY = "rating_recomputing"


@dataclass(frozen=True)
class Touch:
    topic: str
    org_id: int | None
    #: Said on the score events; a function when it is only known at commit (the answer count).
    cause: str | Callable[[], str]
    #: Poll answers name the criteria of their questions; other topics move metrics.
    criteria: tuple[str, ...] = ()


def touch(session: Session, item: Touch) -> None:
    session.info.setdefault(_PENDING, {}).setdefault((item.topic, item.org_id, item.criteria), item)


@dataclass(frozen=True)
class Watch:
    topic: str
    #: Attributes whose change matters; a new row always matters unless `on_insert` is False.
    attributes: frozenset[str]
    org_of: Callable[[object], int | None]
    cause: Callable[[object], str | Callable[[], str]]
    on_insert: bool = True
    #: For poll answers: the criteria their questions map to (other topics move metrics).
    criteria: Callable[[object], tuple[str, ...]] = lambda obj: ()


def _slot_org(slot_id):
    return db.session.scalar(sa.select(Slot.org_id).where(Slot.id == slot_id))


def _booking_org(booking_id):
    return db.session.scalar(sa.select(Slot.org_id).join(Booking, Booking.slot_id == Slot.id)
                             .where(Booking.id == booking_id))


def _poll_criteria(poll_id: int) -> tuple[str, ...]:
    """The criteria a poll's answers feed, when it belongs to a campaign (from the poll and
    questions the answer was checked against, when they are loaded)."""
    poll = db.session.get(Poll, poll_id)
    if poll is None or poll.period_id is None:
        return ()
    return tuple(sorted({q.criterion_code for q in poll.questions if q.criterion_code is not None}))


def _answer_cause(response: PollResponse) -> Callable[[], str]:
    """"党员测评第 12 份答卷", counted at commit, once the answer is in the tallies."""
    poll = db.session.get(Poll, response.poll_id)
    return lambda: answer_cause(poll.audience_label, respondent_counts([poll.id])[poll.id])


def _watches() -> dict[type, Watch]:
    slot_org, booking_org = _slot_org, _booking_org
    return {
        # Wish states move by conditional UPDATEs; each move also adds one timeline row.
        WishEvent: Watch("wish", frozenset(), lambda e: db.session.get(Wish, e.wish_id).grid_id,
                         lambda e: _wish_cause(db.session.get(Wish, e.wish_id), e.action)),
        # Sign-ups do not move a score; attendance and its outcome do.
        Booking: Watch("booking", frozenset({"status"}), lambda b: slot_org(b.slot_id),
                       lambda b: f"志愿活动{b.status_label}", on_insert=False),
        ServiceBooking: Watch("booking", frozenset({"delivered_at", "rated_at"}),
                              lambda s: booking_org(s.booking_id),
                              lambda s: "微服务获得评价" if s.rated_at else "微服务已完成", on_insert=False),
        Activity: Watch("activity", frozenset({"partner_unit_id", "org_id"}), lambda a: a.org_id,
                        lambda a: f"志愿活动「{a.title[:16]}」"),
        DoubleReport: Watch("double_report", frozenset({"status"}), lambda r: r.community_id,
                            lambda r: f"在职党员双报到{r.status_label}"),
        Team: Watch("team", frozenset({"is_active", "grid_id", "org_id"}), lambda t: t.org_id,
                    lambda t: f"志愿服务队「{t.name}」"),
        TeamMember: Watch("team", frozenset(), lambda m: db.session.scalar(
            sa.select(Team.org_id).where(Team.id == m.team_id)), lambda m: "服务队成员变化"),
        Membership: Watch("membership", frozenset({"role", "org_id"}), lambda m: m.org_id,
                          lambda m: "组织成员变化"),
        Org: Watch("org", frozenset({"parent_id"}), lambda o: o.parent_id, lambda o: f"新建组织「{o.name}」"),
        # A record starts or stops counting when the street confirms, strikes or a correction replaces it.
        Meeting: Watch("meeting", frozenset({"status"}), lambda m: m.org_id, lambda m: m.change_label),
        # An answer sheet moves the criteria its questions map to (reviews: see _bulk_watches).
        PollResponse: Watch("poll", frozenset(), lambda r: db.session.get(Poll, r.poll_id).org_id, _answer_cause,
                            criteria=lambda r: _poll_criteria(r.poll_id)),
    }


def _wish_cause(wish, action: str) -> str:
    if action == "rejection_upheld":
        return f"街道确认微心愿「{wish.title[:16]}」不属于微心愿"
    return f"微心愿「{wish.title[:16]}」{wish.status_label}"


def _booking_touches(where, params: dict) -> list[Touch]:
    orgs = db.session.scalars(sa.select(Slot.org_id).join(Booking, Booking.slot_id == Slot.id).where(where).distinct(),
                              params)
    return [Touch("booking", org_id, "志愿活动或微服务状态变化") for org_id in orgs]


def _review_touches(where, params: dict) -> list[Touch]:
    """A street officer's review (or a burst flagged) may take answers out of the tallies."""
    polls = db.session.execute(sa.select(Poll.id, Poll.org_id, Poll.audience).join(
        PollResponse, PollResponse.poll_id == Poll.id).where(where).distinct(), params).all()
    return [Touch("poll", org_id, f"{AUDIENCE_LABELS[Audience(audience)]}答卷审核", criteria)
            for poll_id, org_id, audience in polls if (criteria := _poll_criteria(poll_id))]


#: Conditional UPDATEs (seats, attendance, delivery, answer reviews) bypass the flush: for
#: those, what they touch is read with the statement's own WHERE clause (and the values bound
#: to it) just before it runs.
_BULK: dict[type, Callable[[object, dict], list[Touch]]] = {Booking: _booking_touches, PollResponse: _review_touches}
_WATCHES: dict[type, Watch] = _watches()


def _changed(obj, watch: Watch) -> bool:
    state = sa.inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in watch.attributes)


def _after_flush(session: Session, flush_context) -> None:
    # Session.new builds a fresh set on every access: read it once, or a flush of n rows costs n².
    new = session.new
    for obj in list(new) + list(session.dirty) + list(session.deleted):
        watch = _WATCHES.get(type(obj))
        if watch is None:
            continue
        is_new = obj in new
        if (is_new and not watch.on_insert) or (not is_new and obj not in session.deleted
                                                and not _changed(obj, watch)):
            continue
        criteria = watch.criteria(obj)
        if watch.topic == "poll" and not criteria:
            continue
        touch(session, Touch(watch.topic, watch.org_of(obj), watch.cause(obj), criteria))


def _on_execute(state) -> None:
    if not state.is_update or state.bind_mapper is None:
        return
    touches_of = _BULK.get(state.bind_mapper.class_)
    where = state.statement.whereclause
    if touches_of is None or where is None or not _any_live(state.session):
        return
    for item in touches_of(where, dict(state.parameters or {})):
        touch(state.session, item)


_ANY_LIVE = sa.select(sa.exists().where(RatingPeriod.phase.in_([p.value for p in LIVE_PHASES])))


def _any_live(session: Session) -> bool:
    return bool(session.scalar(_ANY_LIVE))


def _before_commit(session: Session) -> None:
    if session.info.get(_BUSY):
        return
    # Commit flushes after this hook: flush now so the last changes are seen too.
    session.flush()
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    session.info[_BUSY] = True
    try:
        apply(list(pending.values()))
        session.flush()
    finally:
        session.info.pop(_BUSY, None)
        session.info.pop(_PENDING, None)


def _forget(session: Session, *args) -> None:
    session.info.pop(_PENDING, None)


#: Scorecards of live campaigns whose org is the touched org or above it, locked and read afresh
#: (two answers arriving together both count), each with what its recompute reads (year,
#: rubric, org; the criteria by a second statement), as plain rows. Built once: they run in
#: every write.
_LIVE_CARDS = (
    sa.select(Scorecard.id, Scorecard.period_id, RatingPeriod.year, Rubric.body, Org.id.label("org_id"), Org.path)
    .join(Scorecard.period).join(RatingPeriod.rubric).join(Scorecard.org)
    .where(RatingPeriod.phase.in_([p.value for p in LIVE_PHASES]),
           sa.select(Org.path).where(Org.id == sa.bindparam("org_id")).scalar_subquery().startswith(Org.path))
    .order_by(Scorecard.id).with_for_update(of=Scorecard))


def live_scorecards(org_id: int) -> list[Sheet]:
    """Scorecards of live campaigns whose org is `org_id` or above it, locked and read for a recompute."""
    return sheets([Sheet(card.id, card.period_id, card.year, card.body, Place(card.org_id, card.path))
                   for card in db.session.execute(_LIVE_CARDS, {"org_id": org_id})])


def _criteria_for(card: Sheet, item: Touch) -> set[str]:
    if item.topic == "poll":
        return set(item.criteria)
    rows = [(c, s) for s in card.rubric_body["standards"] for c in s.get("criteria", [])]
    return {c["code"] for c, _ in rows if c["source"] == Source.metric
            and any(item.topic in METRICS[p["metric"]].topics for p in c["parts"])}


def apply(items: list[Touch], now: datetime | None = None) -> int:
    """Recompute what `items` touch on every live scorecard above them; the number of events."""
    count = 0
    for item in items:
        if item.org_id is None:
            continue
        for card in live_scorecards(item.org_id):
            codes = _criteria_for(card, item)
            if codes:
                cause = item.cause() if callable(item.cause) else item.cause
                events = recompute_sheet(card, codes, cause=cause, now=now or utcnow())
                if events:
                    stream.wrote(db.session)
                count += len(events)
    return count


def refresh_live(now: datetime | None = None) -> int:
    """Full recompute of every live scorecard (time-driven changes); the number of events.
    It goes through the drift check (`watch.audit`): a full recompute that wrote over the
    live values quietly would erase, within the hour, the very drift the check exists to find."""
    return watch.audit_live(cause="定时核算", now=now)[0]


def install() -> None:
    """Hook the sessions (once per process)."""
    hook_sessions(after_flush=_after_flush, do_orm_execute=_on_execute, before_commit=_before_commit,
                  after_rollback=_forget)
    polls.feed_campaigns_with(campaign_for_poll)
