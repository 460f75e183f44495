"""Watching the watchers: the live scores are a running result of the data, kept by the
trigger in `live`; this module checks them against a full recompute and never writes over
them quietly.

A scorecard has drifted when a stored value is not what the data give:

- a poll or metric criterion that differs from a recompute as of the time it was computed
  (its `computed_at`), so a figure that moved with time alone — a quarter ended, a wish fell
  overdue — is not drift;
- a manual criterion that differs from the newest score the ledger holds for it;
- standard totals, total, stars or grade that are not what the criteria add up to;
- (the nightly check) poll tallies that are not the count of the stored answers, and running
  wish and service figures that are not the count of their rows (`recount` in
  `backend.wishes.figures` and `backend.services.figures`).

The live path reads running figures; the hourly audit compares with them too, and the nightly
check (`thorough`) counts every figure again from the rows, so a running total that drifted
is found, repaired and the scores recomputed from the truth the same night.

Nothing in the product writes such a value, so drift means a bug or a hand in the database.
It is appended to the ledger (what, old, new) and told to the admins, then repaired: the
score is what the data and the ledger say, and a value edited by hand must not stand on
the dashboard or reach publication and the quotas while someone finds out why. The repair
is a score event like any other (cause 核查修正), so the board shows it too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from flask import current_app

from backend.core.heap import collections_after
from backend.extensions import db, utcnow
from backend.notifications.service import notify_all
from backend.orgs.subtrees import Subtrees
from backend.people.service import admins
from backend.polls import service as polls
from backend.polls.models import Poll
from backend.rating import engine, ledger
from backend.rating.engine import Computed
from backend.rating.metrics import Batch
from backend.rating.models import LIVE_PHASES, CriterionScore, RatingPeriod, Scorecard, ScoreEvent, Source
from backend.rating.rubrics import items_of
from backend.services import figures as service_figures
from backend.wishes import figures as wish_figures

REPAIR_CAUSE = "核查修正"


@dataclass(frozen=True)
class Drift:
    #: "S1", "S5.provisional", "total", "standards.G", "stars", "grade", "poll_tallies.7".
    what: str
    old: object
    new: object
    #: The criterion the drift is in, when it is in one.
    code: str | None = None

    def as_dict(self) -> dict:
        return {"what": self.what, "old": self.old, "new": self.new}


#: A job over every live scorecard commits after units of scorecards that take about this long,
#: so it never holds SQLite's write lock (or a PostgreSQL scorecard lock) for its whole run.
UNIT_SECONDS = 0.05
#: On SQLite, the pause after each unit: a job that took the lock again at once would starve
#: the writers of other processes. The app's writers look again within 2 ms
#: (extensions.WriterQueue); any other connection waits in SQLite's busy handler, which looks
#: again 1, 2, 5, 10, 15, 20, 25, 25, 25, 50 and 50 ms apart, then every 100 ms: a writer
#: that began waiting during a unit of up to about 180 ms looks at most 50 ms apart, so sees
#: this pause too.
SQLITE_PAUSE_SECONDS = 0.05
#: A job's first unit, before it knows how long a scorecard takes, and the largest: past a few
#: hundred scorecards a batch's statements cost next to nothing per scorecard.
FIRST_UNIT = 4
LARGEST_UNIT = 400


def live_cards() -> list[Scorecard]:
    """Every scorecard of a campaign whose scores still follow the data."""
    return list(db.session.scalars(sa.select(Scorecard).join(RatingPeriod, RatingPeriod.id == Scorecard.period_id)
                                   .where(RatingPeriod.phase.in_([p.value for p in LIVE_PHASES]))
                                   .order_by(Scorecard.id)))


@dataclass(frozen=True)
class Recorded:
    """What the campaign's ledger says each org's manual scores and the street's overrides are."""

    scores: dict[tuple[int, str], Decimal]
    overrides: dict[tuple[int, str], Decimal | None]

    @classmethod
    def of(cls, period: RatingPeriod) -> Recorded:
        return cls(ledger.recorded_scores(period), ledger.recorded_overrides(period))


class RecordedCache:
    """`Recorded.of` read once per campaign and again only when its ledger has grown since:
    between two units of a job, a manual score or an override may have been entered."""

    def __init__(self) -> None:
        self.found: dict[int, tuple[int, Recorded]] = {}

    def __call__(self, period: RatingPeriod) -> Recorded:
        seq, recorded = self.found.get(period.id, (None, None))
        if seq != period.ledger_seq or recorded is None:
            recorded = Recorded.of(period)
            self.found[period.id] = (period.ledger_seq, recorded)
        return recorded


def audit(card: Scorecard, *, cause: str, now: datetime | None = None, thorough: bool = False,
          recorded: Callable[[RatingPeriod], Recorded] = Recorded.of) -> tuple[list[Drift], list[ScoreEvent]]:
    """Recompute `card` in full as of `now`, recording (ledger, admins) and repairing any
    drift first; `thorough` also counts the campaign's poll tallies and the running wish and
    service figures again from the rows, and computes from the rows rather than those figures.
    `recorded` reads what the ledger holds (a `RecordedCache` over many scorecards), once the
    scorecard is locked, so no entry committed before the lock is missed.
    Returns the drift found and the score events written."""
    return audit_many([engine.lock(card)], cause=cause, now=now or utcnow(), thorough=thorough,
                      recorded=recorded)[0]


def audit_many(cards: list[Scorecard], *, cause: str, now: datetime, thorough: bool,
               recorded: Callable[[RatingPeriod], Recorded]) -> list[tuple[list[Drift], list[ScoreEvent]]]:
    """`audit` each of `cards`, locked by the caller, their figures read together; per card,
    as `audit` answers. The thorough recounts (which repair what they find) all come first, so
    the figures read for the batch are the repaired ones."""
    found = _recounted_drift(cards) if thorough else {card.id: [] for card in cards}
    together = engine.batches(cards, now, full=thorough)
    return [_audit_locked(card, found[card.id], together[card.id], cause=cause, now=now, recorded=recorded)
            for card in cards]


def _audit_locked(card: Scorecard, found: list[Drift], batch: Batch, *, cause: str, now: datetime,
                  recorded: Callable[[RatingPeriod], Recorded]) -> tuple[list[Drift], list[ScoreEvent]]:
    current = engine.compute(card, batch=batch)
    recorded = recorded(card.period)
    found += _computed_drift(card, current, full=batch.full) + _manual_drift(card, recorded.scores)
    found += _override_drift(card, recorded.overrides)
    found += _total_drift(card, found)
    events: list[ScoreEvent] = []
    if found:
        _report(card, found)
        events += _repair_manual(card, found) + _repair_overrides(card, found)
    drifted = {d.code for d in found if d.code in current}
    events += engine.store(card, {c: v for c, v in current.items() if c in drifted}, REPAIR_CAUSE, now)
    events += engine.store(card, {c: v for c, v in current.items() if c not in drifted}, cause, now)
    return found, events


def audit_in_units(ids: list[int], *, cause: str, now: datetime, thorough: bool = False,
                   phases: tuple[str, ...] = LIVE_PHASES) -> tuple[int, int]:
    """`audit` the scorecards `ids` (those whose campaign is still in one of `phases` once
    they are locked), committing after each unit; (score events written, scorecards found
    drifted).

    A unit is a batch of scorecards locked, read and written together, sized from the last
    one to take about UNIT_SECONDS, so web writes go through between units however many
    scorecards there are; a failure loses only the unit it happened in."""
    pause = SQLITE_PAUSE_SECONDS if db.engine.dialect.name == "sqlite" else 0
    recorded = RecordedCache()
    events = drifted = 0
    size, done = FIRST_UNIT, 0
    while done < len(ids):
        started = time.monotonic()
        unit = ids[done:done + size]
        with collections_after():
            cards = engine.lock_many(unit)
            # Under the scorecards' locks, a campaign may have been published since the list was read.
            open_periods = set(db.session.scalars(sa.select(RatingPeriod.id).where(
                RatingPeriod.id.in_({card.period_id for card in cards}), RatingPeriod.phase.in_(phases))))
            for found, written in audit_many([card for card in cards if card.period_id in open_periods],
                                             cause=cause, now=now, thorough=thorough, recorded=recorded):
                events, drifted = events + len(written), drifted + bool(found)
            db.session.commit()
        done += len(unit)
        per_card = max(time.monotonic() - started, 1e-6) / len(unit)
        size = max(1, min(LARGEST_UNIT, int(UNIT_SECONDS / per_card)))
        if done < len(ids):
            time.sleep(pause)
    return events, drifted


def audit_live(*, cause: str, now: datetime | None = None, thorough: bool = False) -> tuple[int, int]:
    """`audit` every live scorecard, in units (`audit_in_units`); (score events written,
    scorecards found drifted). A job, not a request."""
    ids = [card.id for card in live_cards()]
    db.session.commit()
    return audit_in_units(ids, cause=cause, now=now or utcnow(), thorough=thorough)


def check_scores(now: datetime | None = None) -> int:
    """The nightly check: every live scorecard recomputed in full, poll tallies counted again
    from the answers; the number of scorecards found drifted (there should be none)."""
    return audit_live(cause="夜间核查", now=now, thorough=True)[1]


def _computed_drift(card: Scorecard, current: dict[str, Computed], *, full: bool) -> list[Drift]:
    """Poll and metric criteria that differ now are recomputed as of the time they were
    computed: only a difference that remains is drift."""
    suspects: dict[datetime, list[CriterionScore]] = {}
    for row in card.criteria:
        computed = current.get(row.code)
        # A value stored before computed_at was kept cannot be recomputed as of then; its
        # next recompute stamps it and brings it under the check.
        if computed is not None and row.computed_at is not None and not engine.same(row, computed):
            suspects.setdefault(row.computed_at, []).append(row)
    found = []
    for at, rows in suspects.items():
        then = engine.compute(card, {row.code for row in rows}, at, full=full)
        found += [_criterion_drift(row, then[row.code]) for row in rows if not engine.same(row, then[row.code])]
    return found


def _criterion_drift(row: CriterionScore, expected: Computed) -> Drift:
    if row.computed_points != expected.points:
        return Drift(row.code, row.computed_points, expected.points, row.code)
    return Drift(f"{row.code}.provisional", row.provisional, expected.provisional, row.code)


def _manual_drift(card: Scorecard, recorded: dict[tuple[int, str], Decimal]) -> list[Drift]:
    found = []
    for row in card.criteria:
        expected = recorded.get((card.org_id, row.code), engine.ZERO)
        if row.source == Source.manual and row.computed_points != expected:
            found.append(Drift(row.code, row.computed_points, expected, row.code))
    return found


def _override_drift(card: Scorecard, overrides: dict[tuple[int, str], Decimal | None]) -> list[Drift]:
    """The street's overrides against the last override the ledger holds for each criterion."""
    return [Drift(f"{row.code}.override", row.override_points, overrides.get((card.org_id, row.code)), row.code)
            for row in card.criteria if row.override_points != overrides.get((card.org_id, row.code))]


def _number(value) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _total_drift(card: Scorecard, found: list[Drift]) -> list[Drift]:
    """Totals, stars and grade against what the criteria add up to — with the points
    `found` to have drifted as they should be."""
    rubric = card.period.rubric.body
    computed = {d.code: d.new for d in found if d.code and d.what == d.code}
    overrides = {d.code: d.new for d in found if d.code and d.what == f"{d.code}.override"}
    standards = {s["code"]: engine.ZERO for s in rubric["standards"]}
    counted = []
    for row in card.criteria:
        override = overrides.get(row.code, row.override_points)
        value = override if override is not None else computed.get(row.code, row.computed_points)
        standards[row.standard_code] += value
        if row.points != value and row.code not in computed and row.code not in overrides:
            counted.append(Drift(f"{row.code}.counted", row.points, value, row.code))
    total = sum(standards.values(), engine.ZERO)
    stored = card.standards or {}
    found = counted + [Drift(f"standards.{code}", stored.get(code), value) for code, value in standards.items()
             if _number(stored.get(code)) != value]
    if card.total != total:
        found.append(Drift("total", card.total, total))
    if card.stars != engine.stars_for(rubric, standards):
        found.append(Drift("stars", card.stars, engine.stars_for(rubric, standards)))
    if card.grade != engine.grade_for(rubric, total):
        found.append(Drift("grade", card.grade, engine.grade_for(rubric, total)))
    return found


def _recounted_drift(cards: list[Scorecard]) -> dict[int, list[Drift]]:
    """Per card, its poll tallies and then its subtree's running wish and service figures
    against a count of the rows, as if counted card after card: what one card's recount
    repaired, the next no longer finds. Each is read with the same few statements for all the
    cards, and rebuilt where it differs, so the recompute that follows reads the true counts."""
    found = _tally_drift(cards)
    orgs = [card.org for card in cards]
    trees = Subtrees(orgs)
    for name, figures in (("wish_figures", wish_figures), ("service_figures", service_figures)):
        for card, differences in zip(cards, figures.recount_many(orgs, trees), strict=True):
            shown = differences[:20]
            if shown:
                found[card.id].append(Drift(name, {what: old for what, old, _ in shown},
                                            {what: new for what, _, new in shown}))
    return found


def _tally_drift(cards: list[Scorecard]) -> dict[int, list[Drift]]:
    """Per card, the running tallies of its campaign's polls of its org against a count of
    the stored answers; rebuilt where they differ."""
    found: dict[int, list[Drift]] = {card.id: [] for card in cards}
    card_of = {(card.period_id, card.org_id): card.id for card in cards}
    listed = db.session.execute(sa.select(Poll.id, Poll.period_id, Poll.org_id).where(
        Poll.period_id.in_({card.period_id for card in cards}), Poll.org_id.in_({card.org_id for card in cards}))
        .order_by(Poll.id)).all()
    polls_of = [(poll_id, card_of[(period_id, org_id)]) for poll_id, period_id, org_id in listed
                if (period_id, org_id) in card_of]
    ids = [poll_id for poll_id, _ in polls_of]
    stored_of, counted_of = polls.stored_tallies_of(ids), polls.recompute_tallies_of(ids)
    for poll_id, card_id in polls_of:
        stored, counted = stored_of[poll_id], counted_of[poll_id]
        if stored == counted:
            continue
        keys = sorted(k for k in set(stored) | set(counted) if stored.get(k, 0) != counted.get(k, 0))[:20]
        found[card_id].append(Drift(f"poll_tallies.{poll_id}", {"/".join(map(str, k)): stored.get(k, 0) for k in keys},
                                    {"/".join(map(str, k)): counted.get(k, 0) for k in keys}))
        polls.rebuild_tallies(db.session.get(Poll, poll_id), counted)
    return found


def _report(card: Scorecard, found: list[Drift]) -> None:
    """A ledger entry saying what drifted, and a word to every admin."""
    period = card.period
    ledger.append(period, "score_drift", org_id=card.org_id, drift=[d.as_dict() for d in found], repaired=True)
    current_app.logger.warning("scorecard %s of campaign %s drifted: %s", card.id, period.id,
                               "; ".join(f"{d.what} {d.old} → {d.new}" for d in found))
    message = (f"{period.name}：{card.org.name}的评分有 {len(found)} 处与重新核算不符，"
               "已记入台账并按数据修正，请查明原因")
    notify_all(admins(), "score_drift", "period", period.id, message)


def _repair_manual(card: Scorecard, found: list[Drift]) -> list[ScoreEvent]:
    """Manual criteria back to the points the ledger holds (or, when only what counts was
    edited, to what their points and override give)."""
    rows = {row.code: row for row in card.criteria if row.source == Source.manual}
    items = items_of(card.period.rubric.body)
    events = []
    for drift in found:
        row = rows.get(drift.code)
        if row is None or drift.what not in (drift.code, f"{drift.code}.counted"):
            continue
        value = drift.new if drift.what == drift.code else row.computed_points
        event = engine.set_manual(card, row, value, REPAIR_CAUSE)
        row.explanation = engine.manual_explanation(row, items[row.code])
        events += [event] if event else []
    return events


def _repair_overrides(card: Scorecard, found: list[Drift]) -> list[ScoreEvent]:
    """Overrides back to what the ledger holds."""
    rows = {row.code: row for row in card.criteria}
    events = []
    for drift in found:
        if drift.code in rows and drift.what == f"{drift.code}.override":
            event = engine.set_override(card, rows[drift.code], drift.new, REPAIR_CAUSE)
            events += [event] if event else []
    return events
