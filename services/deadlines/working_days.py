"""Working-day and calendar arithmetic for England and Wales.

Bank holidays come from the maintained ``holidays`` library, never a hand-typed list.
England and Wales share one list (``subdiv="ENG"`` and ``subdiv="WLS"`` are identical;
Scotland and Northern Ireland differ), so ``ENG`` stands for both.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from functools import lru_cache

import holidays

_ONE_DAY = timedelta(days=1)


@lru_cache(maxsize=256)
def bank_holidays(year: int) -> frozenset[date]:
    """Bank holidays of England and Wales in ``year`` (including substitute days)."""
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def is_working_day(d: date) -> bool:
    """Monday to Friday and not a bank holiday of England and Wales."""
    return d.weekday() < 5 and d not in bank_holidays(d.year)


def next_working_day(d: date) -> date:
    """The first working day strictly after ``d``."""
    d += _ONE_DAY
    while not is_working_day(d):
        d += _ONE_DAY
    return d


def working_day_on_or_after(d: date) -> date:
    """``d`` itself if it is a working day, else the next one."""
    return d if is_working_day(d) else next_working_day(d)


def previous_working_day(d: date) -> date:
    """The last working day strictly before ``d``."""
    d -= _ONE_DAY
    while not is_working_day(d):
        d -= _ONE_DAY
    return d


@lru_cache(maxsize=65536)
def add_working_days(d: date, n: int) -> date:
    """Move ``n`` working days from ``d`` (``d`` itself is never counted).

    ``n > 0`` goes forward, ``n < 0`` backward, ``n == 0`` returns ``d`` unchanged.
    Cached: every sweep and recompute asks the same few (date, offset) pairs again and again
    (the bank holidays of a year never change within a process).
    """
    step = next_working_day if n > 0 else previous_working_day
    for _ in range(abs(n)):
        d = step(d)
    return d


def nth_working_day_beginning_with(d: date, n: int) -> date:
    """Last day of a period of ``n`` working days *beginning with* ``d``.

    The statutory phrasing (e.g. Reg 15(2) "within 15 working days beginning with the day
    on which ...") counts ``d`` as day 1 when it is a working day.
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    return add_working_days(working_day_on_or_after(d), n - 1)


def working_days_between(start: date, end: date) -> int:
    """Working days in the half-open range ``(start, end]`` (negative if end < start)."""
    if end < start:
        return -working_days_between(end, start)
    count, d = 0, start
    while d < end:
        d += _ONE_DAY
        count += is_working_day(d)
    return count


def add_months(d: date, n: int) -> date:
    """Same day ``n`` calendar months later, clipped to the month's last day.

    31 Dec + 2 months = 28 Feb (29 Feb in a leap year); 29 Feb 2028 + 12 months = 28 Feb 2029.
    """
    month_index = d.year * 12 + (d.month - 1) + n
    year, month = divmod(month_index, 12)
    month += 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def appeal_deadline_adjust(d: date) -> date:
    """The end of a time limit for an appeal, Tribunal Procedure Rules (SI 2008/2699).

    r12(3): in a SEN case 25 Dec–1 Jan and August are not counted, so a limit ending in
    them ends on the first working day after 1 Jan, or of September. r12(2): a limit
    ending on a day that is not a working day ends on the next working day.
    """
    if (d.month == 12 and d.day >= 25) or (d.month == 1 and d.day == 1):
        year = d.year + 1 if d.month == 12 else d.year
        return next_working_day(date(year, 1, 1))
    if d.month == 8:
        return working_day_on_or_after(date(d.year, 9, 1))
    return working_day_on_or_after(d)
