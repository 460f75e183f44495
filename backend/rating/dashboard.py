"""What a live dashboard shows of a scorecard: stars, standards against the star line, the
poll criteria with their answers and rate, the recent score events in words (a burst of
answers as one row), the total over time, and what would win the next star — all read from
the rubric and the stored scores."""

from __future__ import annotations

import math
import re
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app

from backend.extensions import db, utcnow
from backend.orgs.models import Org
from backend.polls.models import AUDIENCE_LABELS, Audience, Poll, PollQuestion
from backend.polls.service import respondent_counts
from backend.rating.engine import fmt
from backend.rating.metrics import METRICS, phrase
from backend.rating.models import Phase, Scorecard, ScoreEvent, Source
from backend.rating.quotas import STAR_NAMES, Candidate, apply_quotas, places
from backend.rating.rubrics import items_of
from backend.wishes.models import Wish

#: Rows of the feed.
FEED_SIZE = 20
#: Score events read to make those rows: a burst of answers is many events and one row.
FEED_EVENTS = 300
#: Answers (or events of one cause) closer together than this are one burst: one feed row.
BURST_SECONDS = 120
TREND_POINTS = 60

_ANSWER = re.compile(r"^(?P<poll>.+)第 (?P<n>\d+) 份答卷$")


def answer_cause(poll_label: str, n: int) -> str:
    """What a poll answer says on its score events ("群众满意度测评第 12 份答卷"); the feed
    reads a burst of them back as one row."""
    return f"{poll_label}第 {n} 份答卷"


def _burst_key(event: ScoreEvent) -> str:
    found = _ANSWER.match(event.cause)
    return found["poll"] if found else event.cause


def feed(events: list[ScoreEvent], names: dict[str, str], short: set[str]) -> list[dict]:
    """Score events, newest first, as feed rows in words. One change (an answer moving three
    criteria) is one row, and so is a burst of answers to one poll: each answer is news, but
    twenty identical rows bury the one that moved a star. `short` names the criteria still
    short of their sample."""
    groups: list[list[ScoreEvent]] = []
    for event in events:
        if groups and _burst_key(groups[-1][-1]) == _burst_key(event) \
                and (groups[-1][-1].created_at - event.created_at).total_seconds() <= BURST_SECONDS:
            groups[-1].append(event)
        else:
            groups.append([event])
    return [_feed_row(group, names, short) for group in groups[:FEED_SIZE]]


def _titles(titles: list[str]) -> str:
    """Up to three criteria by name; more (a campaign starting, a full recompute) as a count."""
    return "、".join(titles) if len(titles) <= 3 else f"{'、'.join(titles[:2])}等 {len(titles)} 项"


def _feed_row(group: list[ScoreEvent], names: dict[str, str], short: set[str]) -> dict:
    newest, oldest = group[0], group[-1]
    codes = list(dict.fromkeys(e.criterion for e in reversed(group)))
    delta = sum((e.new - e.old for e in group), Decimal(0))
    answers = sorted({int(found["n"]) for e in group if (found := _ANSWER.match(e.cause))})
    cause = newest.cause
    if len(answers) > 1:
        cause = f"{_ANSWER.match(newest.cause)['poll']}第 {answers[0]}–{answers[-1]} 份答卷（{len(answers)} 份）"
    if delta:
        said = f"{'+' if delta > 0 else '−'}{fmt(abs(delta))} 分"
    else:
        # old = new: a poll's answers came in; short of its sample they count 0 for now.
        said = "样本不足，暂计 0 分" if all(code in short for code in codes) else "分数不变"
    return {"id": newest.id, "at": newest.created_at.isoformat(), "criteria": codes,
            "title": _titles([names.get(code, code) for code in codes]), "delta": said, "cause": cause,
            "events": len(group), "total": float(newest.total),
            "stars_before": oldest.stars_before, "stars_after": newest.stars_after}


def summary(card: Scorecard) -> dict:
    period = card.period
    body = period.rubric.body
    threshold = body["rules"].get("star_threshold")
    names = {code: c["title"] for code, c in items_of(body).items()}
    stars = card.final_stars if card.final_stars is not None else card.stars
    recent = db.session.scalars(sa.select(ScoreEvent).where(
        ScoreEvent.period_id == period.id, ScoreEvent.org_id == card.org_id)
        .order_by(ScoreEvent.id.desc()).limit(FEED_EVENTS)).all()
    short = {c.code for c in card.criteria if c.provisional is not None and not c.overridden}
    return {
        "org": card.org.name, "period": period.name, "phase": period.phase, "phase_label": period.phase_label,
        "appeal_deadline": period.appeal_deadline.isoformat() if period.appeal_deadline else None,
        "total": float(card.total), "stars": stars, "grade": card.grade, "kind": body["kind"],
        "title": standing(card),
        "threshold": threshold, "standards": standard_rows(card),
        "polls": [{"code": c.code, "title": names[c.code], "explanation": c.explanation, "points": float(c.points),
                   "short": c.code in short} for c in card.criteria if c.source == Source.poll],
        "next_star": next_star(card) if period.phase != Phase.final else None,
        "feed": feed(recent, names, short),
        "trend": trend(card),
        "last_event_id": recent[0].id if recent else 0,
    }


def standard_rows(card: Scorecard) -> list[dict]:
    """Each standard's points out of its maximum, and whether it reaches the star line."""
    body = card.period.rubric.body
    line = body["rules"].get("star_threshold")
    return [{"code": s["code"], "title": s["title"], "value": float(card.standards.get(s["code"], 0)),
             "max": s["max_points"],
             "star": line is not None and Decimal(card.standards.get(s["code"], "0")) >= Decimal(str(line))}
            for s in body["standards"]]


def standing(card: Scorecard) -> str:
    """The title once awarded; before that where the scores stand (quotas may still cut it)."""
    if card.final_stars is not None:
        title = f"{STAR_NAMES[card.final_stars]}级党组织" if card.final_stars else "无星级党组织"
        return f"{title}（得分可评{STAR_NAMES[card.stars]}，受名额限制）" if card.capped else title
    if card.stars is None:
        return f"目前：{card.grade}" if card.period.phase != Phase.final else card.grade
    return f"目前可评{STAR_NAMES[card.stars]}" if card.stars else "目前无星级"


def trend(card: Scorecard) -> list[list]:
    """[time, total] after each score change, thinned to TREND_POINTS evenly spaced ones."""
    rows = db.session.execute(sa.select(ScoreEvent.created_at, ScoreEvent.total).where(
        ScoreEvent.period_id == card.period_id, ScoreEvent.org_id == card.org_id).order_by(ScoreEvent.id)).all()
    step = max(1, math.ceil(len(rows) / TREND_POINTS))
    kept = rows[::step] + ([rows[-1]] if rows and (len(rows) - 1) % step else [])
    return [[at.isoformat(), float(total)] for at, total in kept]


def next_star(card: Scorecard) -> dict | None:
    """For the standard closest below the star line: the gap, and for its criteria with room
    what each would need, in words ("微心愿办结率需达到 90.0%（目前 75.0%）")."""
    body = card.period.rubric.body
    if body["kind"] != "stars":
        return None
    line = Decimal(str(body["rules"]["star_threshold"]))
    below = [(line - Decimal(v), code) for code, v in card.standards.items() if Decimal(v) < line]
    if not below:
        return None
    gap, code = min(below)
    standard = next(s for s in body["standards"] if s["code"] == code)
    items = items_of(body)
    rows = sorted((r for r in card.criteria if r.standard_code == code and r.points < r.max_points),
                  key=lambda r: r.points - r.max_points)
    steps = []
    for r in rows[:3]:
        need = min(gap, r.max_points - r.points)
        steps.append(_step(r, items[r.code], body, need) + ("" if need == gap else f"（可得 {fmt(need)} 分）"))
    return {"standard": standard["title"], "gap": fmt(gap), "steps": steps}


def _step(row, item: dict, body: dict, need: Decimal) -> str:
    target = row.points + need
    if row.source == Source.poll:
        rule = body["poll"]
        share = rule["low"] + float(target / row.max_points) * (rule["high"] - rule["low"])
        now = row.inputs.get("satisfaction")
        text = f"「{item['title']}」满意率需达到 {share * 100:.1f}%"
        if now is not None:
            text += f"（目前 {now * 100:.1f}%）"
        if row.provisional is not None:
            text += "，并收满最低答卷数"
        return text
    if row.source == Source.metric:
        return _metric_step(row, item, need)
    return f"手工评分项「{item['title']}」还可得 {fmt(row.max_points - row.points)} 分"


def _metric_step(row, item: dict, need: Decimal) -> str:
    """The part with the most room, and the value it must reach to give `need` points more."""
    best = None
    for part in item["parts"]:
        weight = Decimal(str(part.get("points", item["max_points"])))
        value = row.inputs.get(part["metric"], {}).get("value")
        span = part["full_at"] - part["zero_at"]
        share = 0.0 if value is None else min(1.0, max(0.0, (value - part["zero_at"]) / span))
        room = weight * Decimal(str(1 - share))
        if best is None or room > best[0]:
            best = (room, part, weight, value, share)
    _, part, weight, value, share = best
    wanted = min(1.0, share + float(need / weight))
    target = part["zero_at"] + wanted * (part["full_at"] - part["zero_at"])
    metric = METRICS[part["metric"]]
    now = f"（目前 {phrase(metric, value)}）"
    if metric.unit == "count":
        more = max(1, math.ceil(target - (value or 0)))
        return f"{metric.label}再增加 {more} 个{now}"
    verb = "降到" if part["full_at"] < part["zero_at"] else "达到"
    return f"{metric.label}需{verb} {phrase(metric, target)}{now}"


#: A standard this close below the star line "sits near a cut-off".
NEAR = Decimal("1")


def campaign_summary(period) -> dict:
    """The street's view: every community ranked, the stars against the quota lines, who sits
    near a cut-off, polls short of their minimum sample, overdue wishes per community."""
    body = period.rubric.body
    rules = body["rules"]
    cards = sorted(period.scorecards, key=lambda c: (-c.total, c.org_id))
    quotas = {q["stars"]: places(q["max_share"], len(cards)) for q in rules.get("quotas", [])}
    final = period.phase == Phase.final
    outcomes = {} if final or body["kind"] != "stars" else {o.org_id: o for o in apply_quotas(
        [Candidate(c.org_id, c.org.name, c.total, c.stars or 0, {k: Decimal(v) for k, v in c.standards.items()},
                   exempt=c.quota_exception is not None) for c in cards], list(quotas.items()))}
    distribution = []
    if body["kind"] == "stars":
        held = [(c.final_stars if final else c.stars) or 0 for c in cards]
        distribution = [{"stars": n, "name": STAR_NAMES[n], "count": held.count(n), "quota": quotas.get(n)}
                        for n in range(5, -1, -1)]
    near = []
    for card in cards:
        outcome = outcomes.get(card.org_id)
        reasons = [] if final else _star_edge(card, body)
        if outcome is not None and outcome.capped:
            reasons.append(f"按名额将定为{STAR_NAMES[outcome.stars]}：{outcome.reason}")
        if reasons:
            near.append({"org": card.org.name, "org_id": card.org_id, "reasons": reasons})
    polls = db.session.scalars(sa.select(Poll).where(Poll.period_id == period.id).order_by(Poll.id)).all()
    answered = respondent_counts([p.id for p in polls])
    minimum = body.get("poll", {}).get("min_answers", {})
    short = [{"poll_id": p.id, "title": p.title, "count": answered[p.id], "minimum": minimum.get(p.audience, 0)}
             for p in polls if answered[p.id] < minimum.get(p.audience, 0)]
    return {"ranking": [{"org_id": c.org_id, "org": c.org.name, "total": float(c.total),
                         "stars": c.final_stars if final else c.stars,
                         "grade": c.grade, "standards": {k: float(v) for k, v in c.standards.items()}} for c in cards],
            "distribution": distribution, "near": near, "short_polls": short, "overdue": overdue_wishes(cards),
            "orgs": len(cards)}


def overdue_wishes(cards: list[Scorecard]) -> dict[int, int]:
    """Wishes still waiting (unreviewed, unclaimed or in hand) past their due time, or for
    review past the review window, per org."""
    late = db.session.execute(sa.select(Org.path, sa.func.count()).join(Wish, Wish.grid_id == Org.id).where(
        Wish.overdue_clause(utcnow(), current_app.config["WISH_REVIEW_HOURS"])).group_by(Org.path)).all()
    return {card.org_id: sum(n for path, n in late if path.startswith(card.org.path)) for card in cards}


def _star_edge(card: Scorecard, body: dict) -> list[str]:
    """Standards within NEAR points below the star line."""
    if body["kind"] != "stars":
        return []
    line = Decimal(str(body["rules"]["star_threshold"]))
    titles_ = {s["code"]: s["title"] for s in body["standards"]}
    close = sorted((line - Decimal(v), code) for code, v in card.standards.items() if line - NEAR <= Decimal(v) < line)
    return [f"{titles_[code]}还差 {fmt(gap)} 分得星" for gap, code in close]


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


def poll_detail(card: Scorecard, row) -> dict:
    """How a poll criterion's points are made, for its page: the answer sheets per audience
    against the minimum sample, each mapped question's answers and rate, the pooled rate and
    the formula with its numbers. Counts and rates only: answers are anonymous, and no
    single answer is ever shown."""
    rule = card.period.rubric.body["poll"]
    inputs = row.inputs or {}
    minimum = rule["min_answers"]
    sheets = inputs.get("sheets", {})
    audiences = inputs.get("audience") or list(minimum)
    samples = [{"audience": AUDIENCE_LABELS[Audience(a)], "sheets": sheets.get(a, 0), "minimum": minimum.get(a, 0),
                "counted": sheets.get(a, 0) >= minimum.get(a, 0) and sheets.get(a, 0) > 0} for a in audiences]
    fed = inputs.get("questions", [])
    asked = {q.id: q for q in db.session.scalars(sa.select(PollQuestion).where(
        PollQuestion.id.in_([t["question_id"] for t in fed])))} if fed else {}
    questions = [{"text": asked[t["question_id"]].text if t["question_id"] in asked else "",
                  "poll": asked[t["question_id"]].poll.title if t["question_id"] in asked else "",
                  "audience": AUDIENCE_LABELS[Audience(t["audience"])], "answers": t["count"],
                  "rate": _pct(t["top_two"] / t["count"]) if t["count"] else None,
                  "weight": t["weight"]} for t in fed]
    share = inputs.get("satisfaction")
    most = row.max_points
    low, high = rule["low"], rule["high"]
    formula = f"得分 = {fmt(most)} × (满意率 − {_pct(low)}) ÷ ({_pct(high)} − {_pct(low)})"
    worked = None
    if share is not None:
        value = row.provisional if row.provisional is not None else row.computed_points
        if share >= high:
            worked = f"满意率 {_pct(share)} 不低于 {_pct(high)}：满分 {fmt(value)} 分"
        elif share <= low:
            worked = f"满意率 {_pct(share)} 不高于 {_pct(low)}：0 分"
        else:
            worked = f"{fmt(most)} × ({_pct(share)} − {_pct(low)}) ÷ {_pct(high - low)} = {fmt(value)} 分"
    return {"samples": samples, "questions": questions, "rate": _pct(share) if share is not None else None,
            "pooled": inputs.get("pooled", 0), "formula": formula, "worked": worked, "low": _pct(low),
            "high": _pct(high), "short": row.provisional is not None,
            "weighted": any(t["weight"] != 1 for t in fed)}
