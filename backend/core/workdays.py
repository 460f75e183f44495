"""Working-day arithmetic for deadlines such as the 15-working-day appeal window (seed 000, 三(二)3).

China's public holidays move every year and come with 调休: weekend days that become working
days to compensate. Neither can be computed, so both are passed in from configuration.
"""

from __future__ import annotations

from datetime import date, timedelta


def is_working_day(
    day: date,
    holidays: frozenset[date] = frozenset(),
    extra_workdays: frozenset[date] = frozenset(),
) -> bool:
    # A holiday wins over a make-up working day so that a contradictory configuration
    # lengthens a deadline rather than shortening it.
    if day in holidays:
        return False
    return day.weekday() < 5 or day in extra_workdays


def add_working_days(
    start: date,
    count: int,
    holidays: frozenset[date] = frozenset(),
    extra_workdays: frozenset[date] = frozenset(),
) -> date:
    """The date of the `count`-th working day after `start`; `start` itself is not counted."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    day = start
    remaining = count
    while remaining:
        day += timedelta(days=1)
        if is_working_day(day, holidays, extra_workdays):
            remaining -= 1
    return day


def parse_days(values: list[str]) -> frozenset[date]:
    days = set()
    for value in values:
        # TOML reads an unquoted 2027-01-01 as a date, which would otherwise fail with a TypeError
        # that does not say which entry is wrong.
        if not isinstance(value, str):
            raise ValueError(f"invalid date {value!r}: expected a string like '2027-01-01'")
        try:
            days.add(date.fromisoformat(value))
        except ValueError:
            raise ValueError(f"invalid date {value!r}: expected an ISO date like '2027-01-01'") from None
    return frozenset(days)
