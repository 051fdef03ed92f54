"""Timeliness figures of an LA for a calendar year, from the dates recorded on its cases.

Pure: no I/O. The definitions follow the DfE's SEN2 return (see
shared/docs/statutory-timescales.md, "National figures"): requests decided within 6 weeks,
new plans issued within 20 weeks, including and excluding cases with an exception, average
weeks to issue. Weeks are counted from the date the request was received.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

DECISION_LIMIT = timedelta(weeks=6)  # Reg 5(1)
PLAN_LIMIT = timedelta(weeks=20)  # Reg 13(2)
ONE_YEAR = timedelta(days=365)


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def timeliness(cases: Iterable[Mapping[str, Any]], steps: Iterable[Mapping[str, Any]],
               year: int) -> dict:
    """`cases`: {id, received_on}; `steps`: {case_id, seq, type, on_date}, any order.

    A case counts once per measure: its first decision to assess and its first final plan
    (amended plans are not new plans). A plan "has an exception" when an exception was
    started on the case before the plan was issued.
    """
    received = {str(c["id"]): c["received_on"] for c in cases}
    first: dict[tuple[str, str], Mapping[str, Any]] = {}
    exceptions: dict[str, list[date]] = {}
    for s in sorted(steps, key=lambda s: (str(s["case_id"]), s["seq"])):
        case_id = str(s["case_id"])
        if case_id not in received:
            continue
        if s["type"] == "exception_started":
            exceptions.setdefault(case_id, []).append(s["on_date"])
        else:
            first.setdefault((case_id, s["type"]), s)

    requests = sum(1 for d in received.values() if d.year == year)

    decided = [(cid, s) for (cid, t), s in first.items()
               if t == "decision_to_assess" and s["on_date"].year == year]
    decided_in_time = sum(1 for cid, s in decided
                          if s["on_date"] - received[cid] <= DECISION_LIMIT)
    to_assess = sum(1 for _, s in decided if (s.get("data") or {}).get("outcome") == "assess")

    plans = [(cid, s["on_date"] - received[cid], any(d <= s["on_date"]
                                                      for d in exceptions.get(cid, ())))
             for (cid, t), s in first.items()
             if t == "final_plan_issued" and s["on_date"].year == year]
    in_time = [p for p in plans if p[1] <= PLAN_LIMIT]
    without_exception = [p for p in plans if not p[2]]
    in_time_without = [p for p in without_exception if p[1] <= PLAN_LIMIT]
    weeks = [p[1].days / 7 for p in plans]

    return {
        "year": year,
        "requests_received": requests,
        "decisions_to_assess": {
            "made": len(decided),
            "to_assess": to_assess,
            "refused": len(decided) - to_assess,
            "within_6_weeks": decided_in_time,
            "within_6_weeks_percent": _percent(decided_in_time, len(decided)),
        },
        "plans_issued": {
            "issued": len(plans),
            "within_20_weeks": len(in_time),
            "within_20_weeks_percent": _percent(len(in_time), len(plans)),
            "excluding_exceptions": len(without_exception),
            "within_20_weeks_excluding_exceptions": len(in_time_without),
            "within_20_weeks_excluding_exceptions_percent": _percent(
                len(in_time_without), len(without_exception)),
            "over_20_weeks_under_a_year": sum(1 for p in plans if PLAN_LIMIT < p[1] < ONE_YEAR),
            "over_a_year": sum(1 for p in plans if p[1] >= ONE_YEAR),
            "average_weeks_to_issue": round(sum(weeks) / len(weeks), 1) if weeks else None,
        },
    }
