"""One rule, two forms: a milestone's status as of a day, in the deadlines service's SQL
(store.EFFECTIVE_STATUS, for its lists, filters and gauges) and in Python
(shared.events.status_on, for the referrals service's copy of a schedule). Every
combination that matters is evaluated by PostgreSQL and compared."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from services.deadlines import store
from services.deadlines.rules import NEVER_BREACHED_RULES, RULES
from shared.events import MILESTONE_STATUS, status_on

pytestmark = pytest.mark.integration

TODAY = date(2026, 6, 10)
LAPSING = NEVER_BREACHED_RULES[0]
BREACHABLE = next(r.id for r in RULES if not r.never_breached)


def combinations() -> list[dict]:
    out = []
    for rule, status, met, target, adjusted in itertools.product(
            (LAPSING, BREACHABLE), MILESTONE_STATUS, (None, TODAY - timedelta(days=3)),
            (TODAY - timedelta(days=1), TODAY, TODAY + timedelta(days=1)), (False, True)):
        due = target - timedelta(days=14) if adjusted else target
        out.append({"rule": rule, "status": status, "met_on": met, "due_on": due,
                    "adjusted_due_on": target if adjusted else None,
                    "lapses": rule in NEVER_BREACHED_RULES})
    return out


def test_sql_and_python_agree_on_every_combination(infra):
    cases = combinations()
    with infra.connect("deadlines") as db:
        sql = db.execute(
            f"SELECT {store.EFFECTIVE_STATUS} AS status FROM (SELECT *, coalesce("
            "adjusted_due_on, due_on) AS target_on FROM unnest(%(rule)s::text[], "
            "%(status)s::text[], %(met)s::date[], %(due)s::date[], %(adjusted)s::date[]) "
            "WITH ORDINALITY AS u(rule, status, met_on, due_on, adjusted_due_on, n)) m "
            "ORDER BY m.n",
            {"rule": [c["rule"] for c in cases], "status": [c["status"] for c in cases],
             "met": [c["met_on"] for c in cases], "due": [c["due_on"] for c in cases],
             "adjusted": [c["adjusted_due_on"] for c in cases], "today": TODAY}).fetchall()
    assert len(sql) == len(cases) == 2 * len(MILESTONE_STATUS) * 2 * 3 * 2
    # as the event carries them (dates) and as the copy stores them (ISO 8601 text)
    as_text = [{k: v.isoformat() if isinstance(v, date) else v for k, v in c.items()}
               for c in cases]
    differ = [(c, row["status"], status_on(c, TODAY), status_on(t, TODAY))
              for c, t, row in zip(cases, as_text, sql, strict=True)
              if not row["status"] == status_on(c, TODAY) == status_on(t, TODAY)]
    assert differ == []
    # the grid reaches every outcome the rule has
    assert {row["status"] for row in sql} >= {"pending", "breached", "exception",
                                               "not_applicable", "met"}
