"""Star quotas of a rating campaign (seed 000, 三(一)): in principle at most 15 % of the rated
orgs may be five-star and at most 30 % four-star.

A quota lets floor(share × number of orgs in the campaign) orgs hold its level. Levels are
processed from the highest down. The orgs at a level beyond its limit drop one level and then
compete at that level too, so an org can be capped more than once (5 → 4 → 3). Levels without a
quota are unlimited.

Tie-break rule. Within a level, orgs are ranked best first by:
1. total points, higher first;
2. then the weakest standard (the lowest points among its standards), higher first: of two orgs
   with the same total the more balanced one wins;
3. then org id, lower first: the org registered earlier wins.
Org ids are unique, so this is a total order and the outcome does not depend on the input order.

Exceptions. The quotas hold 原则上 (in principle): the street may record an exception for an
org, with its reason. An excepted org keeps the stars it earned and takes no place: the
places go to the others in the usual order, so an exception never costs another org its level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

STAR_NAMES = {0: "无星级", 1: "一星", 2: "二星", 3: "三星", 4: "四星", 5: "五星"}


@dataclass(frozen=True)
class Candidate:
    org_id: int
    name: str
    total: Decimal
    stars: int
    standards: dict[str, Decimal]
    #: The street recorded a quota exception for this org.
    exempt: bool = False

    @property
    def weakest(self) -> Decimal:
        return min(self.standards.values())


@dataclass(frozen=True)
class Outcome:
    org_id: int
    stars_earned: int
    stars: int
    capped: bool
    reason: str | None


def places(share: float, orgs: int) -> int:
    """How many of `orgs` may hold a level whose quota is `share`: floor(share × orgs)."""
    # Decimal of the written share: in floats 100 × 0.29 is 28.999999999999996, one place short.
    return math.floor(Decimal(str(share)) * orgs)


def place_note(level: int, share: float, orgs: int) -> str:
    """How the places of a level come about, in words: "五星名额 0 个：3 个组织 × 15% = 0.45，
    向下取整为 0（不足 1 个）"."""
    ratio = Decimal(str(share))
    exact = ratio * orgs
    limit = places(share, orgs)
    text = f"{STAR_NAMES[level]}名额 {limit} 个：{orgs} 个组织 × {_plain(ratio * 100)}% = {_plain(exact)}"
    if exact == limit:
        return text
    return text + f"，向下取整为 {limit}" + ("（不足 1 个）" if not limit else "")


def apply_quotas(candidates: list[Candidate], quotas: list[tuple[int, float]]) -> list[Outcome]:
    """Stars after quotas, one outcome per candidate in the order given."""
    _check(candidates, quotas)
    stars = {c.org_id: c.stars for c in candidates}
    reasons: dict[int, list[str]] = {c.org_id: [] for c in candidates}
    for level, share in sorted(quotas, reverse=True):
        limit = places(share, len(candidates))
        ranked = sorted((c for c in candidates if stars[c.org_id] == level and not c.exempt), key=_rank_key)
        if len(ranked) <= limit:
            continue
        cutoff = ranked[limit - 1] if limit else None
        for rank, candidate in enumerate(ranked[limit:], start=limit + 1):
            stars[candidate.org_id] = level - 1
            reasons[candidate.org_id].append(
                _reason(level, limit, len(candidates), Decimal(str(share)), rank, len(ranked), candidate, cutoff)
            )
    return [
        Outcome(
            org_id=c.org_id,
            stars_earned=c.stars,
            stars=stars[c.org_id],
            capped=bool(reasons[c.org_id]),
            reason="".join(reasons[c.org_id]) or None,
        )
        for c in candidates
    ]


def _rank_key(candidate: Candidate) -> tuple[Decimal, Decimal, int]:
    return (-candidate.total, -candidate.weakest, candidate.org_id)


def _reason(
    level: int,
    limit: int,
    orgs: int,
    ratio: Decimal,
    rank: int,
    contenders: int,
    candidate: Candidate,
    cutoff: Candidate | None,
) -> str:
    name = STAR_NAMES[level]
    text = (
        f"受{name}名额限制降为{STAR_NAMES[level - 1]}："
        f"{name}名额 {limit} 个（{orgs} 个组织 × {_plain(ratio * 100)}%），"
        f"本组织总分 {_points(candidate.total)} 分，在 {contenders} 个拟评{name}的组织中排第 {rank} 名"
    )
    if cutoff is None:
        return text + "。"
    if candidate.total < cutoff.total:
        return text + f"，总分低于第 {limit} 名（{_points(cutoff.total)} 分）。"
    if candidate.weakest < cutoff.weakest:
        return (
            text + f"，与第 {limit} 名总分相同，"
            f"最低一项标准得分 {_points(candidate.weakest)} 低于 {_points(cutoff.weakest)}。"
        )
    return (
        text + f"，与第 {limit} 名总分相同、最低一项标准得分同为 {_points(candidate.weakest)}，"
        f"按登记先后排序，组织编号 {candidate.org_id} 晚于 {cutoff.org_id}。"
    )


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _points(value: Decimal) -> str:
    # One decimal place at least, so that 17 and 17.5 read alike in the ledger.
    normal = value.normalize()
    return f"{normal:.1f}" if normal.as_tuple().exponent >= -1 else f"{normal:f}"


def _check(candidates: list[Candidate], quotas: list[tuple[int, float]]) -> None:
    levels = [level for level, _ in quotas]
    if len(set(levels)) != len(levels):
        raise ValueError(f"more than one quota for the same level: {levels}")
    for level, share in quotas:
        if level not in range(1, 6):
            raise ValueError(f"quota level must be 1 to 5, got {level}")
        if not 0 <= share <= 1:
            raise ValueError(f"quota share must be between 0 and 1, got {share}")
    org_ids = [c.org_id for c in candidates]
    if len(set(org_ids)) != len(org_ids):
        raise ValueError("org ids of the candidates must be unique")
    for c in candidates:
        if c.stars not in range(0, 6):
            raise ValueError(f"org {c.org_id}: stars must be 0 to 5, got {c.stars}")
        if not c.standards:
            raise ValueError(f"org {c.org_id}: no standard scores to break a tie with")
