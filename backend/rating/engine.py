"""How a score is made: each criterion from its source, the standards and the total from the
criteria, stars (or a grade) from the standards, and a score event for every change.

`recompute(card, codes)` touches only the criteria named (the incremental path, run in the
transaction that changed the data); `recompute(card)` recomputes every computed criterion
(the full path). Both end in `_apply`, so the two can only differ in which criteria they
read, and a property test checks that after any sequence of events they agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

from backend.extensions import db, utcnow
from backend.polls.service import criterion_tallies
from backend.rating.metrics import METRICS, Context, phrase
from backend.rating.models import CriterionScore, Scorecard, ScoreEvent, Source
from backend.rating.rubrics import criteria_of, items_of

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def points(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def fmt(value: Decimal) -> str:
    """16.00 → "16", 4.60 → "4.6": points as people write them."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


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


def poll_points(criterion: dict, rubric: dict, tallies: list[dict]) -> Computed:
    """points = max × clamp((satisfaction − low) / (high − low), 0, 1); questions of a poll
    below its audience's minimum sample do not count. If none counts, the value it would
    have is shown as provisional (样本不足) and 0 counts."""
    most = Decimal(str(criterion["max_points"]))
    rule = rubric["poll"]
    minimum = rule["min_answers"]
    answered = [t for t in tallies if t["count"]]
    enough = [t for t in answered if t["count"] >= minimum.get(t["audience"], 0)]
    inputs = {"questions": tallies, "min_answers": minimum}

    def satisfaction(items: list[dict]) -> float:
        weight = sum(t["weight"] for t in items)
        return sum(t["weight"] * t["top_two"] / t["count"] for t in items) / weight

    def worth(share: float) -> Decimal:
        return points(most * Decimal(str(_linear(share, rule["high"], rule["low"]))))

    if not answered:
        return Computed(ZERO, inputs, f"暂无测评答卷 → 0/{fmt(most)} 分")
    n = max(t["count"] for t in (enough or answered))
    if not enough:
        share = satisfaction(answered)
        need = max(minimum.get(t["audience"], 0) for t in answered)
        inputs["satisfaction"] = round(share, 4)
        return Computed(ZERO, inputs, f"满意率 {share * 100:.1f}%（{n} 份，样本不足 {need} 份）→ 暂计 0 分，"
                                      f"达到样本后约 {fmt(worth(share))} 分", provisional=worth(share))
    share = satisfaction(enough)
    inputs["satisfaction"] = round(share, 4)
    got = worth(share)
    return Computed(got, inputs, f"满意率 {share * 100:.1f}%（{n} 份）→ {fmt(got)}/{fmt(most)} 分")


def manual_explanation(row: CriterionScore, criterion: dict) -> str:
    most = fmt(row.max_points)
    if row.entered_by_id is None and not row.deductions:
        return f"待评分（满分 {most} 分）"
    ticked = [criterion["deductions"][i] for i in row.deductions or [] if i < len(criterion.get("deductions", []))]
    if ticked:
        lost = "；".join(f"{d['text']} −{fmt(Decimal(str(d['points'])))}" for d in ticked)
        return f"扣分：{lost} → {fmt(row.points)}/{most} 分"
    return f"评定 {fmt(row.points)}/{most} 分"


def standards_of(card: Scorecard) -> dict[str, Decimal]:
    totals = {s["code"]: ZERO for s in card.period.rubric.body["standards"]}
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


def create_criteria(card: Scorecard) -> None:
    """Empty rows for every criterion of the rubric: manual ones wait for an entry."""
    for standard, criterion in criteria_of(card.period.rubric.body):
        card.criteria.append(CriterionScore(
            code=criterion["code"], standard_code=standard["code"], source=criterion["source"],
            max_points=points(criterion["max_points"]), points=ZERO, computed_points=ZERO, inputs={},
            explanation=f"待评分（满分 {fmt(points(criterion['max_points']))} 分）"))


def lock(card: Scorecard) -> Scorecard:
    """Serialise score changes of one scorecard: two answers arriving together both count."""
    db.session.execute(sa.select(Scorecard.id).where(Scorecard.id == card.id).with_for_update())
    db.session.refresh(card)
    return card


def recompute(card: Scorecard, codes: set[str] | None = None, *, cause: str = "重新核算",
              now: datetime | None = None) -> list[ScoreEvent]:
    """Recompute the poll and metric criteria in `codes` (all of them when None)."""
    rubric = card.period.rubric.body
    by_code = items_of(rubric)
    ctx = Context(org=card.org, year=card.period.year, now=now or utcnow())
    tallies = None
    results: dict[str, Computed] = {}
    for row in card.criteria:
        if row.source == Source.manual or (codes is not None and row.code not in codes):
            continue
        if row.source == Source.metric:
            results[row.code] = metric_points(by_code[row.code], ctx)
        else:
            if tallies is None:
                tallies = criterion_tallies(card.period_id, card.org_id)
            results[row.code] = poll_points(by_code[row.code], rubric, tallies.get(row.code, []))
    return _apply(card, results, cause)


def _apply(card: Scorecard, results: dict[str, Computed], cause: str) -> list[ScoreEvent]:
    """Store computed criteria; one score event per criterion whose points moved — or whose
    provisional value or answer count moved (a poll still short of its sample: old = new, the
    dashboard shows the answers coming in) — each with the standard total, total and stars just after it."""
    rubric = card.period.rubric.body
    standards = standards_of(card)
    stars = stars_for(rubric, standards)
    events = []
    for row in card.criteria:
        computed = results.get(row.code)
        if computed is None:
            continue
        old, was = row.points, (row.provisional, row.explanation)
        row.computed_points, row.provisional = computed.points, computed.provisional
        row.points = counted(row)
        row.inputs, row.explanation = _jsonable(computed.inputs), computed.explanation[:300]
        # Under the street's override a poll's sample coming in moves nothing that counts.
        short = not row.overridden and (computed.provisional is not None or was[0] is not None)
        if old != row.points or (short and was != (row.provisional, row.explanation)):
            row.updated_at = utcnow()
            events.append(_event(card, row, old, standards, stars, cause))
            standards = standards_of(card)
            stars = stars_for(rubric, standards)
    _store_totals(card, standards)
    return events


def _event(card: Scorecard, row: CriterionScore, old: Decimal, standards_before: dict, stars_before: int | None,
           cause: str) -> ScoreEvent:
    rubric = card.period.rubric.body
    standards = dict(standards_before)
    standards[row.standard_code] += row.points - old
    event = ScoreEvent(period_id=card.period_id, org_id=card.org_id, criterion=row.code, standard=row.standard_code,
                       old=old, new=row.points, standard_total=standards[row.standard_code],
                       total=sum(standards.values(), ZERO), stars_before=stars_before,
                       stars_after=stars_for(rubric, standards), cause=cause[:200])
    db.session.add(event)
    return event


def _store_totals(card: Scorecard, standards: dict[str, Decimal]) -> None:
    rubric = card.period.rubric.body
    card.standards = {code: str(value) for code, value in standards.items()}
    card.total = sum(standards.values(), ZERO)
    card.stars = stars_for(rubric, standards)
    card.grade = grade_for(rubric, card.total)
    card.updated_at = utcnow()


def counted(row: CriterionScore) -> Decimal:
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
    stars = stars_for(card.period.rubric.body, standards)
    old = row.points
    row.points = counted(row)
    row.updated_at = utcnow()
    event = _event(card, row, old, standards, stars, cause) if old != row.points else None
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
