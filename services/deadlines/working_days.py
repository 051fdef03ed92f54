"""Working-day arithmetic for England and Wales (stub, grows below)."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[date]:
    # England and Wales share one list of bank holidays; subdiv ENG == WLS.
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def is_working_day(d: date) -> bool:
    return d.weekday() < 5 and d not in _bank_holidays(d.year)


def next_working_day(d: date) -> date:
    """The first working day strictly after ``d``."""
    d += timedelta(days=1)
    while not is_working_day(d):
        d += timedelta(days=1)
    return d
