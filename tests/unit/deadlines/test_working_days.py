"""Working-day arithmetic: England and Wales bank holidays from the `holidays` library."""

from __future__ import annotations

from datetime import date, timedelta

import holidays
import pytest

from services.deadlines import working_days as wd


def test_england_and_wales_share_one_list() -> None:
    for year in range(2020, 2031):
        eng = set(holidays.country_holidays("GB", subdiv="ENG", years=year))
        wls = set(holidays.country_holidays("GB", subdiv="WLS", years=year))
        assert eng == wls
        assert wd.bank_holidays(year) == frozenset(eng)


@pytest.mark.parametrize(
    "d",
    [
        date(2026, 4, 3),  # Good Friday
        date(2026, 4, 6),  # Easter Monday
        date(2026, 5, 25),  # Spring bank holiday
        date(2026, 8, 31),  # Summer bank holiday (E&W: last Monday of August)
        date(2026, 12, 28),  # Boxing Day substitute (26 Dec 2026 is a Saturday)
        date(2027, 12, 27),  # Christmas substitute
        date(2027, 12, 28),  # Boxing Day substitute
        date(2028, 1, 3),  # New Year substitute
        date(2022, 9, 19),  # one-off: State Funeral of Queen Elizabeth II
        date(2023, 5, 8),  # one-off: Coronation
    ],
)
def test_bank_holidays_are_not_working_days(d: date) -> None:
    assert d.weekday() < 5
    assert not wd.is_working_day(d)


@pytest.mark.parametrize(
    "d",
    [
        date(2026, 1, 2),  # a Scottish holiday, a working day in England and Wales
        date(2026, 8, 3),  # Scottish summer holiday, not E&W
        date(2026, 3, 17),  # St Patrick's Day (Northern Ireland only)
        date(2026, 11, 30),  # St Andrew's Day (Scotland only)
    ],
)
def test_other_nations_holidays_are_working_days(d: date) -> None:
    assert wd.is_working_day(d)


def test_weekends() -> None:
    assert not wd.is_working_day(date(2026, 3, 7))  # Saturday
    assert not wd.is_working_day(date(2026, 3, 8))  # Sunday
    assert wd.is_working_day(date(2026, 3, 9))


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (date(2026, 3, 6), date(2026, 3, 9)),  # Fri -> Mon
        (date(2026, 4, 2), date(2026, 4, 7)),  # Thu before Easter -> Tue after
        (date(2025, 12, 24), date(2025, 12, 29)),  # Christmas Eve -> Mon 29 Dec
        (date(2027, 12, 24), date(2027, 12, 29)),  # substitutes 27, 28 Dec 2027
        (date(2027, 12, 31), date(2028, 1, 4)),  # 1 Jan 2028 Sat, substitute Mon 3 Jan
    ],
)
def test_next_working_day(start: date, expected: date) -> None:
    assert wd.next_working_day(start) == expected


def test_add_working_days_forward_and_back() -> None:
    assert wd.add_working_days(date(2026, 3, 20), 3) == date(2026, 3, 25)  # Fri + 3
    assert wd.add_working_days(date(2026, 4, 2), 3) == date(2026, 4, 9)  # over Easter
    assert wd.add_working_days(date(2026, 5, 25), -10) == date(2026, 5, 11)
    assert wd.add_working_days(date(2026, 4, 10), -5) == date(2026, 4, 1)
    assert wd.add_working_days(date(2026, 3, 7), 0) == date(2026, 3, 7)


def test_period_beginning_with_a_day() -> None:
    # Reg 15(2): 15 working days beginning with Mon 2 Mar 2026 end Fri 20 Mar.
    assert wd.nth_working_day_beginning_with(date(2026, 3, 2), 15) == date(2026, 3, 20)
    # Starting on a Saturday: day 1 is the Monday.
    assert wd.nth_working_day_beginning_with(date(2026, 3, 7), 1) == date(2026, 3, 9)
    assert wd.nth_working_day_beginning_with(date(2026, 3, 30), 15) == date(2026, 4, 21)
    with pytest.raises(ValueError):
        wd.nth_working_day_beginning_with(date(2026, 3, 2), 0)


def test_working_days_between() -> None:
    assert wd.working_days_between(date(2026, 3, 2), date(2026, 3, 9)) == 5
    assert wd.working_days_between(date(2026, 3, 9), date(2026, 3, 2)) == -5
    assert wd.working_days_between(date(2026, 4, 2), date(2026, 4, 9)) == 3


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2025, 12, 31), 2, date(2026, 2, 28)),
        (date(2027, 12, 31), 2, date(2028, 2, 29)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2027, 1, 4), -5, date(2026, 8, 4)),
        (date(2026, 11, 15), 3, date(2027, 2, 15)),
    ],
)
def test_add_months_clips_to_month_end(start: date, months: int, expected: date) -> None:
    assert wd.add_months(start, months) == expected


@pytest.mark.parametrize(
    ("deadline", "expected"),
    [
        (date(2026, 12, 24), date(2026, 12, 24)),  # before the window: unchanged
        (date(2026, 12, 25), date(2027, 1, 4)),  # 1 Jan 2027 Fri holiday, then weekend
        (date(2026, 12, 31), date(2027, 1, 4)),
        (date(2027, 1, 1), date(2027, 1, 4)),
        (date(2025, 12, 27), date(2026, 1, 2)),  # 2 Jan 2026 is a Friday, a working day
        (date(2027, 12, 30), date(2028, 1, 4)),  # 3 Jan 2028 is the New Year substitute
        (date(2027, 1, 2), date(2027, 1, 4)),  # a Saturday: next working day, r12(2)
        (date(2026, 5, 9), date(2026, 5, 11)),  # Saturday -> Monday, r12(2)
        (date(2026, 5, 25), date(2026, 5, 26)),  # Spring bank holiday -> Tuesday, r12(2)
        (date(2026, 8, 1), date(2026, 9, 1)),
        (date(2026, 8, 31), date(2026, 9, 1)),
        (date(2027, 8, 15), date(2027, 9, 1)),
        (date(2029, 8, 20), date(2029, 9, 3)),  # 1 Sep 2029 is a Saturday
        (date(2026, 7, 31), date(2026, 7, 31)),
        (date(2026, 9, 1), date(2026, 9, 1)),
    ],
)
def test_appeal_deadline_guidance(deadline: date, expected: date) -> None:
    assert wd.appeal_deadline_adjust(deadline) == expected


def test_every_day_of_a_decade_is_classified_consistently() -> None:
    d = date(2025, 1, 1)
    while d.year < 2035:
        nxt = wd.next_working_day(d)
        assert nxt > d and wd.is_working_day(nxt)
        assert all(not wd.is_working_day(d + timedelta(days=k)) for k in range(1, (nxt - d).days))
        d += timedelta(days=1)


def test_la_settings_from_dict_and_per_milestone_alerts() -> None:
    from services.deadlines.domain import LaSettings, Milestone, alert_schedule

    s = LaSettings.from_dict(
        {
            "next_working_day_receipt": True,
            "milestone_alert_offsets": {
                "advice": [{"kind": "approaching", "offset": -3}, {"kind": "due", "offset": 0}],
            },
        }
    )
    assert s.next_working_day_receipt
    assert LaSettings.from_dict(None) == LaSettings()
    advice = Milestone(
        "advice:health", "A2", "Reg 8(1)", date(2026, 3, 16), None, "pending", None, 0
    )
    # 3 working days before Mon 16 Mar 2026 = Wed 11 Mar; prefix "advice" matches.
    assert alert_schedule(advice, s) == [
        ("approaching", date(2026, 3, 11)),
        ("due", date(2026, 3, 16)),
    ]
    plan = Milestone(
        "final_plan", "A6", "Reg 13(2)", date(2026, 5, 25), date(2026, 6, 8), "exception", None, 14
    )
    # Default offsets, relative to the adjusted target 8 Jun 2026 (Mon): 10 working days
    # back = 22 May (25 May is a bank holiday), 5 back = 1 Jun; breach alert 9 Jun.
    assert alert_schedule(plan, s) == [
        ("approaching", date(2026, 5, 22)),
        ("approaching", date(2026, 6, 1)),
        ("due", date(2026, 6, 8)),
        ("breached", date(2026, 6, 9)),
    ]
    met = Milestone(
        "final_plan", "A6", "Reg 13(2)", date(2026, 5, 25), None, "met", date(2026, 5, 1), 0
    )
    assert alert_schedule(met, s) == []
