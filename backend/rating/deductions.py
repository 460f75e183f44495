"""Deduction items of a manual criterion (扣分项): their three kinds, what a tick says, and
the points each tick loses.

A rubric item lists its deductions; each is of one kind:

- `once` (the default): the condition holds or not — "未进行摸底排查扣1分".
- `per_count`: `points` for each instance, counted up to `max_count` — "每少1项扣1分"; `unit`
  names what is counted (项, 名).
- `one_of`: alternatives of one clause, of which at most one applies — "班子成员集中学习培训时间
  不足扣1分，没有集中培训的扣2分"; its `choices` each have a text and points.

A tick is an index (a `once` item, or one instance of a `per_count` one), `{"index", "count"}`
or `{"index", "choice"}`. Ticks are kept in one canonical form, sorted by index: a bare index
for `once`, the object for the other two kinds, so a stored list can be sent back as it is.
"""

from __future__ import annotations

from decimal import Decimal

from backend.core.errors import Invalid

ONCE, PER_COUNT, ONE_OF = "once", "per_count", "one_of"
KINDS = (ONCE, PER_COUNT, ONE_OF)


def kind_of(option: dict) -> str:
    """The kind of a deduction item; rubric versions stored before kinds existed are `once`."""
    return option.get("kind", ONCE)


def _refuse(code: str, message: str) -> Invalid:
    return Invalid(message, code=code, fields={"deductions": [message]})


def _split(tick) -> tuple[int, int | None, int | None]:
    """(index, count, choice) of a tick in either form."""
    if isinstance(tick, dict):
        return tick["index"], tick.get("count"), tick.get("choice")
    return tick, None, None


def _one_of_tick(option: dict, index: int, count: int | None, choice: int | None) -> dict:
    if choice is None:
        raise _refuse("deduction_choice_required", f"“{option['text']}”请选择符合的一种情况")
    if not 0 <= choice < len(option["choices"]) or count not in (None, 1):
        raise _refuse("unknown_deduction", "扣分项不存在")
    return {"index": index, "choice": choice}


def _counted_tick(option: dict, index: int, count: int | None) -> int | dict | None:
    count = 1 if count is None else count
    most = option.get("max_count", 1) if kind_of(option) == PER_COUNT else 1
    if not 0 <= count <= most:
        unit = option.get("unit", "项")
        message = f"“{option['text']}”最多计 {most} {unit}" if most > 1 else f"“{option['text']}”只扣一次"
        raise _refuse("deduction_count_out_of_range", message)
    if not count:
        return None
    return {"index": index, "count": count} if kind_of(option) == PER_COUNT else index


def read(item: dict, given: list) -> list:
    """The canonical ticks of a request for rubric item `item`; 422 for an index the item does
    not have, a count beyond its cap, a one-of without its choice, or one item ticked two
    different ways. A count of 0 is no tick; the same tick twice counts once."""
    options = item.get("deductions") or []
    ticks: dict[int, int | dict] = {}
    for raw in given:
        index, count, choice = _split(raw)
        if not 0 <= index < len(options):
            raise _refuse("unknown_deduction", "扣分项不存在")
        option = options[index]
        if kind_of(option) == ONE_OF:
            tick = _one_of_tick(option, index, count, choice)
        elif choice is not None:
            raise _refuse("unknown_deduction", "扣分项不存在")
        else:
            tick = _counted_tick(option, index, count)
        if tick is not None and ticks.setdefault(index, tick) != tick:
            raise _refuse("deduction_repeated", f"“{option['text']}”只能填一次")
    return [ticks[i] for i in sorted(ticks)]


def lines(item: dict, ticks: list | None) -> list[tuple[str, Decimal]]:
    """(what applies, points lost) per tick, in the words of the rubric."""
    options = item.get("deductions") or []
    found = []
    for tick in ticks or []:
        index, count, choice = _split(tick)
        if index >= len(options):
            continue
        option = options[index]
        if kind_of(option) == ONE_OF:
            picked = option["choices"][choice]
            found.append((f"{option['text']}：{picked['text']}", Decimal(str(picked["points"]))))
        elif kind_of(option) == PER_COUNT:
            count = count or 1
            found.append((f"{option['text']}（{count} {option.get('unit', '项')}）",
                          Decimal(str(option["points"])) * count))
        else:
            found.append((option["text"], Decimal(str(option["points"]))))
    return found
