"""Pure rating rules: working-day deadlines and star quotas (seed 000, 三). No database."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.core.workdays import add_working_days, is_working_day, parse_days
from backend.rating.quotas import Candidate, apply_quotas

QUOTAS = [(5, 0.15), (4, 0.30)]
D = date.fromisoformat
NEW_YEAR_2027 = frozenset({D("2027-01-01"), D("2027-01-02"), D("2027-01-03")})


# --- working days -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "holidays", "extra", "expected"),
    [
        (D("2026-12-04"), frozenset(), frozenset(), True),  # Friday
        (D("2026-12-05"), frozenset(), frozenset(), False),  # Saturday
        (D("2026-12-06"), frozenset(), frozenset(), False),  # Sunday
        (D("2027-01-01"), NEW_YEAR_2027, frozenset(), False),  # holiday on a Friday
        (D("2026-12-05"), frozenset(), frozenset({D("2026-12-05")}), True),  # make-up Saturday
        (D("2026-12-05"), frozenset({D("2026-12-05")}), frozenset({D("2026-12-05")}), False),
    ],
    ids=["weekday", "saturday", "sunday", "holiday", "make-up-saturday", "holiday-beats-make-up"],
)
def test_is_working_day(day, holidays, extra, expected):
    assert is_working_day(day, holidays, extra) is expected


@pytest.mark.parametrize(
    ("start", "count", "holidays", "extra", "expected"),
    [
        (D("2026-12-04"), 1, frozenset(), frozenset(), D("2026-12-07")),
        (D("2026-12-03"), 3, frozenset(), frozenset(), D("2026-12-08")),
        (D("2026-12-05"), 1, frozenset(), frozenset(), D("2026-12-07")),
        (D("2026-12-31"), 1, NEW_YEAR_2027, frozenset(), D("2027-01-04")),
        (D("2026-12-04"), 1, frozenset(), frozenset({D("2026-12-05")}), D("2026-12-05")),
        (D("2026-12-04"), 15, frozenset(), frozenset(), D("2026-12-25")),
        (D("2026-12-18"), 15, NEW_YEAR_2027, frozenset(), D("2027-01-11")),
        (D("2026-12-18"), 15, NEW_YEAR_2027, frozenset({D("2027-01-09")}), D("2027-01-09")),
    ],
    ids=[
        "friday-to-monday",
        "across-weekend",
        "start-on-weekend",
        "across-new-year",
        "make-up-saturday",
        "appeal-15-days",
        "appeal-15-days-across-new-year",
        "appeal-15-days-with-make-up-saturday",
    ],
)
def test_add_working_days(start, count, holidays, extra, expected):
    assert add_working_days(start, count, holidays, extra) == expected


@pytest.mark.parametrize("count", [0, -1])
def test_add_working_days_needs_a_positive_count(count):
    with pytest.raises(ValueError, match="at least 1"):
        add_working_days(D("2026-12-04"), count)


def test_parse_days():
    assert parse_days(["2027-01-01", "2027-01-02", "2027-01-01"]) == frozenset({D("2027-01-01"), D("2027-01-02")})
    assert parse_days([]) == frozenset()


@pytest.mark.parametrize(
    ("values", "named"),
    [
        (["2027-01-01", "2027-13-01"], "'2027-13-01'"),
        (["2027-02-30"], "'2027-02-30'"),
        (["tomorrow"], "'tomorrow'"),
        ([""], "''"),
        ([D("2027-01-01")], "datetime.date(2027, 1, 1)"),
    ],
    ids=["month-13", "february-30", "word", "empty", "toml-date-not-string"],
)
def test_parse_days_names_the_bad_value(values, named):
    with pytest.raises(ValueError, match=re.escape(f"invalid date {named}")):
        parse_days(values)


# --- quotas -----------------------------------------------------------------------------


def candidate(org_id: int, total: str, stars: int, weakest: str = "16.0") -> Candidate:
    """An org whose standard points add up to `total` with `weakest` as its lowest standard."""
    weak, rest = Decimal(weakest), Decimal(total) - Decimal(weakest)
    return Candidate(
        org_id=org_id,
        name=f"社区{org_id}",
        total=Decimal(total),
        stars=stars,
        standards={"G": weak, "R": rest / 4, "T": rest / 4, "S": rest / 4, "O": rest / 4},
    )


def ranked_field(earned: list[int]) -> list[Candidate]:
    """Orgs in ranking order: org 1 has the highest total, each next one half a point less."""
    return [candidate(i, str(Decimal(100) - Decimal(i) / 2), stars) for i, stars in enumerate(earned, start=1)]


@pytest.mark.parametrize(
    ("earned", "expected", "capped"),
    [
        ([5] * 2 + [4] * 3 + [3] * 2, {5: 1, 4: 2, 3: 4}, 3),
        ([5] * 7, {5: 1, 4: 2, 3: 4}, 6),
        ([5] * 5 + [4] * 6 + [3] * 9, {5: 3, 4: 6, 3: 11}, 4),
        ([5] * 20, {5: 3, 4: 6, 3: 11}, 17),
        ([5] * 3 + [4] * 6 + [3] * 11, {5: 3, 4: 6, 3: 11}, 0),
        ([5] * 8 + [4] * 10 + [3] * 22, {5: 6, 4: 12, 3: 22}, 2),
        ([5] * 40, {5: 6, 4: 12, 3: 22}, 34),
        ([3] * 6 + [2] * 10 + [1] * 4, {3: 6, 2: 10, 1: 4}, 0),
        ([5] + [3] * 5, {4: 1, 3: 5}, 1),
    ],
    ids=[
        "7-orgs",
        "7-orgs-all-five-star",
        "20-orgs",
        "20-orgs-all-five-star",
        "20-orgs-within-quota",
        "40-orgs",
        "40-orgs-all-five-star",
        "nobody-above-three-stars",
        "6-orgs-no-five-star-place",
    ],
)
def test_quota_sizes(earned, expected, capped):
    outcomes = apply_quotas(ranked_field(earned), QUOTAS)
    assert Counter(o.stars for o in outcomes) == expected
    assert sum(o.capped for o in outcomes) == capped
    # The orgs that keep their stars are the ones with the higher totals.
    assert [o.stars for o in outcomes] == sorted((o.stars for o in outcomes), reverse=True)
    assert all((o.reason is None) is (not o.capped) for o in outcomes)


@pytest.mark.parametrize(
    ("earned", "quota_texts"),
    [
        ([5] * 7, ["五星名额 1 个（7 个组织 × 15%）", "四星名额 2 个（7 个组织 × 30%）"]),
        ([5] * 20, ["五星名额 3 个（20 个组织 × 15%）", "四星名额 6 个（20 个组织 × 30%）"]),
        ([5] * 40, ["五星名额 6 个（40 个组织 × 15%）", "四星名额 12 个（40 个组织 × 30%）"]),
        ([5] + [3] * 5, ["五星名额 0 个（6 个组织 × 15%）"]),
    ],
    ids=["7-orgs", "20-orgs", "40-orgs", "6-orgs"],
)
def test_reasons_name_the_quota(earned, quota_texts):
    reasons = " ".join(o.reason for o in apply_quotas(ranked_field(earned), QUOTAS) if o.capped)
    for text in quota_texts:
        assert text in reasons


def test_reason_of_an_org_below_the_cut_off():
    outcomes = apply_quotas(ranked_field([5] * 5 + [3] * 15), QUOTAS)
    assert outcomes[4].reason == (
        "受五星名额限制降为四星：五星名额 3 个（20 个组织 × 15%），本组织总分 97.5 分，"
        "在 5 个拟评五星的组织中排第 5 名，总分低于第 3 名（98.5 分）。"
    )


def test_org_capped_twice():
    outcomes = apply_quotas(ranked_field([5] * 7), QUOTAS)
    last = outcomes[-1]
    assert (last.stars_earned, last.stars, last.capped) == (5, 3, True)
    assert last.reason == (
        "受五星名额限制降为四星：五星名额 1 个（7 个组织 × 15%），本组织总分 96.5 分，"
        "在 7 个拟评五星的组织中排第 7 名，总分低于第 1 名（99.5 分）。"
        "受四星名额限制降为三星：四星名额 2 个（7 个组织 × 30%），本组织总分 96.5 分，"
        "在 6 个拟评四星的组织中排第 6 名，总分低于第 2 名（98.5 分）。"
    )
    # The runner-up is capped from five stars but keeps four.
    assert (outcomes[1].stars, outcomes[1].capped) == (4, True)
    assert "降为三星" not in outcomes[1].reason


def tie_field(org_3: tuple[str, str], org_4: tuple[str, str]) -> list[Candidate]:
    """20 orgs; orgs 3 and 4 compete for the third and last five-star place."""
    orgs = [candidate(1, "98", 5), candidate(2, "97", 5)]
    orgs += [candidate(3, org_3[0], 5, org_3[1]), candidate(4, org_4[0], 5, org_4[1])]
    orgs += [candidate(i, "80", 3) for i in range(5, 21)]
    return orgs


@pytest.mark.parametrize("reverse", [False, True], ids=["input-in-id-order", "input-reversed"])
@pytest.mark.parametrize(
    ("org_3", "org_4", "loser", "explanation"),
    [
        (
            ("96", "17.0"),
            ("96", "17.5"),
            3,
            "在 4 个拟评五星的组织中排第 4 名，与第 3 名总分相同，最低一项标准得分 17.0 低于 17.5。",
        ),
        (
            ("96", "17.5"),
            ("96", "17.5"),
            4,
            "在 4 个拟评五星的组织中排第 4 名，与第 3 名总分相同、最低一项标准得分同为 17.5，"
            "按登记先后排序，组织编号 4 晚于 3。",
        ),
        (
            ("95.5", "19.0"),
            ("96", "16.0"),
            3,
            "在 4 个拟评五星的组织中排第 4 名，总分低于第 3 名（96.0 分）。",
        ),
    ],
    ids=["tie-decided-by-weakest-standard", "full-tie-decided-by-org-id", "total-decides-before-balance"],
)
def test_tie_at_the_five_star_cut_off(org_3, org_4, loser, explanation, reverse):
    orgs = tie_field(org_3, org_4)
    if reverse:
        orgs.reverse()
    by_org = {o.org_id: o for o in apply_quotas(orgs, QUOTAS)}
    winner = 7 - loser
    assert (by_org[winner].stars, by_org[winner].capped) == (5, False)
    assert (by_org[loser].stars, by_org[loser].capped) == (4, True)
    assert by_org[loser].reason.startswith("受五星名额限制降为四星：五星名额 3 个（20 个组织 × 15%）")
    assert by_org[loser].reason.endswith(explanation)


def test_output_keeps_the_input_order():
    orgs = ranked_field([5] * 10 + [4] * 10)
    shuffled = orgs[7:] + orgs[:7]
    assert [o.org_id for o in apply_quotas(shuffled, QUOTAS)] == [c.org_id for c in shuffled]


@pytest.mark.parametrize(("orgs", "share", "places"), [(20, 0.15, 3), (100, 0.29, 29), (100, 0.57, 57), (6, 0.15, 0)])
def test_quota_floor_is_exact(orgs, share, places):
    outcomes = apply_quotas(ranked_field([5] * orgs), [(5, share)])
    assert sum(o.stars == 5 for o in outcomes) == places


def test_level_without_quota_is_unlimited():
    outcomes = apply_quotas(ranked_field([5] * 20), [(5, 0.15)])
    assert Counter(o.stars for o in outcomes) == {5: 3, 4: 17}


@pytest.mark.parametrize(
    ("quotas", "message"),
    [
        ([(5, 0.15), (5, 0.2)], "same level"),
        ([(6, 0.15)], "1 to 5"),
        ([(0, 0.15)], "1 to 5"),
        ([(5, 1.5)], "between 0 and 1"),
        ([(5, -0.1)], "between 0 and 1"),
        ([(5, float("nan"))], "between 0 and 1"),
    ],
)
def test_invalid_quotas(quotas, message):
    with pytest.raises(ValueError, match=message):
        apply_quotas(ranked_field([5, 4]), quotas)


@pytest.mark.parametrize(
    ("orgs", "message"),
    [
        ([candidate(1, "90", 5), candidate(1, "80", 4)], "unique"),
        ([candidate(1, "90", 6)], "0 to 5"),
        ([Candidate(1, "社区1", Decimal("90"), 5, {})], "no standard scores"),
    ],
    ids=["duplicate-org-id", "six-stars", "no-standards"],
)
def test_invalid_candidates(orgs, message):
    with pytest.raises(ValueError, match=message):
        apply_quotas(orgs, QUOTAS)


# --- quota properties -------------------------------------------------------------------

# Few distinct points so that ties on the total and on the weakest standard are common.
points = st.sampled_from([Decimal(p) for p in ("14", "16", "17.5", "18", "20")])


@st.composite
def fields(draw):
    size = draw(st.integers(min_value=0, max_value=40))
    org_ids = draw(st.lists(st.integers(1, 10_000), min_size=size, max_size=size, unique=True))
    orgs = []
    for org_id in org_ids:
        standards = {code: draw(points) for code in "GRTSO"}
        stars = draw(st.integers(0, 5))
        orgs.append(Candidate(org_id, f"社区{org_id}", sum(standards.values()), stars, standards))
    return orgs


quota_lists = st.dictionaries(st.integers(1, 5), st.sampled_from([0, 0.1, 0.15, 0.3, 0.5, 1]), max_size=5).map(
    lambda quotas: list(quotas.items())
)


@given(orgs=fields(), quotas=quota_lists, data=st.data())
def test_quota_properties(orgs, quotas, data):
    outcomes = apply_quotas(orgs, quotas)
    stars = Counter(o.stars for o in outcomes)
    for level, share in quotas:
        assert stars[level] <= int(Decimal(str(share)) * len(orgs))
    for org, outcome in zip(orgs, outcomes, strict=True):
        assert outcome.org_id == org.org_id
        assert outcome.stars_earned == org.stars
        assert outcome.stars <= outcome.stars_earned
        assert outcome.capped is (outcome.stars < outcome.stars_earned)
        assert (outcome.reason is not None) is outcome.capped

    shuffled = data.draw(st.permutations(orgs))
    by_org = {o.org_id: o for o in outcomes}
    assert sorted(apply_quotas(shuffled, quotas), key=lambda o: o.org_id) == sorted(
        by_org.values(), key=lambda o: o.org_id
    )
