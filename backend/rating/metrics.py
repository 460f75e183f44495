"""The operational figures a `metric` criterion reads, for one org over its campaign year.

Each metric names the topics whose changes can move it (see `backend.rating.live`), so a
confirmed wish recomputes the wish criteria and nothing else, and reads only the figures it
needs. The wish and service figures come from their running totals (`backend.wishes.figures`,
`backend.services.figures`), so the live recompute in a write's transaction costs the same
whatever the history; a full context (`full=True`, the nightly check) counts them from every
row, as the statistics API does.
One scoring pass computes each set once, and a `Batch` of orgs reads each set once for all of
them, so a campaign's thousands of scorecards cost a few statements per set, not per org.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time

import sqlalchemy as sa

from backend.core.periods import years_of
from backend.core.timeutil import local_zone
from backend.extensions import db
from backend.orgs.models import Org
from backend.orgs.subtrees import Subtrees
from backend.polls.service import criterion_tallies_of
from backend.rating.models import Meeting, MeetingStatus
from backend.services import figures as services
from backend.stats.service import (
    activity_figures_of,
    double_report_figures_of,
    service_figures_of,
    team_figures_of,
)
from backend.wishes import figures
from backend.wishes.service import wish_stats_of


class _Year:
    """A campaign year [start, end) and the time the figures are taken."""

    year: int
    now: datetime

    @property
    def start(self) -> datetime:
        return datetime.combine(date(self.year, 1, 1), time(), local_zone())

    @property
    def end(self) -> datetime:
        return datetime.combine(date(self.year + 1, 1, 1), time(), local_zone())

    @property
    def until(self) -> datetime:
        """The figures stop at the end of the year, or now if the year is under way."""
        return min(self.now, self.end)


class Batch(_Year):
    """Orgs whose figures are taken together, for one campaign year as of `now`: the first
    time a metric of any of them asks for a figure set, the set is read for all of them, with
    the same few statements whatever their number (`full`: the wish figures counted from every
    wish rather than read from their running totals). So is each campaign's poll tallies."""

    def __init__(self, orgs: list[Org], year: int, now: datetime, full: bool = False) -> None:
        self.orgs, self.year, self.now, self.full = list(orgs), year, now, full
        self.sets: dict[str, dict[int, object]] = {}
        self._subtrees: Subtrees | None = None
        self.polls: dict[int, dict[int, dict]] = {}

    @property
    def subtrees(self) -> Subtrees:
        """The orgs' subtrees, read the first time a figure set needs them."""
        if self._subtrees is None:
            self._subtrees = Subtrees(self.orgs)
        return self._subtrees

    def stats(self, name: str) -> dict[int, object]:
        if name not in self.sets:
            self.sets[name] = _SETS[name](self)
        return self.sets[name]

    def tallies(self, period_id: int) -> dict[int, dict[str, list[dict]]]:
        """Per org, the campaign's poll tallies per criterion (`criterion_tallies_of`)."""
        if period_id not in self.polls:
            self.polls[period_id] = criterion_tallies_of(period_id, [org.id for org in self.orgs])
        return self.polls[period_id]

    def context(self, org: Org) -> Context:
        return Context(org=org, year=self.year, now=self.now, full=self.full, batch=self)


@dataclass
class Context(_Year):
    """One org, its campaign year, the time the figures are taken and whether they are
    counted in full; its figures come from `batch` (a batch of its own when none is given)."""

    org: Org
    year: int
    now: datetime
    full: bool = False
    batch: Batch | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.batch is None:
            self.batch = Batch([self.org], self.year, self.now, self.full)

    def stats(self, name: str):
        return self.batch.stats(name)[self.org.id]


def _wish_stats(batch: Batch) -> dict:
    if batch.full:
        return wish_stats_of(batch.subtrees, batch.start, batch.end, batch.until)
    return figures.read(batch.orgs, batch.year, batch.until, batch.subtrees)


def _services(batch: Batch) -> dict:
    if batch.full:
        return service_figures_of(batch.subtrees, batch.start, batch.end)
    return services.read(batch.orgs, batch.year, batch.subtrees)


def _activities(batch: Batch) -> dict:
    return activity_figures_of(batch.subtrees, batch.start, batch.end, batch.until)


def _double_reports(batch: Batch) -> dict:
    return double_report_figures_of(batch.subtrees, years_of(batch.start, batch.end))


def _teams(batch: Batch) -> dict:
    return team_figures_of(batch.subtrees)


def _meetings(batch: Batch) -> dict[int, list[tuple[str, date]]]:
    held: dict[int, list[tuple[str, date]]] = {org.id: [] for org in batch.orgs}
    for org_id, kind, held_on in db.session.execute(
            sa.select(Meeting.org_id, Meeting.kind, Meeting.held_on)
            .where(Meeting.org_id.in_(batch.subtrees.ids), Meeting.status == MeetingStatus.counted.value,
                   Meeting.held_on >= date(batch.year, 1, 1), Meeting.held_on < date(batch.year + 1, 1, 1))
            .order_by(Meeting.held_on, Meeting.id)):
        for top in batch.subtrees.tops[org_id]:
            held[top].append((kind, held_on))
    return held


_SETS: dict[str, Callable[[Batch], dict[int, object]]] = {
    "wishes": _wish_stats, "services": _services, "activities": _activities, "double_reports": _double_reports,
    "teams": _teams, "meetings": _meetings}


@dataclass(frozen=True)
class Metric:
    label: str
    #: How the value reads in a sentence: "share" (92.0%), "count" (9), "hours" (18.0 小时), "rating".
    unit: str
    topics: frozenset[str]
    compute: Callable[[Context], tuple[float | None, dict]]


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _periods_met(ctx: Context, kinds: set[str], months_per_period: int) -> tuple[int, int]:
    """(met, due): periods of the year so far that needed a meeting of `kinds`. The current
    period is due only once it has ended or already has its meeting, so a new quarter does
    not count against anyone on its first day."""
    held = [d for kind, d in ctx.stats("meetings") if kind in kinds]
    today = ctx.until.astimezone(local_zone()).date()
    met = due = 0
    for first_month in range(1, 13, months_per_period):
        start = date(ctx.year, first_month, 1)
        last_month = first_month + months_per_period
        end = date(ctx.year + 1, 1, 1) if last_month > 12 else date(ctx.year, last_month, 1)
        if start > today:
            break
        has = any(start <= d < end for d in held)
        if has or end <= today:
            due += 1
            met += has
    return met, due


def _joint_meetings(ctx: Context):
    met, due = _periods_met(ctx, {"joint"}, 3)
    return _ratio(met, due), {"quarters_met": met, "quarters_due": due}


#: 三会一课 and 主题党日 and how often each is due, in months (seed 004 附件3: 支部党员大会 each
#: quarter, 支委会 each month, 党小组会 one or two a month, 党课 each quarter; 主题党日 each month).
REQUIRED_MEETINGS = (("theme_day", 1), ("committee", 1), ("group", 1), ("general", 3), ("lecture", 3))


def _required_meetings(ctx: Context):
    met = due = 0
    by_kind = {}
    for kind, months in REQUIRED_MEETINGS:
        m, d = _periods_met(ctx, {kind}, months)
        met, due = met + m, due + d
        by_kind[kind] = {"met": m, "due": d}
    return _ratio(met, due), {"met": met, "due": due, "kinds": by_kind}


def _figure(name: str, key: str, *inputs: str):
    """A metric that is one figure of the set `name`, shown with `inputs` beside it."""
    def compute(ctx: Context):
        figures = ctx.stats(name)
        return figures[key], {k: figures[k] for k in (key, *inputs)}
    return compute


def _grids_staffed(ctx: Context):
    figures = ctx.stats("teams")
    return _ratio(figures["grids_staffed"], figures["grids"]), {"grids_staffed": figures["grids_staffed"],
                                                                 "grids": figures["grids"]}


def _wish_figures(figures: dict, *keys: str) -> dict:
    return {k: figures[k] for k in (*keys, "counted", "rejected", "unreviewed_overdue")}


def _wish_confirmed(ctx: Context):
    """Confirmed (one confirmed by the rule, nobody asking the resident, counts half) of every
    wish but those withdrawn and rejections the street upheld."""
    figures = ctx.stats("wishes")
    share = _ratio(figures["confirmed_credit"], figures["counted"])
    return share, _wish_figures(figures, "confirmed", "auto_confirmed")


def _wish_claim_hours(ctx: Context):
    figures = ctx.stats("wishes")
    return figures["median_hours_to_claim"], _wish_figures(figures, "median_hours_to_claim")


def _wish_on_time(ctx: Context):
    figures = ctx.stats("wishes")
    return _ratio(figures["closed_on_time"], figures["decided"]), _wish_figures(figures, "closed_on_time", "decided")


def _services_delivered(ctx: Context):
    delivered = ctx.stats("services")["delivered"]
    return delivered, {"service_bookings_delivered": delivered}


def _resident_rating(ctx: Context):
    wishes = ctx.stats("wishes")
    served = ctx.stats("services")
    n_wish, n_service, mean_service = wishes["ratings"], served["ratings"], served["mean_rating"]
    if not n_wish + n_service:
        return None, {"ratings": 0}
    total = (wishes["mean_rating"] or 0) * n_wish + (mean_service or 0) * n_service
    return total / (n_wish + n_service), {"wish_ratings": n_wish, "service_ratings": n_service}


_ACTIVITY = frozenset({"activity", "booking"})
METRICS: dict[str, Metric] = {
    "grids_staffed_share": Metric("有网格长和服务团队的网格占比", "share", frozenset({"org", "membership", "team"}),
                                  _grids_staffed),
    "joint_meeting_quarter_share": Metric("召开联席会的季度占比", "share", frozenset({"meeting"}), _joint_meetings),
    "double_report_share": Metric("在职党员双报到占比", "share", frozenset({"double_report", "membership"}),
                                  _figure("double_reports", "double_report_share", "double_reported",
                                          "in_service_party_members")),
    "co_organised_activities": Metric("与驻区单位共建活动", "count", _ACTIVITY,
                                      _figure("activities", "co_organised_activities")),
    "wish_confirmed_share": Metric("微心愿办结率", "share", frozenset({"wish"}), _wish_confirmed),
    "wish_median_hours_to_claim": Metric("微心愿认领用时中位数", "hours", frozenset({"wish"}), _wish_claim_hours),
    "teams": Metric("志愿服务队", "count", frozenset({"team"}), _figure("teams", "teams")),
    "activities_held": Metric("已开展志愿活动", "count", _ACTIVITY, _figure("activities", "activities_held")),
    "service_bookings_delivered": Metric("已完成的微服务预约", "count", frozenset({"booking"}),
                                         _services_delivered),
    "required_meetings_share": Metric("三会一课和主题党日按期召开占比", "share", frozenset({"meeting"}),
                                      _required_meetings),
    "wish_on_time_share": Metric("微心愿按期办结占比", "share", frozenset({"wish"}), _wish_on_time),
    "mean_resident_rating": Metric("居民对心愿和服务的平均评价", "rating", frozenset({"wish", "booking"}),
                                   _resident_rating),
}


def phrase(metric: Metric, value: float | None) -> str:
    """The value as a secretary reads it."""
    if value is None:
        return "暂无数据"
    if metric.unit == "share":
        return f"{value * 100:.1f}%"
    if metric.unit == "hours":
        return f"{value:.1f} 小时"
    if metric.unit == "rating":
        return f"{value:.2f} 分"
    return f"{value:g}"
