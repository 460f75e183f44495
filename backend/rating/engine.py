"""How a score is made: each criterion from its source, the standards and the total from the
criteria, stars (or a grade) from the standards, and a score event for every change.

`recompute(card, codes)` touches only the criteria named (the incremental path, run in the
transaction that changed the data); `recompute(card)` recomputes every computed criterion
and every manual one scored by its deduction ticks (the full path). Both are `compute` then
`store`, so the two can only differ in which criteria they read, and a property test checks
that after any sequence of events they agree. Each stored value keeps the time it was
computed as of, so the drift check (`backend.rating.watch`) can tell a figure that moved with
time alone from one that drifted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.util import identity_key

from backend.extensions import UTCDateTime, db, utcnow
from backend.polls.models import AUDIENCE_LABELS, Audience
from backend.rating import deductions
from backend.rating.metrics import METRICS, Batch, Context, phrase
from backend.rating.models import CriterionScore, Scorecard, ScoreEvent, Source
from backend.rating.rubrics import criteria_of, items_of, poll_audiences

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def points(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def fmt(value: Decimal) -> str:
    """16.00 → "16", 4.60 → "4.6": points as people write them."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


class Place(NamedTuple):
    """An org as the figures place it: its id and its path."""

    id: int
    path: str


@dataclass(slots=True)
class Criterion:
    """A criterion of a `Sheet`: the columns a recompute reads and sets, as plain values."""

    id: int
    code: str
    standard_code: str
    source: str
    points: Decimal
    computed_points: Decimal
    provisional: Decimal | None
    explanation: str
    computed_at: datetime | None
    override_points: Decimal | None
    inputs: dict | None = None
    #: Set when its points move (or a poll's sample does): the time it moved.
    updated_at: datetime | None = None

    @property
    def overridden(self) -> bool:
        return self.override_points is not None


@dataclass
class Sheet:
    """A scorecard as a write's recompute reads and stores it (`recompute_sheet`): the columns
    it needs, its criteria as `Criterion` rows, written back by core UPDATEs. A write recomputes
    a few criteria; loading and flushing the card's thirty as ORM objects cost more than that."""

    id: int
    period_id: int
    year: int
    rubric_body: dict
    org: Place
    criteria: list[Criterion] = field(default_factory=list)
    standards: dict = field(default_factory=dict)
    total: Decimal = ZERO
    stars: int | None = None
    grade: str | None = None
    updated_at: datetime | None = None

    @property
    def org_id(self) -> int:
        return self.org.id


@dataclass
class Computed:
    points: Decimal
    inputs: dict
    explanation: str
    provisional: Decimal | None = None


def _linear(value: float, full_at: float, zero_at: float) -> float:
    """0 at `zero_at`, 1 at `full_at`, straight in between (either direction), clamped."""
    share = (value - zero_at) / (full_at - zero_at)
    return min(1.0, max(0.0, share))


def metric_points(criterion: dict, ctx: Context) -> Computed:
    most = Decimal(str(criterion["max_points"]))
    got, inputs, phrases = ZERO, {}, []
    for part in criterion["parts"]:
        metric = METRICS[part["metric"]]
        share_of_max = Decimal(str(part.get("points", criterion["max_points"])))
        value, detail = metric.compute(ctx)
        inputs[part["metric"]] = {"value": value, **detail}
        if value is not None:
            got += share_of_max * Decimal(str(_linear(value, part["full_at"], part["zero_at"])))
        phrases.append(f"{metric.label} {phrase(metric, value)}")
    got = min(points(got), most)
    return Computed(got, inputs, f"{'，'.join(phrases)} → {fmt(got)}/{fmt(most)} 分")


def _sheets(questions: list[dict], order: tuple[str, ...]) -> dict[str, int]:
    """Answer sheets per audience, in `order`: per poll, the most answered of its questions
    mapped to the criterion (every sheet that answered one of them, when they are required),
    summed."""
    per_poll: dict[tuple[str, int], int] = {}
    for t in questions:
        key = (t["audience"], t["poll_id"])
        per_poll[key] = max(per_poll.get(key, 0), t["count"])
    sheets = dict.fromkeys(order, 0)
    for (audience, _), n in per_poll.items():
        sheets[audience] = sheets.get(audience, 0) + n
    return {audience: n for audience, n in sheets.items() if n}


def _pooled(questions: list[dict]) -> float:
    """Share of the top two levels over every answer, each weighted by its question's weight."""
    return sum(t["weight"] * t["top_two"] for t in questions) / sum(t["weight"] * t["count"] for t in questions)


def _sample_phrase(sheets: dict[str, int], polls: int, counted: list[str], minimum: dict) -> str:
    """"143 份", "党员测评 30 份、群众满意度测评 300 份，合并 330 份", "12 份，样本不足 30 份" ..."""
    named = len(sheets) > 1
    kept = [f"{AUDIENCE_LABELS[Audience(a)] + ' ' if named else ''}{sheets[a]} 份" for a in counted]
    total = sum(sheets[a] for a in counted)
    text = "、".join(kept)
    if len(kept) > 1:
        text += f"，合并 {total} 份"
    elif kept and polls > 1:
        text = f"{polls} 次测评合并 {total} 份"
    short = [f"{AUDIENCE_LABELS[Audience(a)] + ' ' if named else ''}{n} 份，样本不足 {minimum.get(a, 0)} 份"
             + ("，未计入" if counted else "") for a, n in sheets.items() if a not in counted]
    return "；".join(part for part in [text, *short] if part)


def poll_points(criterion: dict, rubric: dict, tallies: list[dict]) -> Computed:
    """points = max × clamp((satisfaction − low) / (high − low), 0, 1).

    Only polls of the item's audiences feed it. Satisfaction pools every counted answer of
    the campaign (Σ weight × top two ÷ Σ weight × answers), so a poll weighs as many answers
    as it has. An audience counts once its answer sheets reach its minimum sample; while none
    does, the value it would give is shown as provisional (样本不足) and 0 counts."""
    most = Decimal(str(criterion["max_points"]))
    rule = rubric["poll"]
    minimum = rule["min_answers"]
    audiences = poll_audiences(criterion)
    fed = [t for t in tallies if (audiences is None or t["audience"] in audiences) and t["weight"] > 0]
    # Audiences in the rubric's order, so the sentence reads the same however rows arrive.
    sheets = _sheets(fed, audiences or tuple(a.value for a in Audience))
    counted = [a for a, n in sheets.items() if n >= minimum.get(a, 0)]
    inputs = {"questions": fed, "min_answers": minimum, "audience": list(audiences) if audiences else None,
              "sheets": sheets, "left_out": [t for t in tallies if t not in fed and t["count"]]}

    def worth(share: float) -> Decimal:
        return points(most * Decimal(str(_linear(share, rule["high"], rule["low"]))))

    if not sheets:
        return Computed(ZERO, inputs, f"暂无测评答卷 → 0/{fmt(most)} 分")
    pool = [t for t in fed if t["audience"] in (counted or sheets)]
    share = _pooled(pool)
    inputs["satisfaction"] = round(share, 4)
    inputs["pooled"] = sum(sheets[a] for a in (counted or sheets))
    sample = _sample_phrase(sheets, len({t["poll_id"] for t in pool if t["count"]}), counted, minimum)
    if not counted:
        return Computed(ZERO, inputs, f"满意率 {share * 100:.1f}%（{sample}）→ 暂计 0 分，"
                                      f"达到样本后约 {fmt(worth(share))} 分", provisional=worth(share))
    got = worth(share)
    return Computed(got, inputs, f"满意率 {share * 100:.1f}%（{sample}）→ {fmt(got)}/{fmt(most)} 分")


def deduction_points(criterion: dict, most: Decimal, ticks: list | None) -> Computed:
    """A manual criterion scored by its deduction ticks (any kind, `backend.rating.deductions`):
    the maximum less what the ticks lose, never below 0."""
    found = deductions.lines(criterion, ticks)
    lost = sum((p for _, p in found), ZERO)
    got = max(points(most - lost), ZERO)
    if not found:
        return Computed(got, {"by": "deductions", "lost": 0.0}, f"无扣分项 → {fmt(got)}/{fmt(most)} 分")
    said = "；".join(f"{text} −{fmt(p)}" for text, p in found)
    return Computed(got, {"by": "deductions", "lost": float(lost)}, f"扣分：{said} → {fmt(got)}/{fmt(most)} 分")


def given_points(criterion: dict, most: Decimal, got: Decimal, ticks: list | None) -> Computed:
    """A manual criterion whose points were entered directly, with the ticks (if any) as the
    reasons: the points stand, whatever the ticks would give (a judgement the rubric allows,
    酌情给分, or an appeal)."""
    found = deductions.lines(criterion, ticks)
    said = "；".join(f"{text} −{fmt(p)}" for text, p in found)
    return Computed(got, {"by": "points"}, f"扣分：{said}；评定 {fmt(got)}/{fmt(most)} 分" if found
                    else f"评定 {fmt(got)}/{fmt(most)} 分")


def manual_explanation(row: CriterionScore, criterion: dict) -> str:
    """What a manual criterion's stored points say (after a repair puts them back): the ticks'
    account when the points are what the ticks give, else the points as judged."""
    most = fmt(row.max_points)
    if row.entered_by_id is None and not row.deductions:
        return f"待评分（满分 {most} 分）"
    if row.deductions:
        ticked = deduction_points(criterion, row.max_points, row.deductions)
        if ticked.points == row.points:
            return ticked.explanation
    return f"评定 {fmt(row.points)}/{most} 分"


def standards_of(card: Scorecard | Sheet) -> dict[str, Decimal]:
    totals = {s["code"]: ZERO for s in card.rubric_body["standards"]}
    for row in card.criteria:
        totals[row.standard_code] += row.points
    return totals


def stars_for(rubric: dict, standards: dict[str, Decimal]) -> int | None:
    if rubric["kind"] != "stars":
        return None
    threshold = Decimal(str(rubric["rules"]["star_threshold"]))
    return sum(1 for value in standards.values() if value >= threshold)


def grade_for(rubric: dict, total: Decimal) -> str | None:
    if rubric["kind"] != "grades":
        return None
    return next(g["name"] for g in rubric["rules"]["grades"] if total >= Decimal(str(g["min"])))


def empty_criteria(rubric: dict) -> list[dict]:
    """Empty rows (columns but the scorecard's) for every criterion of the rubric: manual ones
    wait for an entry. Rows, not objects: a campaign inserts a district's in one statement."""
    return [{"code": criterion["code"], "standard_code": standard["code"], "source": criterion["source"],
             "max_points": points(criterion["max_points"]), "points": ZERO, "computed_points": ZERO, "inputs": {},
             "explanation": f"待评分（满分 {fmt(points(criterion['max_points']))} 分）"}
            for standard, criterion in criteria_of(rubric)]


def lock(card: Scorecard) -> Scorecard:
    """Serialise score changes of one scorecard: two answers arriving together both count."""
    db.session.execute(sa.select(Scorecard.id).where(Scorecard.id == card.id).with_for_update())
    db.session.refresh(card)
    return card


def lock_many(ids: list[int]) -> list[Scorecard]:
    """`lock` many scorecards in one statement (their criteria and orgs in one more each), in
    the order of their ids: a batch's scorecards held for the batch's writes."""
    return list(db.session.scalars(
        sa.select(Scorecard).where(Scorecard.id.in_(ids)).order_by(Scorecard.id).with_for_update()
        .options(selectinload(Scorecard.criteria), selectinload(Scorecard.org))
        .execution_options(populate_existing=True)))


def batches(cards: list[Scorecard], now: datetime, *, full: bool = False) -> dict[int, Batch]:
    """Scorecard id → the batch its figures are read in: one per campaign year among `cards`."""
    by_year: dict[int, list[Scorecard]] = {}
    for card in cards:
        by_year.setdefault(card.year, []).append(card)
    found = {}
    for year, same_year in by_year.items():
        batch = Batch([card.org for card in same_year], year, now, full)
        found.update(dict.fromkeys((card.id for card in same_year), batch))
    return found


def compute(card: Scorecard | Sheet, codes: set[str] | None = None, now: datetime | None = None, *,
            full: bool = False, batch: Batch | None = None) -> dict[str, Computed]:
    """What the data give, as of `now`, for the poll and metric criteria in `codes` (all of
    them, and the manual ones scored by deduction ticks, when None); nothing is stored.
    `full` counts the figures from every row rather than their running totals. `batch` (see
    `batches`), when given, reads the figures together with other scorecards' and holds `now`
    and `full`; the result is the same as without it. A `Sheet` holds what the incremental
    path reads (`codes` given)."""
    rubric = card.rubric_body
    by_code = items_of(rubric)
    batch = batch or Batch([card.org], card.year, now or utcnow(), full)
    ctx = batch.context(card.org)
    results: dict[str, Computed] = {}
    for row in card.criteria:
        if codes is not None and row.code not in codes:
            continue
        if row.source == Source.metric:
            results[row.code] = metric_points(by_code[row.code], ctx)
        elif row.source == Source.poll:
            tallies = batch.tallies(card.period_id)[card.org_id]
            results[row.code] = poll_points(by_code[row.code], rubric, tallies.get(row.code, []))
        elif codes is None and (row.inputs or {}).get("by") == "deductions":
            results[row.code] = deduction_points(by_code[row.code], row.max_points, row.deductions)
    return results


def recompute(card: Scorecard, codes: set[str] | None = None, *, cause: str = "重新核算",
              now: datetime | None = None, full: bool = False) -> list[ScoreEvent]:
    """Recompute the poll and metric criteria in `codes` (all of them when None); `full`
    counts the figures from every row rather than their running totals."""
    now = now or utcnow()
    return store(card, compute(card, codes, now, full=full), cause, now)


def recompute_many(cards: list[Scorecard], *, cause: str, now: datetime | None = None) -> list[ScoreEvent]:
    """`recompute` every criterion of each of `cards`, their figures read together."""
    now = now or utcnow()
    found = batches(cards, now)
    return [event for card in cards for event in store(card, compute(card, batch=found[card.id]), cause, now)]


def same(row: CriterionScore, computed: Computed) -> bool:
    """Whether a stored criterion holds what was computed (its computed points — an override
    beside them is the street's, not the data's — and a short poll's provisional value)."""
    return (row.computed_points, row.provisional) == (computed.points, computed.provisional)


def store(card: Scorecard, results: dict[str, Computed], cause: str, at: datetime) -> list[ScoreEvent]:
    """Store computed criteria (computed as of `at`); one score event per criterion whose points moved — or, for a
    poll, whose answer count, rate or provisional value moved (old = new: the dashboard shows
    the answers coming in) — each with the standard total, total and stars just after it."""
    events = [ScoreEvent(**values) for values in _settle(card, results, cause, at)]
    db.session.add_all(events)
    return events


def recompute_sheet(sheet: Sheet, codes: set[str], *, cause: str, now: datetime) -> list[dict]:
    """`recompute(card, codes)` of a `Sheet`, written by core statements: the criteria
    recomputed, the scorecard's totals, and the score events (their values returned)."""
    results = compute(sheet, codes, now)
    events = _settle(sheet, results, cause, now)
    rows = [row for row in sheet.criteria if row.code in results]
    if rows:
        db.session.execute(_STORE_CRITERIA, [
            {"row_id": row.id, "row_computed": row.computed_points, "row_provisional": row.provisional,
             "row_points": row.points, "row_inputs": row.inputs, "row_explanation": row.explanation,
             "row_at": row.computed_at, "row_moved_at": row.updated_at} for row in rows])
    db.session.execute(_STORE_CARD, {
        "card_id": sheet.id, "card_standards": sheet.standards, "card_total": sheet.total, "card_stars": sheet.stars,
        "card_grade": sheet.grade, "card_at": sheet.updated_at})
    if events:
        db.session.execute(_ADD_EVENTS, events)
    _forget_loaded(sheet, rows)
    return events


def sheets(cards: list[Sheet]) -> list[Sheet]:
    """`cards` (read without their criteria) with their criteria, read in one statement."""
    if cards:
        by_id = {card.id: card for card in cards}
        for card_id, *columns in db.session.execute(_SHEET_CRITERIA, {"cards": list(by_id)}):
            by_id[card_id].criteria.append(Criterion(*columns))
    return cards


def _forget_loaded(sheet: Sheet, rows: list[Criterion]) -> None:
    """Expire the ORM objects of the scorecard and criteria just written past the ORM, should
    the session hold them (a request's commit keeps what it loaded): they are read again."""
    session = db.session()
    for key in [identity_key(Scorecard, sheet.id), *(identity_key(CriterionScore, row.id) for row in rows)]:
        loaded = session.identity_map.get(key)
        if loaded is not None:
            session.expire(loaded)


#: A `Sheet`'s criteria, the columns in the order of `Criterion`'s fields, and its writes in
#: `recompute_sheet`: built once, as every watched write runs them. A criterion keeps its
#: `updated_at` unless its points moved.
_SHEET_CRITERIA = (
    sa.select(CriterionScore.scorecard_id, CriterionScore.id, CriterionScore.code, CriterionScore.standard_code,
              CriterionScore.source, CriterionScore.points, CriterionScore.computed_points,
              CriterionScore.provisional, CriterionScore.explanation, CriterionScore.computed_at,
              CriterionScore.override_points)
    .where(CriterionScore.scorecard_id.in_(sa.bindparam("cards", expanding=True))).order_by(CriterionScore.id))
_CRITERIA = CriterionScore.__table__
_CARDS = Scorecard.__table__
_STORE_CRITERIA = sa.update(_CRITERIA).where(_CRITERIA.c.id == sa.bindparam("row_id")).values(
    computed_points=sa.bindparam("row_computed"), provisional=sa.bindparam("row_provisional"),
    points=sa.bindparam("row_points"), inputs=sa.bindparam("row_inputs"),
    explanation=sa.bindparam("row_explanation"), computed_at=sa.bindparam("row_at"),
    updated_at=sa.func.coalesce(sa.bindparam("row_moved_at", type_=UTCDateTime()), _CRITERIA.c.updated_at))
_STORE_CARD = sa.update(_CARDS).where(_CARDS.c.id == sa.bindparam("card_id")).values(
    standards=sa.bindparam("card_standards"), total=sa.bindparam("card_total"), stars=sa.bindparam("card_stars"),
    grade=sa.bindparam("card_grade"), updated_at=sa.bindparam("card_at"))
_ADD_EVENTS = sa.insert(ScoreEvent.__table__)


def _settle(card: Scorecard | Sheet, results: dict[str, Computed], cause: str, at: datetime) -> list[dict]:
    """`store`'s changes made to `card` and its criteria; the values of its score events."""
    rubric = card.rubric_body
    standards = standards_of(card)
    stars = stars_for(rubric, standards)
    events = []
    for row in card.criteria:
        computed = results.get(row.code)
        if computed is None:
            continue
        old, was, first = row.points, (row.provisional, row.explanation), row.computed_at is None
        row.computed_points, row.provisional = computed.points, computed.provisional
        row.points = counted(row)
        row.inputs, row.explanation = _jsonable(computed.inputs), computed.explanation[:300]
        row.computed_at = at
        # A poll's answers are news even when its points stay (short of the sample, or already
        # at the top of its scale): the dashboard shows the count and the rate moving. Under
        # the street's override a poll's sample coming in moves nothing that counts; a
        # campaign's first figures are no answers coming in.
        sampled = not first and not row.overridden and row.source == Source.poll
        if old != row.points or (sampled and was != (row.provisional, row.explanation)):
            row.updated_at = utcnow()
            events.append(_event(card, row, old, standards, stars, cause))
            standards = standards_of(card)
            stars = stars_for(rubric, standards)
    _store_totals(card, standards)
    return events


def _event(card: Scorecard | Sheet, row: CriterionScore | Criterion, old: Decimal, standards_before: dict,
           stars_before: int | None, cause: str) -> dict:
    """The values of a score event."""
    rubric = card.rubric_body
    standards = dict(standards_before)
    standards[row.standard_code] += row.points - old
    return {"period_id": card.period_id, "org_id": card.org_id, "criterion": row.code, "standard": row.standard_code,
            "old": old, "new": row.points, "standard_total": standards[row.standard_code],
            "total": sum(standards.values(), ZERO), "stars_before": stars_before,
            "stars_after": stars_for(rubric, standards), "cause": cause[:200]}


def _store_totals(card: Scorecard | Sheet, standards: dict[str, Decimal]) -> None:
    rubric = card.rubric_body
    card.standards = {code: str(value) for code, value in standards.items()}
    card.total = sum(standards.values(), ZERO)
    card.stars = stars_for(rubric, standards)
    card.grade = grade_for(rubric, card.total)
    card.updated_at = utcnow()


def counted(row: CriterionScore | Criterion) -> Decimal:
    """What a criterion counts: the street's override while there is one, else what its
    source gives. Every path that stores points goes through here, so the incremental and
    the full recompute cannot disagree about an override."""
    return row.override_points if row.override_points is not None else row.computed_points


def set_manual(card: Scorecard, row: CriterionScore, new_points: Decimal, cause: str) -> ScoreEvent | None:
    """A manual criterion's new points, with its event; the caller has checked who and when.
    Under an override the entry is kept as the computed value and the override still counts."""
    row.computed_points = new_points
    return _recount(card, row, cause)


def set_override(card: Scorecard, row: CriterionScore, value: Decimal | None, cause: str) -> ScoreEvent | None:
    """The street's value for any criterion (None removes it and the computed value counts
    again), with its event; the caller has checked who and when."""
    row.override_points = value
    return _recount(card, row, cause)


def _recount(card: Scorecard, row: CriterionScore, cause: str) -> ScoreEvent | None:
    standards = standards_of(card)
    stars = stars_for(card.rubric_body, standards)
    old = row.points
    row.points = counted(row)
    row.updated_at = utcnow()
    event = ScoreEvent(**_event(card, row, old, standards, stars, cause)) if old != row.points else None
    if event is not None:
        db.session.add(event)
    _store_totals(card, standards_of(card))
    return event


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value
