"""Deduction kinds of the seed-004 rubrics: once, per count up to a cap ("每少1项扣1分"), one of
several alternatives of one clause ("不足扣1分,没有集中培训的扣2分"); how the rubric files are
checked, how the engine scores them, what the API takes for a manual entry, and the items
that the seed says count or exclude each other."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from backend.core.errors import Invalid
from backend.rating import deductions, engine, rubrics
from tests import test_rating
from tests.test_rating import card_url, start

D = Decimal
world = test_rating.world   # the same street, communities and people as the rating API tests


def item(rubric: str, code: str) -> dict:
    return rubrics.items_of(rubrics.files()[rubric])[code]


# --- the rubric files --------------------------------------------------------------------------

def _with_deductions(options: list) -> dict:
    body = test_rating._tiny()
    body["standards"][0]["criteria"][0]["deductions"] = options
    return body


@pytest.mark.parametrize(("options", "message"), [
    ([{"kind": "twice", "text": "x", "points": 1}], "A1 deduction 1: kind must be one of"),
    ([{"text": "x", "points": 1}, {"kind": "per_count", "text": "y", "points": 1}],
     "A1 deduction 2: a per_count deduction needs max_count"),
    ([{"kind": "per_count", "text": "y", "points": 1, "max_count": 1}], "A1 deduction 1: .*at least 2"),
    ([{"kind": "per_count", "text": "y", "points": 1, "max_count": 2.5}], "A1 deduction 1: .*whole number"),
    ([{"kind": "per_count", "text": "y", "points": 61, "max_count": 2}], "A1 deduction 1: .*at most 60"),
    ([{"text": "x", "points": 1, "max_count": 6}], "A1 deduction 1: a once deduction has no max_count"),
    ([{"kind": "one_of", "text": "x", "points": 2, "choices": [{"text": "a", "points": 1},
                                                                {"text": "b", "points": 2}]}],
     "A1 deduction 1: a one_of deduction has no points"),
    ([{"kind": "one_of", "text": "x", "choices": [{"text": "a", "points": 1}]}],
     "A1 deduction 1: a one_of deduction needs at least two choices"),
    ([{"kind": "one_of", "text": "x", "choices": [{"text": "a", "points": 1}, {"text": "b", "points": 61}]}],
     "A1 deduction 1: .*at most 60"),
    ([{"kind": "one_of", "text": "x", "choices": [{"text": "a", "points": 1}, {"points": 2}]}],
     "A1 deduction 1: each choice"),
    ([{"kind": "one_of", "text": "", "choices": [{"text": "a", "points": 1}, {"text": "b", "points": 2}]}],
     "A1 deduction 1: a deduction needs text"),
    ([{"text": "x", "points": 0}], "A1 deduction 1: .*more than 0"),
])
def test_deduction_items_are_checked_and_the_error_names_the_item(options, message):
    with pytest.raises(rubrics.RubricError, match=message):
        rubrics.validate(_with_deductions(options))


def test_a_well_formed_item_of_each_kind_passes():
    rubrics.validate(_with_deductions([
        {"text": "未进行摸底排查", "points": 1},
        {"kind": "per_count", "text": "大讲堂未达到“6有”标准", "points": 1, "max_count": 6, "unit": "项"},
        {"kind": "one_of", "text": "班子成员集中培训", "choices": [{"text": "时间不足", "points": 1},
                                                           {"text": "没有集中培训", "points": 2}]},
    ]))


# --- the items the seed counts or makes exclusive ----------------------------------------------

@pytest.mark.parametrize(("rubric", "code", "kinds"), [
    # 新时代“三新”大讲堂未依据“6有”标准建设,每少1项扣1分 — up to the six.
    ("zhengxian-community", "C5.1", ["once", "once", "per_count"]),
    # 班子成员集中学习培训时间不足扣1分,没有集中培训的扣2分.
    ("zhengxian-community", "C3.2", ["once", "one_of", "once"]),
    # 班子长期不健全不得分;班子健全但未吸纳…得1分.
    ("zhengxian-community", "C2.1", ["one_of"]),
    ("zhengxian-community", "C4.2", ["one_of"]),
    ("zhengxian-community", "C4.3", ["one_of"]),
    # 党员干部没有发挥表率作用的有1名扣1分,扣完为止.
    ("zhengxian-liangxin", "L3.4", ["per_count"]),
    # 党员大会、支委会、党小组会、党课有一项不符合规定的扣1分.
    ("zhengxian-liangxin", "L4.1", ["per_count"]),
    # 民主评议党员工作不符合要求的扣2分,未开展的不得分.
    ("zhengxian-liangxin", "L4.2", ["one_of"]),
    # “主题党日”活动记录不全的扣2分,未组织的不得分.
    ("zhengxian-liangxin", "L4.4", ["one_of"]),
    # 上述制度有一项未建立的扣1分,…否则该项不得分.
    ("zhengxian-liangxin", "L7.1", ["one_of"]),
    # 活动场所未达到“六有”标准的,每少1项扣1分.
    ("zhengxian-liangxin", "L7.2", ["once", "per_count", "once"]),
])
def test_the_seeds_counts_and_alternatives_have_their_kind(rubric, code, kinds):
    assert [deductions.kind_of(d) for d in item(rubric, code)["deductions"]] == kinds


@pytest.mark.parametrize("rubric", ["zhengxian-community", "zhengxian-liangxin"])
def test_a_method_that_counts_has_a_per_count_deduction(rubric):
    """Whatever the method says is counted ("每少1项", "有1名", "有一项") is scored by a count."""
    for code, criterion in rubrics.items_of(rubrics.files()[rubric]).items():
        method = criterion.get("method", "")
        if any(words in method for words in ("每少1项", "有1名", "有一项不符合")):
            assert any(deductions.kind_of(d) == "per_count" for d in criterion["deductions"]), code


#: 分值 of every item of seed 004's annex tables (C7.5 is the product's: the seed's C7 items add
#: up to 19 of the category's 24).
SEED_POINTS = {
    "zhengxian-community": {
        "C1.1": 2, "C1.2": 2, "C1.3": 2, "C1.4": 4, "C2.1": 2, "C2.2": 2, "C2.3": 2, "C3.1": 3, "C3.2": 3,
        "C3.3": 2, "C3.4": 4, "C3.5": 3, "C3.6": 4, "C4.1": 5, "C4.2": 2, "C4.3": 2, "C4.4": 3, "C5.1": 5,
        "C5.2": 2, "C5.3": 2, "C5.4": 3, "C6.1": 6, "C6.2": 3, "C6.3": 5, "C7.1": 5, "C7.2": 4, "C7.3": 6,
        "C7.4": 4, "C7.5": 5, "C8.1": 3},
    "zhengxian-liangxin": {
        "L1.1": 10, "L1.2": 5, "L1.3": 5, "L2.1": 3, "L2.2": 2, "L2.3": 5, "L2.4": 5, "L3.1": 5, "L3.2": 4,
        "L3.3": 3, "L3.4": 3, "L4.1": 4, "L4.2": 4, "L4.3": 4, "L4.4": 4, "L4.5": 4, "L5.1": 5, "L5.2": 5,
        "L6.1": 3, "L6.2": 3, "L6.3": 3, "L7.1": 3, "L7.2": 5, "L7.3": 3},
}


@pytest.mark.parametrize("rubric", sorted(SEED_POINTS))
def test_items_carry_the_seeds_points(rubric):
    items = rubrics.items_of(rubrics.files()[rubric])
    assert {code: c["max_points"] for code, c in items.items()} == SEED_POINTS[rubric]
    assert items.get("C7.5", {"supplemented": True})["supplemented"]


def test_wording_follows_the_seeds():
    wuhua = rubrics.items_of(rubrics.files()["wuhua-2019"])
    assert wuhua["G1"]["title"].startswith("街道办事处党委—社区党总支—网格党支部—功能党小组")
    assert "定岗定责定人" in wuhua["G4"]["title"]
    assert all(words in wuhua["T3"]["title"] for words in ("请示报告", "请休假", "固定学习日"))
    # The 远程教育 deduction applies only where the standard does (仅限村改居社区).
    assert item("zhengxian-community", "C3.2")["deductions"][2]["text"].endswith("(仅限村改居社区)")


# --- how the engine scores them ----------------------------------------------------------------

@pytest.mark.parametrize(("rubric", "code", "ticks", "points", "says"), [
    ("zhengxian-community", "C5.1", [{"index": 2, "count": 3}], "2.00",
     "新时代“三新”大讲堂未依据“6有”标准建设（3 项） −3 → 2/5 分"),
    ("zhengxian-community", "C5.1", [0, {"index": 2, "count": 6}], "0.00", "（6 项） −6 → 0/5 分"),
    ("zhengxian-community", "C3.2", [{"index": 1, "choice": 1}], "1.00",
     "基层党组织班子成员集中学习培训：没有集中培训的 −2 → 1/3 分"),
    ("zhengxian-community", "C3.2", [0, {"index": 1, "choice": 0}], "1.00", "→ 1/3 分"),
    ("zhengxian-community", "C3.2", [], "3.00", "无扣分项 → 3/3 分"),
    ("zhengxian-liangxin", "L3.4", [{"index": 0, "count": 2}], "1.00", "（2 名） −2"),
    ("zhengxian-liangxin", "L4.1", [{"index": 0, "count": 4}], "0.00", "→ 0/4 分"),
    ("zhengxian-liangxin", "L7.1", [{"index": 0, "choice": 2}], "1.00", "其他保障"),
    ("zhengxian-liangxin", "L7.2", [{"index": 1, "count": 2}, 2], "2.00", "→ 2/5 分"),
])
def test_the_engine_scores_each_kind(rubric, code, ticks, points, says):
    criterion = item(rubric, code)
    computed = engine.deduction_points(criterion, D(str(criterion["max_points"])), ticks)
    assert computed.points == D(points) and says in computed.explanation
    assert computed.inputs["by"] == "deductions"


@pytest.mark.parametrize(("given", "read"), [
    ([2], [{"index": 2, "count": 1}]),                           # an index is one instance
    ([{"index": 2, "count": 0}, 1], [1]),                         # a count of 0 is no tick
    ([1, 1, {"index": 1}], [1]),                                  # the same tick twice counts once
    ([{"index": 2, "count": 6}, 0], [0, {"index": 2, "count": 6}]),   # sorted by index
])
def test_ticks_are_read_into_one_form(given, read):
    assert deductions.read(item("zhengxian-community", "C5.1"), given) == read


@pytest.mark.parametrize(("code", "given", "error"), [
    ("C5.1", [{"index": 2, "count": 7}], "deduction_count_out_of_range"),
    ("C5.1", [{"index": 0, "count": 2}], "deduction_count_out_of_range"),
    ("C5.1", [{"index": 3}], "unknown_deduction"),
    ("C5.1", [{"index": 0, "choice": 0}], "unknown_deduction"),
    ("C5.1", [{"index": 2, "count": 2}, {"index": 2, "count": 3}], "deduction_repeated"),
    ("C3.2", [1], "deduction_choice_required"),
    ("C3.2", [{"index": 1, "choice": 2}], "unknown_deduction"),
    ("C3.2", [{"index": 1, "choice": 0}, {"index": 1, "choice": 1}], "deduction_repeated"),
    ("C3.2", [-1], "unknown_deduction"),
])
def test_ticks_an_item_does_not_take_are_refused(code, given, error):
    with pytest.raises(Invalid) as refused:
        deductions.read(item("zhengxian-community", code), given)
    assert refused.value.code == error and refused.value.fields["deductions"]


def test_items_of_a_version_stored_before_kinds_are_once():
    old = copy.deepcopy(item("zhengxian-community", "C1.1"))
    assert all("kind" not in d for d in old["deductions"])
    assert engine.deduction_points(old, D(2), deductions.read(old, [1, 2])).points == D(0)


# --- the API -----------------------------------------------------------------------------------

def test_counts_and_choices_through_the_api(client, world):
    orgs, _, headers = world
    period = start(client, world, rubric="zhengxian-community")
    url = card_url(period, orgs["a"])

    def put(code, body):
        return client.put(f"{url}/criteria/{code}", headers=headers["sec_a"], json={"note": "对照标准自查", **body})

    def row(response, code):
        return next(c for c in response.get_json()["criteria"] if c["code"] == code)

    counted = put("C5.1", {"deductions": [{"index": 2, "count": 3}]})
    assert counted.status_code == 200, counted.get_json()
    assert row(counted, "C5.1")["points"] == 2 and row(counted, "C5.1")["deductions"] == [{"index": 2, "count": 3}]
    assert row(counted, "C5.1")["inputs"] == {"by": "deductions", "lost": 3.0}
    # What the API gives back can be sent again as it is.
    again = put("C5.1", {"deductions": row(counted, "C5.1")["deductions"] + [0]})
    assert row(again, "C5.1")["points"] == 0 and row(again, "C5.1")["deductions"] == [0, {"index": 2, "count": 3}]
    chosen = put("C3.2", {"deductions": [0, {"index": 1, "choice": 1}]})
    assert row(chosen, "C3.2")["points"] == 0 and "没有集中培训的 −2" in row(chosen, "C3.2")["explanation"]
    # Points given with ticks stand (a judgement the method allows); the ticks are the reasons.
    judged = put("C3.5", {"points": 0.5, "deductions": [0]})
    assert row(judged, "C3.5")["points"] == 0.5 and row(judged, "C3.5")["inputs"] == {"by": "points"}
    assert row(judged, "C3.5")["explanation"] == "扣分：未建立困难党员台账 −1；评定 0.5/3 分"
    # …but never above what the ticks leave.
    above = put("C3.5", {"points": 2.5, "deductions": [0]})
    assert above.status_code == 422 and above.get_json()["error"]["fields"]["points"] == ["按所选扣分项最多 2 分"]

    for body, code, status in (
            ({"deductions": [{"index": 2, "count": 7}]}, "deduction_count_out_of_range", 422),
            ({"deductions": [1]}, "deduction_choice_required", 422),
            ({"deductions": [{"count": 2}]}, "validation_error", 422),
            ({"deductions": ["2"]}, "validation_error", 422)):
        refused = put("C3.2" if code == "deduction_choice_required" else "C5.1", body)
        assert refused.status_code == status and refused.get_json()["error"]["code"] == code, refused.get_json()
    card = client.get(url, headers=headers["sec_a"]).get_json()
    assert row_of(card, "C5.1")["points"] == 0 and card["total"] == sum(c["points"] for c in card["criteria"])


def row_of(card: dict, code: str) -> dict:
    return next(c for c in card["criteria"] if c["code"] == code)


def test_openapi_describes_a_tick(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    tick = spec["components"]["schemas"]["ManualScore"]["properties"]["deductions"]["items"]
    assert [choice["type"] for choice in tick["oneOf"]] == ["integer", "object"]
